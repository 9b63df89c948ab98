"""A deterministic, LLM-free Stage I caption scorer for closed-vocabulary captions (issue 15, item 3).

Made for the synthetic set (``annotations/synthetic.py``), whose reference captions use a small
closed vocabulary per field; usable on any data, but there the LLM scorer
(:class:`training.rewards.CaptionReward`) stays the default, because free-text references need
clinical judgement that string rules cannot give.

Same contract as :class:`training.rewards.CaptionReward`, so it can be selected in its place: the
same input (a completion as text, TRL messages, or here also a caption dict, ``<think>``/``<answer>`` wrapping, ``` fences; a
reference as JSON text, dict or :class:`~annotations.schema.Caption`), the same output
(:class:`training.rewards.CaptionScore`: ``score`` = R / 10 in [0, 1], ``caption_reward`` = R on the
paper's 0-10 scale, ``field_scores`` 0-10 per field, ``format_ok``, ``scorer_ok``, ``error``), the
same field weights (``caption_field_weights``: uniform without an analysis) and the same faults:
a completion that is not JSON or breaks the schema scores 0 with ``format_ok = 0``; a lesion type
outside the vocabulary or a field over ``MAX_FIELD_CHARS`` scores only that field 0.

Per field, s_i in [0, 1] (reported x 10):

* both empty (or a written-out "none") -> 1; exactly one empty -> 0;
* ``lesion_type``: Jaccard index of the two sets of canonical lesion types, |A & B| / |A | B|;
* ``size``: both parsed to intervals in mm ("6 mm", "12-14 mm", "about 2 cm", "3 to 5 mm"); overlapping
  intervals -> 1, else 1 - log(r) / log(4) floored at 0, where r >= 1 is the ratio between the nearer
  ends (a factor 2 apart -> 0.5, a factor 4 or more -> 0); an unparseable side falls back to exact match;
* ``number``: the ordinal scale single (1) < few (2-4) < multiple (5-9) < numerous (10+), words or
  digits; 1 - |rank difference| / 3 (adjacent categories 0.67, single vs numerous 0); an unknown
  word falls back to exact match;
* every other field: exact vocabulary match, 1 or 0, on the set of comma-separated terms after
  normalizing case, hyphens/underscores, spacing and a final full stop ("Regular, well-defined" ==
  "well defined, regular").

R = 10 * sum_i alpha_i * s_i, score = R / 10. Pure Python, no Django, no network.
"""

# No ``from __future__ import annotations``: kept like training/rewards.py, loadable by path.
import json
import math
import re
from typing import Any, Mapping, Sequence

from annotations.schema import FIELDS, Caption, CaptionError, parse_caption
from training.rewards import (CaptionScore, _caption_body, _completion_text, _is_blank, _parse_generated,
                              caption_field_weights)

__all__ = [
    "FieldCaptionReward",
    "NUMBER_RANKS",
    "SIZE_ZERO_RATIO",
    "field_scores",
    "parse_number",
    "parse_size_mm",
    "score_caption",
]

#: Two sizes this many times apart (nearer ends) score 0; closer ones score on a log scale.
SIZE_ZERO_RATIO = 4.0

NUMBER_RANKS: dict[str, int] = {
    "single": 0, "solitary": 0, "one": 0, "isolated": 0, "a single": 0,
    "few": 1, "a few": 1, "several": 1, "two": 1, "three": 1, "four": 1,
    "multiple": 2, "many": 2,
    "numerous": 3, "countless": 3, "innumerable": 3,
}
_MAX_RANK = 3

_SIZE_RE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:(?:-|–|—|to)\s*(\d+(?:\.\d+)?))?\s*(mm|cm|millimet(?:er|re)s?|centimet(?:er|re)s?)\b",
    re.IGNORECASE,
)


def _norm_term(text: str) -> str:
    text = text.lower().replace("-", " ").replace("_", " ").replace("–", " ")
    return " ".join(text.split()).strip(" .")


def _terms(value: str) -> frozenset[str]:
    return frozenset(t for t in (_norm_term(p) for p in re.split(r"[,;]", value)) if t)


def parse_size_mm(value: str) -> tuple[float, float] | None:
    """(low, high) in millimetres of a size such as "6 mm", "12-14 mm" or "about 2 cm"; None if none."""
    match = _SIZE_RE.search(value or "")
    if not match:
        return None
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    factor = 10.0 if match.group(3).lower().startswith(("cm", "centi")) else 1.0
    low, high = sorted((low * factor, high * factor))
    return (low, high) if low > 0 else None


def parse_number(value: str) -> int | None:
    """Rank 0-3 of a ``number`` value (single, few, multiple, numerous), from a word or a count."""
    text = _norm_term(value)
    if text in NUMBER_RANKS:
        return NUMBER_RANKS[text]
    digits = re.fullmatch(r"(?:about |approximately |~)?(\d+)", text)
    if digits:
        count = int(digits.group(1))
        return 0 if count <= 1 else 1 if count <= 4 else 2 if count <= 9 else 3
    return None


def _size_score(generated: str, reference: str) -> float:
    g, r = parse_size_mm(generated), parse_size_mm(reference)
    if g is None or r is None:
        return float(_terms(generated) == _terms(reference))
    if g[0] <= r[1] and r[0] <= g[1]:
        return 1.0
    ratio = max(g[0] / r[1], r[0] / g[1])
    return max(0.0, 1.0 - math.log(ratio) / math.log(SIZE_ZERO_RATIO))


def _number_score(generated: str, reference: str) -> float:
    g, r = parse_number(generated), parse_number(reference)
    if g is None or r is None:
        return float(_terms(generated) == _terms(reference))
    return 1.0 - abs(g - r) / _MAX_RANK


def _lesion_type_score(generated: Caption, reference: Caption) -> float:
    g, r = set(generated.lesion_types), set(reference.lesion_types)
    return len(g & r) / len(g | r) if g | r else 1.0


def field_scores(generated: Caption | Mapping[str, Any] | str, reference: Caption | Mapping[str, Any] | str,
                 faults: Sequence[str] = ()) -> dict[str, float]:
    """s_i in [0, 1] per field, in schema order, for two valid captions; ``faults`` score 0."""
    gen, ref = parse_caption(generated), parse_caption(reference)
    out: dict[str, float] = {}
    for name in FIELDS:
        g, r = getattr(gen, name), getattr(ref, name)
        g_blank, r_blank = _is_blank(g), _is_blank(r)
        if name in faults:
            out[name] = 0.0
        elif g_blank and r_blank:
            out[name] = 1.0
        elif g_blank or r_blank:
            out[name] = 0.0
        elif name == "lesion_type":
            out[name] = _lesion_type_score(gen, ref)
        elif name == "size":
            out[name] = _size_score(g, r)
        elif name == "number":
            out[name] = _number_score(g, r)
        else:
            out[name] = float(_terms(g) == _terms(r))
    return out


def _prediction_text(completion: Any) -> str:
    """The text to parse: a caption dict (or Caption) as JSON; otherwise as the LLM reward reads a completion
    (a string, or TRL messages: a dict with "role"/"content", or a list of them)."""
    if isinstance(completion, Caption):
        return json.dumps(completion.to_dict())
    if isinstance(completion, Mapping) and not ({"role", "content"} & set(completion)):
        try:
            return json.dumps(dict(completion), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise CaptionError(f"the caption is not JSON-serializable: {exc}") from None
    return _completion_text(completion)


class FieldCaptionReward:
    """Drop-in for :class:`training.rewards.CaptionReward` that needs no LLM (see the module docstring)."""

    gateway = None
    role = "fields"

    def __init__(self, weights: Mapping[str, float] | str | None = None) -> None:
        self.weights = caption_field_weights(weights)

    def score(self, completion: Any, reference: Caption | Mapping[str, Any] | str) -> CaptionScore:
        reference_caption = parse_caption(reference)  # a broken reference is a data error: raise
        try:
            generated, faults = _parse_generated(_caption_body(_prediction_text(completion)))
        except CaptionError as exc:
            return CaptionScore(0.0, 0.0, {name: 0.0 for name in FIELDS}, format_ok=False, error=str(exc))
        per_field = field_scores(generated, reference_caption, tuple(faults))
        ordered = {name: 10.0 * per_field[name] for name in FIELDS}
        reward = sum(self.weights[name] * ordered[name] for name in FIELDS)
        reward = min(10.0, max(0.0, round(reward, 10)))
        return CaptionScore(reward / 10.0, reward, ordered, True, True, "; ".join(faults.values()))

    async def ascore(self, completion: Any, reference: Caption | Mapping[str, Any] | str) -> CaptionScore:
        return self.score(completion, reference)

    async def ascore_batch(self, completions: Sequence[Any], references: Sequence[Any]) -> list[CaptionScore]:
        return self.score_batch(completions, references)

    def score_batch(self, completions: Sequence[Any], references: Sequence[Any]) -> list[CaptionScore]:
        if len(completions) != len(references):
            raise ValueError(f"{len(completions)} completions but {len(references)} references")
        return [self.score(c, r) for c, r in zip(completions, references)]


def score_caption(completion: Any, reference: Caption | Mapping[str, Any] | str,
                  weights: Mapping[str, float] | str | None = None) -> float:
    """The reward in [0, 1] of one completion (0 for a malformed one)."""
    return FieldCaptionReward(weights).score(completion, reference).score
