"""The appendix-B diagnosis format: the prompt that asks for a ranked top-K list, and its parser.

Pure Python (no Django): used by evaluation runs, by the caption consistency check (the text-only
variant diagnoses from a caption alone) and by the Stage II reward in verl's workers.

The parser is tolerant about the wrapping (``<think>`` blocks, code fences, text after
``</answer>``) and strict about the list itself: the answer must be a JSON object whose
``top{K}_diseases`` key (exactly the run's K when K is given) holds a non-empty list of objects, each with a non-empty string
``disease``; a list longer than K is refused rather than cut, so that a model cannot buy extra
chances by listing more names than asked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from annotations.schema import serialize_caption
from webapp.llm_json import JSONExtractionError, extract_json

__all__ = ["ParsedDiagnosis", "answer_key", "diagnosis_prompt", "parse_diagnosis"]

_KEY_RE = re.compile(r"^top(\d*)_diseases$")


def answer_key(k: int) -> str:
    return f"top{k}_diseases"


def _output_block(k: int) -> str:
    example = (
        "<answer>{\n"
        f'  "{answer_key(k)}": [\n'
        "    {\n"
        '      "disease": "The name of the disease",\n'
        '      "probability": 0.80,\n'
        '      "key_matching_fields": ["color", "shape"],\n'
        '      "brief_reason": "A one-sentence reason"\n'
        "    },\n"
        "    ...\n"
        "  ]\n"
        "}</answer>"
    )
    return (
        "[Output]\n\n"
        "First output the thinking process in <think> </think> tags and then output the final answer "
        "in <answer> </answer> tags, like this:\n\n"
        f"{example}\n\n"
        f"List at most {k} diseases, most likely first. \"probability\" is between 0 and 1; "
        '"key_matching_fields" names the description fields that support the diagnosis. '
        "The answer must be valid JSON (no comments)."
    )


def diagnosis_prompt(k: int = 6, caption: Mapping[str, Any] | None = None) -> str:
    """The appendix-B prompt for a top-``k`` list.

    Without ``caption`` it asks to diagnose from the attached photos. With a caption it is the
    text-only variant used by the annotation consistency check: the model sees the structured
    description only, so a correct diagnosis shows that the caption carries the evidence.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if caption is None:
        character = (
            "[Character]\n\n"
            f"As a dermatologist, please provide the most likely set of skin diseases (Top-{k}) based on "
            "the provided photos of skin diseases and explain the reasons."
        )
    else:
        character = (
            "[Character]\n\n"
            f"As a dermatologist, please provide the most likely set of skin diseases (Top-{k}) based only "
            "on the following structured description of a skin lesion (no photo is available; an empty "
            "field means the feature was not described), and explain the reasons.\n\n"
            f"[Description]\n\n{serialize_caption(caption)}"
        )
    return f"{character}\n\n{_output_block(k)}"


@dataclass(frozen=True)
class ParsedDiagnosis:
    """Result of :func:`parse_diagnosis`. ``ok`` False means malformed; ``error`` says why."""

    ok: bool
    diseases: list[str] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    error: str = ""


def _fail(error: str) -> ParsedDiagnosis:
    return ParsedDiagnosis(ok=False, diseases=[], items=[], error=error)


def parse_diagnosis(text: str, k: int | None = None) -> ParsedDiagnosis:
    """Parse an appendix-B answer. With ``k``, a list longer than ``k`` is malformed."""
    if not isinstance(text, str) or not text.strip():
        return _fail("the answer is empty")
    try:
        payload = extract_json(text)
    except JSONExtractionError as exc:
        return _fail(f"no JSON answer found: {exc}")
    if not isinstance(payload, dict):
        return _fail(f"the answer must be a JSON object with a topK_diseases list, got a JSON {type(payload).__name__}")
    keys = [key for key in payload if _KEY_RE.match(key)]
    if len(keys) != 1:
        found = ", ".join(map(repr, payload)) or "none"
        expected = answer_key(k) if k else "topK_diseases"
        return _fail(f"the answer object needs exactly one {expected!r} key (found keys: {found})")
    # The key states how many names the model was asked for; a top3 list in a top-6 run answers a
    # different question (and a "top10" key would announce more slots than the run pays for).
    if k is not None and keys[0] != answer_key(k):
        return _fail(f"the answer key is {keys[0]!r} but this run asks for {answer_key(k)!r}")
    entries = payload[keys[0]]
    if not isinstance(entries, list):
        return _fail(f"{keys[0]!r} must be a list, got {type(entries).__name__}")
    if not entries:
        return _fail(f"{keys[0]!r} is an empty list")
    if k is not None and len(entries) > k:
        return _fail(f"{keys[0]!r} lists {len(entries)} diseases, more than K={k}")
    diseases: list[str] = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            return _fail(f"entry {position} must be an object with a 'disease', got {json.dumps(entry)[:60]}")
        name = entry.get("disease")
        if not isinstance(name, str) or not name.strip():
            return _fail(f"entry {position} has no non-empty string 'disease'")
        diseases.append(name.strip())
    return ParsedDiagnosis(ok=True, diseases=diseases, items=[dict(e) for e in entries], error="")
