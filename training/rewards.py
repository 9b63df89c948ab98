"""Stage I (caption) and Stage II (top-K diagnosis) rewards, for verl, TRL and evaluation.

Pure Python, no Django: verl runs reward functions in Ray worker processes that never load the
web application. The LLM gateway there is configured from environment variables (or from the
``reward_kwargs`` / ``extra_info`` of the run) and built once per process.

Stage II, diagnosis (equations 7-8). The answer is parsed with the appendix-B parser; the clinical
judge marks each position correct or not; the reward is the weight of the first correct position,
``w = (1.0, 0.8, 0.6, 0.4, 0.2, 0.1)`` for K = 6 by default (non-increasing, within [0, 1]). A
malformed answer scores 0 with ``format_ok = 0``. A repeated disease (same name, or another name of
the same ontology condition, e.g. "shingles" after "herpes zoster") keeps its slot but can never be
the first correct one: repeats waste a slot instead of shifting later names up, so padding a list
with repeats never pays.

Stage I, caption (equation 6). The ``scorer`` LLM scores each of the 12 fields 0-10 against the
reference caption with per-field rules; fields are decided without the LLM where the answer is
mechanical (both empty -> 10, one empty -> 0, same text -> 10), and all remaining fields of a
caption go into one call. ``R = sum(alpha_i * s_i)`` with weights from the field frequency
analysis (normalized to sum 1; uniform without an analysis). ``caption_reward`` reports R on the
paper's 0-10 scale; ``score`` (what verl and TRL optimize) is R / 10 in [0, 1], on the same scale
as the diagnosis reward. A generated caption that is not valid JSON or breaks the schema scores 0
with ``format_ok = 0`` and costs no LLM call. Two faults cost only their own field, not the whole
caption: a ``lesion_type`` with a term outside the lesion-type vocabulary scores that field 0 (the
other eleven fields carry real signal, and zeroing them would teach the policy nothing about
them), and a field longer than ``MAX_FIELD_CHARS`` scores 0 without being shown to the scorer (a
field that long is an essay, and padding a field must never buy a higher grade).

Stage II uses the same :class:`~evaluation.judge.ClinicalJudge` as evaluation runs, so the judge's
rules (parent credit by clinical meaning, safety before parent, one condition per entry, the
answer key matching K) hold for training rewards too.

When the judge or scorer LLM fails after the gateway's retries, the run goes on: the affected
names count as not correct (diagnosis) or the affected fields score 0 (caption), and the result
carries ``judge_ok = 0`` / ``scorer_ok = 0`` so the failure shows in the training metrics instead
of ending a long run.
"""

# No ``from __future__ import annotations`` here: verl loads this file by path without registering
# it in sys.modules, and dataclasses cannot resolve string annotations of such a module.
import asyncio
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from annotations.schema import (FIELDS, FIELD_GUIDELINES, Caption, CaptionError, normalize_lesion_types,
                                parse_caption)
from evaluation.diagnosis import ParsedDiagnosis, parse_diagnosis
from evaluation.judge import ClinicalJudge, Verdict, normalize_name, run_sync

if TYPE_CHECKING:
    from webapp.llm import LLMGateway

__all__ = [
    "DATA_SOURCE_CAPTION",
    "DATA_SOURCE_DIAGNOSIS",
    "DEFAULT_POSITION_WEIGHTS",
    "MAX_FIELD_CHARS",
    "CaptionReward",
    "CaptionScore",
    "DiagnosisReward",
    "DiagnosisScore",
    "acompute_score",
    "adiagnosis_reward_batch",
    "acaption_reward_batch",
    "caption_field_weights",
    "caption_reward_batch",
    "compute_score",
    "diagnosis_reward_batch",
    "gateway_from_env",
    "position_weights",
]

logger = logging.getLogger(__name__)

DATA_SOURCE_CAPTION = "skinflow_caption"
DATA_SOURCE_DIAGNOSIS = "skinflow_diagnosis"
DEFAULT_POSITION_WEIGHTS: tuple[float, ...] = (1.0, 0.8, 0.6, 0.4, 0.2, 0.1)
ACCEPTABLE_FIELD_SCORE = 6
# A caption field is a short clinical phrase ("well-defined, raised border"); the longest reviewed
# fields run to about 150 characters.  Past this a generated field scores 0 (never sent to the LLM).
MAX_FIELD_CHARS = 300


# ==================================================================================================
# Weights


def position_weights(weights: Sequence[float] | None = None, k: int | None = None) -> tuple[float, ...]:
    """Validated positional weights ``w_1..w_K``.

    Without ``weights``: 1.0 falling by 0.2 per position with a floor of 0.1, which is exactly the
    default (1.0, 0.8, 0.6, 0.4, 0.2, 0.1) for K = 6. Given weights must be non-increasing and in
    [0, 1]; with ``k`` as well their count must be K.
    """
    if weights is None:
        k = len(DEFAULT_POSITION_WEIGHTS) if k is None else k
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"K must be a positive integer, got {k!r}")
        return tuple(max(round(1.0 - 0.2 * i, 10), 0.1) for i in range(k))
    values = tuple(float(w) for w in weights)
    if not values:
        raise ValueError("position weights are empty")
    if k is not None and len(values) != k:
        raise ValueError(f"{len(values)} position weights given for K={k}; give exactly one per position")
    if any(not 0.0 <= w <= 1.0 for w in values):
        raise ValueError(f"position weights must lie in [0, 1], got {list(values)}")
    if any(later > earlier for earlier, later in zip(values, values[1:])):
        raise ValueError(f"position weights must be non-increasing (a lower rank never earns more), got {list(values)}")
    return values


def caption_field_weights(frequencies: Mapping[str, float] | str | os.PathLike | None = None) -> dict[str, float]:
    """Field weights alpha_i from the field frequency analysis, normalized to sum 1.

    ``frequencies`` maps field -> how often the field was cited as diagnostic evidence (counts or
    shares), or is a path to a JSON file holding that mapping (optionally under "frequencies" or
    "weights"). A field the analysis does not mention gets weight 0. No analysis (None, or all
    zeros) gives uniform weights.
    """
    if frequencies is None:
        return {name: 1.0 / len(FIELDS) for name in FIELDS}
    if isinstance(frequencies, (str, os.PathLike)):
        path = Path(frequencies)
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read the field frequency analysis {path}: {exc}") from None
        if isinstance(loaded, dict):
            loaded = loaded.get("frequencies", loaded.get("weights", loaded))
        if not isinstance(loaded, dict):
            raise ValueError(f"{path} must hold a JSON object mapping caption fields to frequencies")
        frequencies = loaded
    unknown = [name for name in frequencies if name not in FIELD_GUIDELINES]
    if unknown:
        raise ValueError(f"unknown caption field(s) in the weights: {', '.join(map(repr, unknown))}")
    values = {}
    for name in FIELDS:
        value = frequencies.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"the weight of {name!r} must be a non-negative number, got {value!r}")
        values[name] = float(value)
    total = sum(values.values())
    if total == 0:
        return {name: 1.0 / len(FIELDS) for name in FIELDS}
    return {name: value / total for name, value in values.items()}


# ==================================================================================================
# Stage II: diagnosis


@dataclass(frozen=True)
class DiagnosisScore:
    score: float                    # w_i at the first correct position, else 0
    first_correct: int              # 1-based position, 0 when none
    format_ok: bool
    judge_ok: bool = True
    error: str = ""
    diseases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # judge category per position ("repeat" for a repeat)

    def as_dict(self) -> dict[str, float | int]:
        """Numeric fields only: verl turns each key into a per-sample metric array."""
        return {
            "score": self.score,
            "first_correct": self.first_correct,
            "format_ok": int(self.format_ok),
            "judge_ok": int(self.judge_ok),
            "n_predictions": len(self.diseases),
            "n_repeats": self.categories.count("repeat"),
        }


def _completion_text(completion: Any) -> str:
    """The text of a completion: a string, or TRL's conversational form (a list of messages)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "") if isinstance(completion[-1], dict) else completion[-1]
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content if isinstance(content, str) else ""
    return ""


class DiagnosisReward:
    """Positional top-K reward driven by the clinical judge."""

    def __init__(self, judge: ClinicalJudge, weights: Sequence[float] | None = None, *, k: int | None = None) -> None:
        self.judge = judge
        self.weights = position_weights(weights, k)
        self.k = len(self.weights)

    def _identity(self, name: str) -> str:
        condition = self.judge.resolve(name)
        return f"id:{condition.id}" if condition is not None else f"name:{normalize_name(name)}"

    def score_parsed(self, parsed: ParsedDiagnosis, verdicts: Mapping[str, Verdict], *, judge_ok: bool = True) -> DiagnosisScore:
        """Equations 7-8 on a parsed answer, given a verdict per distinct name (missing = not correct)."""
        if not parsed.ok:
            return DiagnosisScore(0.0, 0, False, judge_ok, parsed.error)
        seen: set[str] = set()
        categories: list[str] = []
        first = 0
        for position, name in enumerate(parsed.diseases, start=1):
            identity = self._identity(name)
            if identity in seen:
                categories.append("repeat")
                continue
            seen.add(identity)
            verdict = verdicts.get(name)
            categories.append(verdict.category if verdict is not None else "unjudged")
            if not first and verdict is not None and verdict.correct:
                first = position
        score = self.weights[first - 1] if first else 0.0
        return DiagnosisScore(score, first, True, judge_ok, "", tuple(parsed.diseases), tuple(categories))

    def parse(self, completion: Any) -> ParsedDiagnosis:
        return parse_diagnosis(_completion_text(completion), k=self.k)

    async def ascore(self, completion: Any, reference: str, *, repeat: int = 0) -> DiagnosisScore:
        return (await self.ascore_batch([completion], [reference], repeat=repeat))[0]

    async def ascore_batch(self, completions: Sequence[Any], references: Sequence[str], *, repeat: int = 0) -> list[DiagnosisScore]:
        """Score a batch; each distinct (reference, name) pair is judged once, with one judge call
        per reference (chunked) for the names the ontology cannot decide."""
        if len(completions) != len(references):
            raise ValueError(f"{len(completions)} completions but {len(references)} references")
        parsed = [self.parse(c) for c in completions]
        names_by_reference: dict[str, dict[str, None]] = {}
        for answer, reference in zip(parsed, references):
            if answer.ok:
                names_by_reference.setdefault(reference, {}).update(dict.fromkeys(answer.diseases))
        order = list(names_by_reference)
        outcomes = await asyncio.gather(
            *(self.judge.ajudge_names(r, list(names_by_reference[r]), repeat=repeat) for r in order),
            return_exceptions=True,
        )
        verdicts: dict[str, dict[str, Verdict]] = {}
        failed: set[str] = set()
        for reference, outcome in zip(order, outcomes):
            if isinstance(outcome, BaseException):
                if not _is_llm_failure(outcome):
                    raise outcome
                logger.warning("judge failed for reference %r: %s", reference, outcome)
                failed.add(reference)
                offline = (self.judge.judge_offline(reference, n) for n in names_by_reference[reference])
                verdicts[reference] = {v.prediction: v for v in offline if v is not None}
            else:
                verdicts[reference] = outcome
        return [
            self.score_parsed(answer, verdicts.get(reference, {}), judge_ok=reference not in failed)
            for answer, reference in zip(parsed, references)
        ]


def _is_llm_failure(exc: BaseException) -> bool:
    from webapp.llm import LLMError

    return isinstance(exc, LLMError)


# ==================================================================================================
# Stage I: caption


@dataclass(frozen=True)
class CaptionScore:
    score: float                       # R / 10, in [0, 1] (what training optimizes)
    caption_reward: float              # R on the paper's 0-10 scale
    field_scores: dict[str, float] = field(default_factory=dict)
    format_ok: bool = True
    scorer_ok: bool = True
    error: str = ""

    @property
    def acceptable_fields(self) -> tuple[str, ...]:
        return tuple(f for f, s in self.field_scores.items() if s >= ACCEPTABLE_FIELD_SCORE)

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "score": self.score,
            "caption_reward": self.caption_reward,
            "format_ok": int(self.format_ok),
            "scorer_ok": int(self.scorer_ok),
        }
        out.update({f"field_{name}": self.field_scores.get(name, 0.0) for name in FIELDS})
        return out


# Written-out ways of saying "nothing here", treated like the empty string when comparing.
_BLANK_WORDS = frozenset(
    {"", "none", "n a", "na", "nil", "null", "not applicable", "not described", "not visible",
     "not specified", "not mentioned", "not observed", "not seen"}
)

FIELD_SCORING_RULES: dict[str, str] = {
    "color": "graded similarity: same hue and intensity 9-10; same hue family with a different shade or "
    "intensity (red vs pink, dark vs light brown) 6-8; partly overlapping colours 3-5; different hues "
    "(brown vs red, white vs violaceous) 0-2.",
    "size": "graded similarity of magnitude: overlapping ranges or within a factor of 1.5 9-10; within a "
    "factor of 2-3 6-8; within a factor of 5 3-5; an order of magnitude apart 0-2.",
    "lesion_type": "vocabulary match: both values are chosen from the fixed lesion-type vocabulary; the "
    "same set of types 10; same primary type with a missing or extra secondary type 6-8; closely related "
    "types only (papule vs nodule, macule vs patch, vesicle vs bulla, erosion vs ulcer) 4-5; otherwise 0-3.",
    "number": "graded: same count or same category (single, few, multiple, numerous) 9-10; adjacent "
    "categories 5-7; single vs many 0-2.",
    "location": "same body sites 9-10; overlapping or adjacent sites 5-8; different regions 0-3.",
}
_DEFAULT_RULE = "semantic equivalence of the clinical meaning, ignoring wording: equivalent 9-10; mostly " \
    "equivalent with a minor difference 6-8; partly matching 3-5; contradicting or unrelated 0-2."

_SCORER_SYSTEM = (
    "You are a dermatologist grading a generated structured description of a skin image against the "
    "reference description, field by field, on a 0-10 scale (6 or more means acceptable).\n\n"
    "General rules: both fields empty -> 10; exactly one empty -> 0 unless the other only says that the "
    "feature is absent; grade clinical meaning, not wording.\n\n"
    "Per-field rules:\n"
    + "\n".join(f"- {name}: {FIELD_SCORING_RULES.get(name, _DEFAULT_RULE)}" for name in FIELDS)
    + "\n\nReply with JSON only: {\"scores\": {\"<field>\": <integer 0-10>, ...}} with exactly the fields "
    "you are asked to grade."
)


def _is_blank(value: str) -> bool:
    return normalize_name(value) in _BLANK_WORDS


def _caption_body(text: str) -> str:
    """The caption JSON of a completion: after any <think> block, inside <answer> when present."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    start, end = text.find("<answer>"), text.rfind("</answer>")
    if start != -1:
        text = text[start + len("<answer>") : end if end > start else None]
    return text


def _validate_field_scores(fields_asked: Sequence[str], payload: Any) -> dict[str, float]:
    scores = payload.get("scores") if isinstance(payload, dict) else None
    if not isinstance(scores, dict):
        raise ValueError('expected {"scores": {"<field>": <0-10>, ...}}')
    extra = [name for name in scores if name not in fields_asked]
    missing = [name for name in fields_asked if name not in scores]
    if extra or missing:
        raise ValueError(f"grade exactly the fields {', '.join(fields_asked)} (missing: {missing}, not asked: {extra})")
    out = {}
    for name in fields_asked:
        value = scores[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10:
            raise ValueError(f"the score of {name!r} must be a number from 0 to 10, got {value!r}")
        out[name] = float(value)
    return out


def _parse_generated(text: str) -> tuple[Caption, dict[str, str]]:
    """The generated caption and the fields that score 0 on their own, field -> why.

    Raises CaptionError for what breaks the whole caption (not JSON, wrong keys, non-strings). An
    unknown lesion type or an over-long field is a fault of that field only: the caption is kept
    with the field emptied, and the field is scored 0.
    """
    try:
        data = json.loads(_strip_fence(text))
    except (json.JSONDecodeError, TypeError):
        return parse_caption(text), {}  # parse_caption raises with its own message (or accepts)
    if not isinstance(data, dict):
        return parse_caption(text), {}
    faults: dict[str, str] = {}
    cleaned = dict(data)
    for name in FIELDS:
        value = data.get(name)
        if not isinstance(value, str):
            continue  # parse_caption reports a missing or non-string field for the whole caption
        if len(value.strip()) > MAX_FIELD_CHARS:
            faults[name] = f"{name}: {len(value.strip())} characters, over the {MAX_FIELD_CHARS}-character cap; scored 0"
            cleaned[name] = ""
        elif name == "lesion_type":
            try:
                normalize_lesion_types(value)
            except CaptionError as exc:
                faults[name] = f"{exc}; scored 0"
                cleaned[name] = ""
    return parse_caption(cleaned), faults


def _strip_fence(text: str) -> str:
    """The body of a ```json ... ``` fence, or the text itself."""
    body = text.strip()
    if body.startswith("```") and body.endswith("```") and len(body) >= 6:
        body = body[3:-3]
        body = body.split("\n", 1)[1] if "\n" in body else body
    return body.strip()


class CaptionReward:
    """Field-wise LLM-scored caption reward (equation 6)."""

    def __init__(
        self,
        gateway: "LLMGateway | None",
        weights: Mapping[str, float] | str | os.PathLike | None = None,
        *,
        role: str = "scorer",
    ) -> None:
        self.gateway = gateway
        self.weights = caption_field_weights(weights)
        self.role = role

    def _messages(self, generated: Caption, reference: Caption, fields_asked: Sequence[str]) -> list[dict]:
        user = (
            "Reference description:\n" + json.dumps(reference.to_dict(), ensure_ascii=False)
            + "\n\nGenerated description:\n" + json.dumps(generated.to_dict(), ensure_ascii=False)
            + "\n\nGrade these fields (JSON array):\n" + json.dumps(list(fields_asked))
        )
        return [{"role": "system", "content": _SCORER_SYSTEM}, {"role": "user", "content": user}]

    async def _llm_scores(self, generated: Caption, reference: Caption, fields_asked: list[str]) -> dict[str, float]:
        from webapp.llm import JSONExtractionError

        if self.gateway is None:
            raise RuntimeError(
                "the caption reward needs the 'scorer' LLM: configure SKINFLOW_LLM_BASE_URL / SKINFLOW_SCORER_BASE_URL"
            )
        messages = self._messages(generated, reference, fields_asked)

        def validate(payload: Any) -> dict[str, float]:
            return _validate_field_scores(fields_asked, payload)

        try:
            scores, _ = await self.gateway.achat_json(self.role, messages, validate=validate)
        except JSONExtractionError as first:
            repair = messages + [
                {"role": "assistant", "content": first.text or ""},
                {"role": "user", "content": f"That reply could not be used: {first}. Reply again with JSON only: "
                 '{"scores": {...}} with an integer 0-10 for exactly the fields asked.'},
            ]
            scores, _ = await self.gateway.achat_json(self.role, repair, validate=validate)
        return scores

    async def ascore(self, completion: Any, reference: Caption | Mapping[str, Any] | str) -> CaptionScore:
        """Score one generated caption against the reference caption (which must be valid)."""
        reference_caption = parse_caption(reference)  # a broken reference is a data error: raise
        try:
            generated, field_faults = _parse_generated(_caption_body(_completion_text(completion)))
        except CaptionError as exc:
            return CaptionScore(0.0, 0.0, {name: 0.0 for name in FIELDS}, format_ok=False, error=str(exc))
        ref_values, gen_values = reference_caption.to_dict(), generated.to_dict()
        scores: dict[str, float] = {}
        undecided: list[str] = []
        for name in FIELDS:
            ref_blank, gen_blank = _is_blank(ref_values[name]), _is_blank(gen_values[name])
            if name in field_faults:
                scores[name] = 0.0
            elif ref_blank and gen_blank:
                scores[name] = 10.0
            elif ref_blank or gen_blank:
                scores[name] = 0.0
            elif normalize_name(ref_values[name]) == normalize_name(gen_values[name]):
                scores[name] = 10.0
            else:
                undecided.append(name)
        scorer_ok, error = True, ""
        if undecided:
            try:
                scores.update(await self._llm_scores(generated, reference_caption, undecided))
            except Exception as exc:  # noqa: BLE001 - any scorer failure must not end a training run
                from webapp.llm import JSONExtractionError, LLMError

                if not isinstance(exc, (LLMError, JSONExtractionError)):
                    raise
                logger.warning("caption scorer failed: %s", exc)
                scorer_ok, error = False, f"scorer failed: {exc}"
                scores.update({name: 0.0 for name in undecided})
        ordered = {name: scores[name] for name in FIELDS}
        reward = sum(self.weights[name] * ordered[name] for name in FIELDS)
        if field_faults:
            error = "; ".join([*field_faults.values(), *([error] if error else [])])
        return CaptionScore(reward / 10.0, reward, ordered, True, scorer_ok, error)

    async def ascore_batch(self, completions: Sequence[Any], references: Sequence[Any]) -> list[CaptionScore]:
        if len(completions) != len(references):
            raise ValueError(f"{len(completions)} completions but {len(references)} references")
        return list(await asyncio.gather(*(self.ascore(c, r) for c, r in zip(completions, references))))


# ==================================================================================================
# Runtime configuration in worker processes (no Django)

_SETTING_KEYS = ("llm_base_url", "llm_model", "llm_api_key_env", "llm_cache", "llm_max_concurrency", "llm_timeout_s")


def gateway_from_env(overrides: Mapping[str, Any] | None = None) -> "LLMGateway | None":
    """A gateway for the ``judge`` and ``scorer`` roles from the environment, or None if unconfigured.

    Variables: ``SKINFLOW_LLM_BASE_URL``, ``SKINFLOW_LLM_MODEL``, ``SKINFLOW_LLM_API_KEY_ENV`` (the
    name of the variable holding the key), per-role overrides ``SKINFLOW_JUDGE_BASE_URL`` /
    ``_MODEL`` / ``_API_KEY_ENV`` (same for ``SCORER``), ``SKINFLOW_LLM_MAX_CONCURRENCY``,
    ``SKINFLOW_LLM_TIMEOUT_S`` and ``SKINFLOW_LLM_CACHE`` (path of the shared SQLite response
    cache; in memory otherwise). ``overrides`` (from reward kwargs / extra_info) use the keys
    ``llm_base_url``, ``llm_model``, ``llm_api_key_env``, ``llm_cache``, ``llm_max_concurrency``,
    ``llm_timeout_s`` and win over the environment.
    """
    from webapp.llm import EndpointConfig, LLMGateway, MemoryCache, SQLiteCache

    overrides = dict(overrides or {})
    env = os.environ

    def setting(key: str, default: str = "") -> str:
        value = overrides.get(f"llm_{key}")
        return str(value) if value not in (None, "") else env.get(f"SKINFLOW_LLM_{key.upper()}", default)

    endpoints = {}
    for role in ("judge", "scorer"):
        prefix = f"SKINFLOW_{role.upper()}_"
        base_url = overrides.get(f"{role}_base_url") or env.get(prefix + "BASE_URL") or setting("base_url")
        if not base_url:
            continue
        endpoints[role] = EndpointConfig(
            role=role,
            base_url=base_url,
            model=overrides.get(f"{role}_model") or env.get(prefix + "MODEL") or setting("model", "judge"),
            api_key_env=env.get(prefix + "API_KEY_ENV") or setting("api_key_env"),
            max_concurrency=int(setting("max_concurrency", "16")),
            timeout_s=float(setting("timeout_s", "120")),
        )
    if not endpoints:
        return None
    cache_path = setting("cache")
    cache = SQLiteCache(cache_path) if cache_path else MemoryCache()
    return LLMGateway(endpoints, cache=cache)


@dataclass
class _Runtime:
    judge: ClinicalJudge
    diagnosis: dict[tuple, DiagnosisReward] = field(default_factory=dict)
    caption: dict[str, CaptionReward] = field(default_factory=dict)


_RUNTIMES: dict[tuple, _Runtime] = {}
_RUNTIME_LOCK = threading.Lock()


def _runtime(options: Mapping[str, Any]) -> _Runtime:
    """The per-process judge (and its gateway) for these settings, built on first use."""
    settings = tuple((key, str(options.get(key, ""))) for key in _SETTING_KEYS + ("judge_base_url", "scorer_base_url"))
    env_key = tuple(os.environ.get(k, "") for k in sorted(os.environ) if k.startswith("SKINFLOW_"))
    key = settings + env_key
    with _RUNTIME_LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is None:
            runtime = _Runtime(judge=ClinicalJudge(gateway=gateway_from_env(options)))
            _RUNTIMES[key] = runtime
        return runtime


def _options(extra_info: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Run-level kwargs (verl's reward_kwargs) overridden by the sample's extra_info."""
    merged = dict(kwargs)
    if isinstance(extra_info, Mapping):
        merged.update(extra_info)
    return merged


def _diagnosis_reward(options: Mapping[str, Any]) -> DiagnosisReward:
    runtime = _runtime(options)
    weights = options.get("position_weights")
    k = options.get("k")
    key = (tuple(weights) if weights is not None else None, k)
    reward = runtime.diagnosis.get(key)
    if reward is None:
        reward = runtime.diagnosis[key] = DiagnosisReward(runtime.judge, weights, k=int(k) if k else None)
    return reward


# Stage I's caption scorers, by the name a run records (``caption_scorer``). "llm" grades with the scorer
# role's model (real data, free text); "fields" compares field by field with no LLM (training/field_scorer.py:
# captions drawn from a closed vocabulary, as the synthetic set's are).
CAPTION_SCORERS = {"llm": "LLM scorer (the scorer role's model)", "fields": "field match, no LLM (synthetic set)"}


def caption_scorer_name(options: Mapping[str, Any]) -> str:
    name = str(options.get("caption_scorer") or os.environ.get("SKINFLOW_CAPTION_SCORER") or "llm")
    if name not in CAPTION_SCORERS:
        raise ValueError(f"caption_scorer must be one of {', '.join(CAPTION_SCORERS)}, got {name!r}")
    return name


def _caption_reward(options: Mapping[str, Any]) -> CaptionReward:
    runtime = _runtime(options)
    weights = options.get("field_weights") or os.environ.get("SKINFLOW_CAPTION_WEIGHTS") or None
    scorer = caption_scorer_name(options)
    key = scorer + ":" + json.dumps(weights, sort_keys=True, default=str)
    reward = runtime.caption.get(key)
    if reward is None:
        if scorer == "fields":
            from training.field_scorer import FieldCaptionReward  # lazy: it imports this module

            reward = FieldCaptionReward(weights)
        else:
            reward = CaptionReward(runtime.judge.gateway, weights)
        runtime.caption[key] = reward
    return reward


# ==================================================================================================
# verl entry points


async def acompute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None, **kwargs: Any
) -> dict[str, float | int]:
    """verl custom reward (async): ``{"score": ...}`` plus per-sample details.

    ``skinflow_diagnosis``: ground_truth is the reference diagnosis; returns ``first_correct``,
    ``format_ok``, ``judge_ok``, ``n_predictions``, ``n_repeats``.
    ``skinflow_caption``: ground_truth is the reference caption (JSON text or dict); returns
    ``caption_reward`` (0-10), ``format_ok``, ``scorer_ok`` and ``field_<name>`` for the 12 fields.
    """
    options = _options(extra_info, kwargs)
    if data_source == DATA_SOURCE_DIAGNOSIS:
        if not isinstance(ground_truth, str) or not ground_truth.strip():
            raise ValueError(f"skinflow_diagnosis needs the reference diagnosis as ground_truth, got {ground_truth!r}")
        result = await _diagnosis_reward(options).ascore(solution_str, ground_truth, repeat=int(options.get("repeat", 0)))
        return result.as_dict()
    if data_source == DATA_SOURCE_CAPTION:
        return (await _caption_reward(options).ascore(solution_str, ground_truth)).as_dict()
    raise ValueError(
        f"unknown data_source {data_source!r}; SkinFlow rewards handle {DATA_SOURCE_DIAGNOSIS!r} and {DATA_SOURCE_CAPTION!r}"
    )


def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None, **kwargs: Any
) -> dict[str, float | int]:
    """verl custom reward (sync); same as :func:`acompute_score`."""
    return run_sync(acompute_score(data_source, solution_str, ground_truth, extra_info, **kwargs))


# ==================================================================================================
# TRL-style batch functions


def _batch_references(references: Sequence[Any] | None, kw: Mapping[str, Any]) -> Sequence[Any]:
    refs = references if references is not None else kw.get("ground_truth")
    if refs is None:
        raise ValueError("pass the reference labels as `references` (a dataset column of that name)")
    return refs


async def adiagnosis_reward_batch(completions: Sequence[Any], references: Sequence[str] | None = None, **kw: Any) -> list[float]:
    """Diagnosis rewards for a batch; each distinct unresolved (reference, name) pair is judged once."""
    reward = _diagnosis_reward(kw)
    scores = await reward.ascore_batch(completions, _batch_references(references, kw), repeat=int(kw.get("repeat", 0)))
    return [s.score for s in scores]


def diagnosis_reward_batch(completions: Sequence[Any], references: Sequence[str] | None = None, **kw: Any) -> list[float]:
    return run_sync(adiagnosis_reward_batch(completions, references, **kw))


async def acaption_reward_batch(completions: Sequence[Any], references: Sequence[Any] | None = None, **kw: Any) -> list[float]:
    """Caption rewards (0-1) for a batch; one scorer call per caption that needs the LLM."""
    reward = _caption_reward(kw)
    scores = await reward.ascore_batch(completions, _batch_references(references, kw))
    return [s.score for s in scores]


def caption_reward_batch(completions: Sequence[Any], references: Sequence[Any] | None = None, **kw: Any) -> list[float]:
    return run_sync(acaption_reward_batch(completions, references, **kw))
