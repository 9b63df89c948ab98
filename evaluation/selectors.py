"""Reads of the evaluation app: judged samples with overrules applied, progress, leaderboards."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from django.db.models import Count, Q, Sum

from evaluation.metrics import SampleResult
from evaluation.models import EvalItem, EvalRun, Judgement, Overrule, RewardValidation


def _effective(categories: list[str], overrules: dict[int, str]) -> tuple[str, ...]:
    return tuple(overrules.get(rank, cat) for rank, cat in enumerate(categories, start=1))


def sample_results(run: EvalRun) -> list[SampleResult]:
    """Every item judged in all repeats, as metrics input; a dermatologist's overrule replaces the
    judge's category at that rank in every repeat."""
    judgements: dict[int, dict[int, list[str]]] = defaultdict(dict)
    for item_id, repeat, verdicts in Judgement.objects.filter(item__run=run).values_list("item_id", "repeat", "verdicts"):
        judgements[item_id][repeat] = [v["category"] for v in verdicts]
    overrules: dict[int, dict[int, str]] = defaultdict(dict)
    for item_id, rank, category in Overrule.objects.filter(item__run=run).values_list("item_id", "rank", "category"):
        overrules[item_id][rank] = category
    out = []
    for item in EvalItem.objects.filter(run=run, inferred=True).order_by("position", "id").only(
        "id", "external_id", "reference", "predictions", "skin_type"
    ):
        per_repeat = judgements.get(item.id, {})
        if len(per_repeat) < run.judge_repeats:
            continue
        preds = tuple(item.predictions[: run.k])
        out.append(SampleResult(
            id=item.external_id, reference=item.reference, predictions=preds,
            judgements=tuple(_effective(per_repeat[r], overrules.get(item.id, {})) for r in range(run.judge_repeats)),
            skin_type=item.skin_type,
        ))
    return out


def judge_majority(item: EvalItem, rank: int) -> str | None:
    """The judge's most frequent category at ``rank`` over the repeats (the earliest repeat breaks ties)."""
    cats = [j.verdicts[rank - 1]["category"] for j in item.judgements.order_by("repeat") if len(j.verdicts) >= rank]
    if not cats:
        return None
    counts = Counter(cats)
    best = max(counts.values())
    return next(c for c in cats if counts[c] == best)


def overrule_pairs(run: EvalRun) -> list[tuple[str, str]]:
    """(judge majority, dermatologist) category pairs of every reviewed prediction of ``run``."""
    return [(o.judge_category, o.category) for o in Overrule.objects.filter(item__run=run) if o.judge_category]


def progress(run: EvalRun) -> dict[str, Any]:
    agg = EvalItem.objects.filter(run=run).aggregate(
        total=Count("id"), inferred=Count("id", filter=Q(inferred=True)),
        prompt_tokens=Sum("prompt_tokens"), completion_tokens=Sum("completion_tokens"),
    )
    judged = Judgement.objects.filter(item__run=run).count()
    total = agg["total"] or 0
    prompt, completion = agg["prompt_tokens"] or 0, agg["completion_tokens"] or 0
    cost = (prompt * run.price_prompt_per_mtok + completion * run.price_completion_per_mtok) / 1e6
    return {
        "status": run.status,
        "error": run.error,
        "items": total,
        "inferred": agg["inferred"] or 0,
        "judgements": judged,
        "judgements_total": total * run.judge_repeats,
        "model_prompt_tokens": prompt,
        "model_completion_tokens": completion,
        "judge_prompt_tokens": run.judge_prompt_tokens,
        "judge_completion_tokens": run.judge_completion_tokens,
        "cost": round(cost, 6),
    }


def finished_runs():
    return EvalRun.objects.filter(status=EvalRun.Status.DONE).exclude(metrics={})


def leaderboard(k: int = 6) -> dict[str, Any]:
    """Table 2: models (rows) × test sets (column groups of Top-1..Top-K); the latest finished run
    of each (model, test set) is the one shown."""
    latest: dict[tuple[str, str], EvalRun] = {}
    for run in finished_runs().order_by("created_at"):
        latest[(run.model_name, run.test_set)] = run
    test_sets = sorted({ts for _, ts in latest})
    models = sorted({m for m, _ in latest}, key=str.casefold)
    rows = []
    for model in models:
        cells = []
        for ts in test_sets:
            run = latest.get((model, ts))
            top = (run.metrics.get("top_k") or [])[:k] if run else []
            cells.append({"run": run, "top_k": top + [None] * (k - len(top)) if run else [None] * k})
        rows.append({"model": model, "cells": cells})
    return {"k": k, "test_sets": test_sets, "rows": rows}


def ablation(k: int = 6) -> dict[str, Any]:
    """Table 3: runs that say whether they used the DVE and Stage I, one row per (DVE, Stage I) setting."""
    latest: dict[tuple[bool | None, bool | None, str], EvalRun] = {}
    for run in finished_runs().filter(Q(uses_dve__isnull=False) | Q(uses_stage1__isnull=False)).order_by("created_at"):
        latest[(run.uses_dve, run.uses_stage1, run.test_set)] = run
    test_sets = sorted({ts for *_, ts in latest})
    settings_ = sorted({(d, s) for d, s, _ in latest}, key=lambda p: (-(p[0] or 0) - (p[1] or 0), str(p)))
    rows = []
    for dve, stage1 in settings_:
        label = "ours" if dve and stage1 else "ours (" + " & ".join(
            x for x, used in (("w/o DVE", not dve), ("w/o stage 1", not stage1)) if used) + ")"
        cells = []
        for ts in test_sets:
            run = latest.get((dve, stage1, ts))
            top = (run.metrics.get("top_k") or [])[:k] if run else []
            cells.append({"run": run, "top_k": top + [None] * (k - len(top)) if run else [None] * k})
        rows.append({"label": label, "dve": dve, "stage1": stage1, "cells": cells})
    return {"k": k, "test_sets": test_sets, "rows": rows}


def item_detail(item: EvalItem) -> list[dict[str, Any]]:
    """One row per prediction: name, per-repeat verdicts, the judge's majority, the overrule, and the
    category that counts."""
    judgements = list(item.judgements.order_by("repeat"))
    overrules = {o.rank: o for o in item.overrules.all()}
    rows = []
    for rank, name in enumerate(item.predictions[: item.run.k], start=1):
        verdicts = [j.verdicts[rank - 1] for j in judgements if len(j.verdicts) >= rank]
        majority = judge_majority(item, rank)
        over = overrules.get(rank)
        rows.append({
            "rank": rank, "name": name, "verdicts": verdicts, "judge_category": majority,
            "overrule": over, "category": over.category if over else majority,
        })
    return rows


def reward_validation(study: str = "default") -> list[RewardValidation]:
    return list(RewardValidation.objects.filter(study=study).order_by("caption_reward"))
