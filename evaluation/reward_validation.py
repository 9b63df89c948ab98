"""Reward validation (section 3.4.2, Table 1), pure: for each model, the mean caption reward of its
captions and its diagnostic accuracy when the caption alone is used for diagnosis; then Pearson
and Spearman correlation across models.

Caption-only diagnosis: the text-only appendix-B prompt (``diagnosis_prompt(k, caption=...)``)
goes to the ``diagnoser`` role; the answer counts as correct when its first correct name (judged
against the label, ontology first) is within the top ``k`` (Top-1 by default). A caption that is
not valid JSON for the schema scores reward 0 and counts as a wrong diagnosis without any call.

The caption scorer is passed in (``training.rewards.CaptionReward`` in the app): the evaluation
core does not import the training app.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from statistics import fmean
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from annotations.schema import CaptionError, parse_caption
from evaluation.diagnosis import diagnosis_prompt, parse_diagnosis
from evaluation.judge import ClinicalJudge
from evaluation.metrics import first_correct_rank, pearson, spearman

__all__ = ["CaptionRow", "ModelValidation", "avalidate", "correlations"]


class CaptionScorer(Protocol):
    async def ascore(self, completion: Any, reference: Any) -> Any: ...  # returns an object with .caption_reward


@dataclass(frozen=True)
class CaptionRow:
    model: str
    id: str
    label: str
    caption: Any  # the model's caption: a dict or JSON text
    reference_caption: Any


@dataclass(frozen=True)
class ModelValidation:
    model: str
    n: int
    caption_reward: float  # mean, 0-10
    diagnostic_accuracy: float  # share in [0, 1]


async def _diagnose(row: CaptionRow, gateway: Any, judge: ClinicalJudge, k: int, role: str) -> bool:
    try:
        caption = parse_caption(row.caption)
    except CaptionError:
        return False
    result = await gateway.achat(role, [{"role": "user", "content": diagnosis_prompt(k, caption=caption.to_dict())}],
                                 temperature=0.0)
    parsed = parse_diagnosis(result.text, k)
    if not parsed.ok:
        return False
    verdicts = await judge.ajudge_list(row.label, parsed.diseases)
    return first_correct_rank(parsed.diseases, [v.category for v in verdicts], k) is not None


async def avalidate(
    rows: Iterable[CaptionRow],
    *,
    scorer: CaptionScorer,
    gateway: Any,
    judge: ClinicalJudge,
    k: int = 1,
    role: str = "diagnoser",
    concurrency: int = 8,
    on_row: Callable[[], None] | None = None,
) -> list[ModelValidation]:
    """One :class:`ModelValidation` per model in ``rows`` (in first-seen order). ``on_row`` is called
    (in the event loop: it must not block) after each row is scored, for a progress count."""
    rows = list(rows)
    limit = asyncio.Semaphore(concurrency)

    async def one(row: CaptionRow) -> tuple[float, bool]:
        async with limit:
            score = await scorer.ascore(row.caption if isinstance(row.caption, str) else _json(row.caption),
                                        row.reference_caption)
            correct = await _diagnose(row, gateway, judge, k, role)
            if on_row is not None:
                on_row()
            return float(score.caption_reward), correct

    outcomes = await asyncio.gather(*(one(r) for r in rows))
    by_model: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for row, outcome in zip(rows, outcomes):
        by_model[row.model].append(outcome)
    return [
        ModelValidation(model=m, n=len(v), caption_reward=fmean(r for r, _ in v),
                        diagnostic_accuracy=sum(c for _, c in v) / len(v))
        for m, v in by_model.items()
    ]


def correlations(results: Sequence[ModelValidation]) -> dict[str, float | None]:
    x = [r.caption_reward for r in results]
    y = [r.diagnostic_accuracy for r in results]
    return {"pearson": pearson(x, y), "spearman": spearman(x, y)}


def rows_from_dicts(data: Iterable[Mapping[str, Any]]) -> list[CaptionRow]:
    out, problems = [], []
    for number, d in enumerate(data, start=1):
        missing = [key for key in ("model", "id", "label", "caption", "reference_caption") if d.get(key) in (None, "")]
        if missing:
            problems.append(f"row {number}: missing {', '.join(missing)}")
            continue
        out.append(CaptionRow(model=str(d["model"]), id=str(d["id"]), label=str(d["label"]), caption=d["caption"],
                              reference_caption=d["reference_caption"]))
    if problems:
        raise ValueError("; ".join(problems[:20]))
    return out


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
