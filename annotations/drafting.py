"""The machine annotation loop of section 3.4.1 (pure Python, no Django).

One attempt: the ``drafter`` (vision) describes the lesions in free text; the ``structurer`` turns the
description into the 12-field caption (one repair round when its JSON is invalid); the ``diagnoser``
infers a diagnosis from the caption alone (appendix B, text only); the clinical judge compares it with
the sample's label. Exact, synonym, subclass or close parent within the first ``consistency_k``
answers is consistent.

Every LLM call carries a ``cache_salt`` naming the sample and the attempt: a re-run after a crash
gets the same answers from the cache (it never pays twice), while attempt 2 is a fresh draw, not a
replay of attempt 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from annotations.schema import FIELD_GUIDELINES, FIELDS, CaptionError, parse_caption
from evaluation.diagnosis import diagnosis_prompt, parse_diagnosis
from webapp.llm import JSONExtractionError, LLMError, LLMGateway, LLMResult, extract_json, user_message

PROMPT_VERSION = "draft-v1"
CONSISTENT_CATEGORIES = frozenset({"exact", "subclass", "parent_close"})
DIAGNOSIS_K = 3

DRAFTER_PROMPT = (
    "You are a dermatologist describing a clinical photograph for a teaching atlas. Describe every visible "
    "skin abnormality precisely: colour, body site, shape, primary and secondary lesion types, number, size, "
    "texture, border, surface, distribution and the surrounding skin. Describe only what is visible; do not "
    "name or suggest a diagnosis."
)


def structurer_prompt(description: str) -> str:
    guide = "\n".join(f'- "{name}": {FIELD_GUIDELINES[name]}' for name in FIELDS)
    return (
        "Turn this description of a skin image into a JSON object with exactly these 12 keys, in this order, "
        "every value a string (\"\" when the description says nothing about it). Do not add a diagnosis.\n"
        f"{guide}\n\nDescription:\n{description}\n\nReply with the JSON object only."
    )


class DraftingError(Exception):
    """A step could not produce usable output; ``reason`` is shown on the sample."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, result: LLMResult) -> None:
        if not result.cached:
            self.prompt_tokens += result.prompt_tokens
            self.completion_tokens += result.completion_tokens


@dataclass
class ConsistencyCheck:
    diagnoses: list[str]
    category: str
    rationale: str
    consistent: bool
    items: list[dict] = field(default_factory=list)


@dataclass
class Attempt:
    attempt: int
    description: str = ""
    caption: dict[str, str] | None = None
    caption_error: str = ""
    check: ConsistencyCheck | None = None
    usage: Usage = field(default_factory=Usage)
    models: dict[str, str] = field(default_factory=dict)

    @property
    def consistent(self) -> bool:
        return self.check is not None and self.check.consistent


def _call(gateway: LLMGateway, role: str, messages: list[dict], salt: str, usage: Usage | None) -> LLMResult:
    """A call whose empty reply is a content failure of this attempt, not an outage."""
    try:
        result = gateway.chat(role, messages, cache_salt=salt)
    except LLMError as exc:
        if exc.reason == "empty_reply":
            raise DraftingError(f"the {role} returned an empty reply") from None
        raise
    if usage is not None:
        usage.add(result)
    if not result.text.strip():
        gateway.forget(result.cache_key)
        raise DraftingError(f"the {role} returned an empty reply")
    return result


def _chat(gateway: LLMGateway, role: str, messages: list[dict], salt: str, usage: Usage | None) -> str:
    return _call(gateway, role, messages, salt, usage).text


def check_consistency(gateway: LLMGateway, judge: Any, caption: dict[str, str], label: str, *, salt: str,
                      consistency_k: int = 1, usage: Usage | None = None) -> ConsistencyCheck:
    """Diagnose from the caption alone and judge the answer against ``label``."""
    try:
        reply = _call(gateway, "diagnoser", [user_message(diagnosis_prompt(DIAGNOSIS_K, caption=caption))], salt,
                      usage)
    except DraftingError as exc:
        return ConsistencyCheck([], "invalid", str(exc), False)
    parsed = parse_diagnosis(reply.text, DIAGNOSIS_K)
    if not parsed.ok:
        gateway.forget(reply.cache_key)  # only good answers stay cached
        return ConsistencyCheck([], "invalid", f"the diagnoser's answer was malformed: {parsed.error}", False)
    verdicts = judge.judge_list(label, parsed.diseases)
    for verdict in verdicts[:consistency_k]:
        if verdict.category in CONSISTENT_CATEGORIES:
            return ConsistencyCheck(parsed.diseases, verdict.category,
                                    f"{verdict.prediction!r} vs {label!r}: {verdict.rationale}", True, parsed.items)
    first = verdicts[0]
    return ConsistencyCheck(parsed.diseases, first.category,
                            f"{first.prediction!r} vs {label!r}: {first.rationale}", False, parsed.items)


def _structure(gateway: LLMGateway, description: str, salt: str, usage: Usage) -> dict[str, str]:
    messages = [user_message(structurer_prompt(description))]
    first = _call(gateway, "structurer", messages, salt, usage)
    try:
        return parse_caption(extract_json(first.text)).to_dict()
    except (JSONExtractionError, CaptionError) as first_error:
        gateway.forget(first.cache_key)  # only good answers stay cached
        # One repair round: show the model its own reply and what is wrong with it.
        messages += [{"role": "assistant", "content": first.text},
                     user_message(f"That reply is not a valid caption: {first_error}. "
                                  "Reply again with only the corrected JSON object.")]
        repaired = _call(gateway, "structurer", messages, salt + ":repair", usage)
        try:
            return parse_caption(extract_json(repaired.text)).to_dict()
        except (JSONExtractionError, CaptionError) as second_error:
            gateway.forget(repaired.cache_key)
            raise DraftingError(f"structurer output unusable after one repair: {second_error}") from None


def run_attempt(gateway: LLMGateway, judge: Any, *, image: bytes, label: str, attempt: int, sample_key: str,
                consistency_k: int = 1) -> Attempt:
    """One full attempt. LLM transport errors (after the gateway's retries) propagate as ``LLMError``;
    unusable content ends the attempt as inconsistent with ``caption_error`` set."""
    salt = f"{PROMPT_VERSION}:{sample_key}:attempt={attempt}"
    out = Attempt(attempt=attempt, models={role: gateway.endpoint(role).model
                                           for role in ("drafter", "structurer", "diagnoser")})
    try:
        out.description = _chat(gateway, "drafter", [
            {"role": "system", "content": DRAFTER_PROMPT},
            user_message("Describe the skin in this photograph.", images=[image])], salt, out.usage).strip()
        out.caption = _structure(gateway, out.description, salt, out.usage)
    except DraftingError as exc:
        out.caption_error = str(exc)
        return out
    out.check = check_consistency(gateway, judge, out.caption, label, salt=salt, consistency_k=consistency_k,
                                  usage=out.usage)
    return out


def best_attempt(attempts: Sequence[Any]) -> Any | None:
    """The attempt a reviewer should start from: consistent first, then any with a caption, latest first."""
    with_caption = [a for a in attempts if a.caption]
    if not with_caption:
        return None
    return max(with_caption, key=lambda a: (bool(a.consistent), a.attempt))
