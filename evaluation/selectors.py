"""Reads of the evaluation app: judged samples with overrules applied, progress, leaderboards."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, Iterable

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce, Greatest

from evaluation import baselines as baselines_core
from evaluation.metrics import SampleResult
from evaluation.models import EvalItem, EvalRun, Judgement, Overrule, RewardValidation
from webapp.redact import error_for, host_of


def _effective(categories: list[str], overrules: dict[int, str]) -> tuple[str, ...]:
    return tuple(overrules.get(rank, cat) for rank, cat in enumerate(categories, start=1))


# --------------------------------------------------------------------------------------------------
# Overrules: an append-only log read as "standing" verdicts


def _standing(rows: Iterable[Overrule]) -> list[Overrule]:
    """Each author's standing verdict per (item, rank): their latest action, unless it is a withdrawal.

    ``rows`` must come in log order (``created_at``, then ``id``); a later action replaces an earlier
    one of the same author, so an author who withdrew has no standing verdict there.
    """
    latest: dict[tuple[int, int, int | None], Overrule] = {}
    for row in rows:
        latest[(row.item_id, row.rank, row.user_id)] = row
    return [row for row in latest.values() if not row.withdrawn]


def standing_overrules(run: EvalRun) -> list[Overrule]:
    """Every dermatologist's standing verdict on ``run`` (at most one per author and (item, rank))."""
    return _standing(Overrule.objects.filter(item__run=run).order_by("created_at", "id"))


def winning_overrules(standing: Iterable[Overrule]) -> dict[tuple[int, int], Overrule]:
    """The verdict that counts per (item, rank): the latest standing verdict of any dermatologist.

    "Latest" is the log order (``created_at``, then ``id``). When the author of the winning verdict
    withdraws it, the next latest standing verdict (another dermatologist's) counts again, and with
    none left the judge's categories count.
    """
    winners: dict[tuple[int, int], Overrule] = {}
    for row in standing:
        key = (row.item_id, row.rank)
        best = winners.get(key)
        if best is None or (row.created_at, row.id) > (best.created_at, best.id):
            winners[key] = row
    return winners


def user_has_standing_overrule(item: EvalItem, rank: int, user: Any) -> bool:
    """Whether ``user``'s latest action on (``item``, ``rank``) is a verdict (not a withdrawal)."""
    last = (Overrule.objects.filter(item=item, rank=rank, user=user).order_by("-created_at", "-id").first())
    return last is not None and not last.withdrawn



def sample_results(run: EvalRun) -> list[SampleResult]:
    """Every item judged in all repeats, as metrics input; a dermatologist's overrule replaces the
    judge's category at that rank in every repeat."""
    judgements: dict[int, dict[int, list[str]]] = defaultdict(dict)
    for item_id, repeat, verdicts in Judgement.objects.filter(item__run=run).values_list("item_id", "repeat", "verdicts"):
        judgements[item_id][repeat] = [v["category"] for v in verdicts]
    overrules: dict[int, dict[int, str]] = defaultdict(dict)
    for (item_id, rank), row in winning_overrules(standing_overrules(run)).items():
        overrules[item_id][rank] = row.category
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
    """(judge majority, dermatologist) category pairs: one per dermatologist per reviewed prediction
    (their standing verdict), so two dermatologists reviewing the same prediction are two pairs. The
    judge's side is its majority when that dermatologist gave the verdict."""
    return [(o.judge_category, o.category) for o in standing_overrules(run) if o.judge_category]


def last_activity(run: EvalRun) -> datetime | None:
    """When ``run`` last moved: its latest stored answer or judgement, its start or its last enqueue."""
    latest = [
        EvalItem.objects.filter(run=run).aggregate(t=Max("answered_at"))["t"],
        Judgement.objects.filter(item__run=run).aggregate(t=Max("created_at"))["t"],
        run.started_at, run.enqueued_at,
    ]
    present = [t for t in latest if t is not None]
    return max(present) if present else run.created_at


def stalled_runs(before: datetime) -> QuerySet[EvalRun]:
    """Runs a worker should be on (active, handed to the queue) that have not moved since ``before``."""
    return (
        EvalRun.objects.filter(status__in=EvalRun.ACTIVE_STATUSES, enqueued_at__isnull=False)
        .annotate(
            # Coalesce: SQLite's MAX() of several values is NULL when any of them is.
            activity=Greatest(
                "enqueued_at", Coalesce("started_at", "enqueued_at"),
                Coalesce(Max("items__answered_at"), "enqueued_at"),
                Coalesce(Max("items__judgements__created_at"), "enqueued_at"),
            ),
        )
        .filter(activity__lt=before)
        .order_by("id")
    )


def completion(run: EvalRun) -> dict[str, int]:
    """What is stored of ``run``: items, answers, judgements (of the current repeats) and how many
    items are fully judged. The finish decision reads only this, never a worker's own tally."""
    items = EvalItem.objects.filter(run=run).aggregate(total=Count("id"), inferred=Count("id", filter=Q(inferred=True)))
    per_item = (Judgement.objects.filter(item__run=run, item__inferred=True, repeat__lt=run.judge_repeats)
                .values("item_id").annotate(n=Count("repeat")).values_list("n", flat=True))
    judged = list(per_item)
    return {
        "items": items["total"] or 0,
        "inferred": items["inferred"] or 0,
        "judgements": sum(judged),
        "judgements_total": (items["inferred"] or 0) * run.judge_repeats,
        "fully_judged": sum(1 for n in judged if n >= run.judge_repeats),
    }


def progress(run: EvalRun, *, is_admin: bool = False) -> dict[str, Any]:
    """Counts so far and their cost; ``error`` is whole for admins, without internal addresses for anyone else
    (the default is the safe side). The API, the progress JSON and the run page all read it from here."""
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
        "error": error_for(run.error, is_admin=is_admin, hosts=[host_of(run.base_url)]),
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


def _padded(values: Any, k: int) -> list[float | None]:
    values = list(values or [])[:k]
    return values + [None] * (k - len(values))


def baseline_report(run: EvalRun) -> dict[str, Any] | None:
    """The image-blind baselines stored with ``run``'s metrics, beside the model, for the run page:
    rows (model, label prior, best constant list) with Top-1..Top-K, where the model is below one
    (``below``, ``messages``) and where the label prior came from. None for metrics computed before
    baselines existed."""
    m = run.metrics or {}
    stored = m.get("baselines")
    if not isinstance(stored, dict) or not stored:
        return None
    k = int(stored.get("k") or run.k)
    model_top = list(m.get("top_k") or [])[:k]
    below = baselines_core.below_baselines(model_top, stored)
    low_ks = sorted({j for ks in below.values() for j in ks})
    rows = [{"key": "model", "title": run.model_name or run.name, "names": [], "top_k": _padded(model_top, k),
             "marked_ks": low_ks}]
    for key, title in baselines_core.BASELINES.items():
        base = stored.get(key) or {}
        rows.append({"key": key, "title": title, "names": base.get("names") or [], "top_k": _padded(base.get("top_k"), k),
                     "marked_ks": below.get(key, [])})
    return {
        **{key: stored.get(key) for key in ("n", "source", "source_note", "prior_dataset", "prior_labels",
                                            "undecided_references", "judge")},
        "k": k, "ks": list(range(1, k + 1)), "rows": rows, "below": below,
        "messages": baselines_core.below_messages(model_top, stored),
        "from_train": stored.get("source") == baselines_core.SOURCE_TRAIN,
    }


def _cell(run: EvalRun | None, k: int) -> dict[str, Any]:
    """One (model, test set) cell of a table: the run, its Top-1..Top-k and where it is below an
    image-blind baseline (``below``: baseline -> the k's; ``below_ks``: those k's)."""
    if run is None:
        return {"run": None, "top_k": [None] * k, "below": {}, "below_ks": [], "below_text": "", "overlap": 0,
                "overlap_text": ""}
    m = run.metrics or {}
    stored = m.get("baselines") if isinstance(m.get("baselines"), dict) else {}
    below = baselines_core.below_baselines(m.get("top_k") or [], stored)
    text = "; ".join(baselines_core.below_messages(m.get("top_k") or [], stored)) if below else ""
    overlap = run.overlap if isinstance(run.overlap, dict) else {}
    seen = overlap.get("count") if isinstance(overlap.get("count"), int) else 0
    return {"run": run, "top_k": _padded(m.get("top_k"), k), "below": below,
            "below_ks": sorted({j for ks in below.values() for j in ks}), "below_text": text,
            # A run scored on training images (started anyway) must not pass for a clean result in a table.
            "overlap": seen, "overlap_text": str(overlap.get("note") or "") if seen else ""}


def leaderboard(k: int = 6) -> dict[str, Any]:
    """Table 2: models (rows) × test sets (column groups of Top-1..Top-K); the latest finished run
    of each (model, test set) is the one shown, flagged where it is below an image-blind baseline of
    its own run (``flagged``, ``flag_text``; per cell ``below_ks``).

    ``baseline_rows``: the label prior and the best constant list per test set, from the newest run
    shown in that column (each run's own baselines are on its page)."""
    latest: dict[tuple[str, str], EvalRun] = {}
    for run in finished_runs().order_by("created_at"):
        latest[(run.model_name, run.test_set)] = run
    test_sets = sorted({ts for _, ts in latest})
    models = sorted({m for m, _ in latest}, key=str.casefold)
    rows = []
    for model in models:
        cells = [_cell(latest.get((model, ts)), k) for ts in test_sets]
        flags = [f"{ts}: {cell['below_text']}" for ts, cell in zip(test_sets, cells) if cell["below"]]
        seen = [f"{ts}: {cell['overlap_text']}" for ts, cell in zip(test_sets, cells) if cell["overlap"]]
        rows.append({"model": model, "cells": cells, "flagged": bool(flags), "flag_text": " | ".join(flags),
                     "overlap": bool(seen), "overlap_text": " | ".join(seen)})
    newest: dict[str, EvalRun] = {}
    for (_, ts), run in latest.items():
        if isinstance((run.metrics or {}).get("baselines"), dict) and (
                ts not in newest or (run.created_at, run.id) > (newest[ts].created_at, newest[ts].id)):
            newest[ts] = run
    baseline_rows = []
    if newest:
        for key, title in baselines_core.BASELINES.items():
            cells = []
            for ts in test_sets:
                source = newest.get(ts)
                base = (source.metrics["baselines"].get(key) or {}) if source else {}
                cells.append({"run": source, "top_k": _padded(base.get("top_k"), k), "names": base.get("names") or [],
                              "below": {}, "below_ks": []})
            baseline_rows.append({"key": key, "label": f"{title} (image-blind)", "cells": cells, "baseline": True})
    return {"k": k, "test_sets": test_sets, "rows": rows, "baseline_rows": baseline_rows}


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
        cells = [_cell(latest.get((dve, stage1, ts)), k) for ts in test_sets]
        flags = [f"{ts}: {cell['below_text']}" for ts, cell in zip(test_sets, cells) if cell["below"]]
        seen = [f"{ts}: {cell['overlap_text']}" for ts, cell in zip(test_sets, cells) if cell["overlap"]]
        rows.append({"label": label, "dve": dve, "stage1": stage1, "cells": cells, "flagged": bool(flags),
                     "flag_text": " | ".join(flags), "overlap": bool(seen), "overlap_text": " | ".join(seen)})
    return {"k": k, "test_sets": test_sets, "rows": rows}


def item_detail(item: EvalItem, user: Any = None) -> list[dict[str, Any]]:
    """One row per prediction: name, per-repeat verdicts, the judge's majority, the overrule that
    counts (``overrule``), every dermatologist's standing verdict (``standing``), ``user``'s own
    (``mine``), the full log of actions (``history``), and the category that counts."""
    judgements = list(item.judgements.order_by("repeat"))
    log = sorted(item.overrules.all(), key=lambda o: (o.created_at, o.id))  # prefetched by exports
    standing = _standing(log)
    winners = {rank: o for (_, rank), o in winning_overrules(standing).items()}
    rows = []
    for rank, name in enumerate(item.predictions[: item.run.k], start=1):
        verdicts = [j.verdicts[rank - 1] for j in judgements if len(j.verdicts) >= rank]
        majority = judge_majority(item, rank)
        over = winners.get(rank)
        rows.append({
            "rank": rank, "name": name, "verdicts": verdicts, "judge_category": majority,
            "overrule": over, "category": over.category if over else majority,
            "standing": sorted((o for o in standing if o.rank == rank), key=lambda o: (o.created_at, o.id)),
            "mine": next((o for o in standing if o.rank == rank and user is not None and o.user_id == user.pk), None),
            "history": [o for o in log if o.rank == rank],
        })
    return rows


def overrule_log(run: EvalRun) -> list[dict[str, Any]]:
    """Every overrule action on ``run`` in log order, as plain rows (the exports and the API)."""
    rows = []
    for o in (Overrule.objects.filter(item__run=run).select_related("item", "user").order_by("created_at", "id")):
        rows.append({
            "id": o.id, "item": o.item.external_id, "rank": o.rank,
            "action": "withdraw" if o.withdrawn else "overrule", "category": o.category,
            "judge_category": o.judge_category, "note": o.note,
            "user": o.user.get_username() if o.user else None, "created_at": o.created_at.isoformat(),
        })
    return rows


def reward_validation(study: str = "default") -> list[RewardValidation]:
    return list(RewardValidation.objects.filter(study=study).order_by("caption_reward"))


# --------------------------------------------------------------------------------------------------
# Leaderboard with n, intervals and the safety-critical rate (issue 13)


def wilson_interval(share: float | None, n: int | None, z: float = 1.959964) -> list[float] | None:
    """95 % Wilson score interval of a proportion ``share`` of ``n`` trials (None without trials).

    Used for the image-blind baselines, whose answer per sample is fixed (a plain binomial share);
    the models' intervals are the stored percentile bootstrap over samples (``metrics.top_k_ci95``),
    which also carries the judge repeats' spread."""
    if share is None or not n:
        return None
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((share * (1 - share) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def _board_cell(cell: dict[str, Any], k: int) -> dict[str, Any]:
    """A leaderboard cell with n, the per-k interval and the safety-critical rate of its run."""
    run = cell["run"]
    m = (run.metrics or {}) if run is not None else {}
    cis = list(m.get("top_k_ci95") or [])[:k]
    cell = dict(cell)
    cell["n"] = m.get("n")
    cell["values"] = [{"k": j, "mean": v, "ci": cis[j - 1] if j - 1 < len(cis) else None}
                      for j, v in enumerate(cell["top_k"], start=1)]
    cell["safety_critical_rate"] = m.get("safety_critical_rate")
    return cell


def leaderboard_table(k: int = 6) -> dict[str, Any]:
    """:func:`leaderboard` for the index page: every model cell with n, Top-1..Top-K and their 95 %
    intervals (bootstrap, from the run's metrics) and the safety-critical rate; every baseline cell with
    the n of the run it comes from and Wilson intervals."""
    board = leaderboard(k)
    for row in board["rows"]:
        row["cells"] = [_board_cell(c, k) for c in row["cells"]]
    for row in board["baseline_rows"]:
        cells = []
        for cell in row["cells"]:
            run = cell["run"]
            n = ((run.metrics or {}).get("baselines") or {}).get("n") if run is not None else None
            cells.append({**cell, "n": n, "safety_critical_rate": None,
                          "values": [{"k": j, "mean": v, "ci": wilson_interval(v, n)}
                                     for j, v in enumerate(cell["top_k"], start=1)]})
        row["cells"] = cells
    return board


# --------------------------------------------------------------------------------------------------
# Per-sample browser, safety-critical gallery, confusions (the verdicts stored on the items)

VERDICT_GROUPS: dict[str, tuple[str, ...]] = {
    "parent": ("parent_close", "parent_coarse", "parent_broad"),
    "wrong": ("unrelated", "invalid", "missing"),
}


def verdict_choices() -> list[tuple[str, str]]:
    """The values of the browser's verdict filter: each judge category, two families, "not judged"."""
    from evaluation.judge import CATEGORIES

    return ([(c, c.replace("_", " ")) for c in CATEGORIES]
            + [("parent", "parent (any)"), ("wrong", "wrong (unrelated, invalid, missing)"),
               ("not_judged", "not judged yet")])


def browse_items(run: EvalRun, *, verdict: str = "", safety: bool = False, overruled: bool = False,
                 label: str = "", top1: str = "") -> QuerySet[EvalItem]:
    """The items of ``run`` matching the browser's filters, in test-set order. ``verdict`` is the
    top-1 prediction's counting category (a category, a family of :data:`VERDICT_GROUPS` or
    ``not_judged``); ``safety``: some prediction is safety-critical; ``overruled``: a dermatologist's
    verdict counts; ``top1``: the top-1 prediction's name (case-insensitive)."""
    items = run.items.select_related("sample").order_by("position", "id")
    if verdict == "not_judged":
        items = items.filter(top1_category="")
    elif verdict in VERDICT_GROUPS:
        items = items.filter(top1_category__in=VERDICT_GROUPS[verdict])
    elif verdict:
        items = items.filter(top1_category=verdict)
    if safety:
        items = items.filter(safety_critical=True)
    if overruled:
        items = items.filter(overruled=True)
    if label:
        items = items.filter(reference=label)
    if top1:
        items = items.filter(predictions__0__iexact=top1)
    return items


def run_labels(run: EvalRun) -> list[str]:
    labels = run.items.order_by().values_list("reference", flat=True).distinct()
    return sorted(set(labels), key=str.casefold)


def verdict_counts(run: EvalRun) -> dict[str, int]:
    """How many items have each top-1 verdict, plus ``safety`` and ``overruled`` (the filter's counts)."""
    counts = {row["top1_category"]: row["n"] for row in
              run.items.order_by().values("top1_category").annotate(n=Count("id"))}
    out = dict(counts)
    out["not_judged"] = counts.get("", 0)
    for group, members in VERDICT_GROUPS.items():
        out[group] = sum(counts.get(m, 0) for m in members)
    flags = run.items.aggregate(safety=Count("id", filter=Q(safety_critical=True)),
                                overruled=Count("id", filter=Q(overruled=True)))
    return {**out, **flags}


def _majority(categories: list[str]) -> str:
    """Most frequent category; the earliest of the tied wins (the judge's repeat order, as judge_majority)."""
    first = categories[0]
    if all(c == first for c in categories):  # one repeat, or repeats that agree: most items of a run
        return first
    counts = Counter(categories)
    best = max(counts.values())
    return next(c for c in categories if counts[c] == best)


def item_categories(run: EvalRun, item_ids: Iterable[int] | None = None, *, item_model: Any = None,
                    judgement_model: Any = None, overrule_model: Any = None) -> tuple[dict[int, list[str]], set[int]]:
    """The category that counts at each rank of each item judged in every repeat (the judge's majority
    over the repeats, replaced by the winning dermatologist's overrule; a judged answer with no
    predictions is ``["invalid"]``), and the ids of the items a dermatologist's verdict counts on.

    Reads only the category of each verdict (not the rationales). Items not judged in every repeat are
    left out. The model arguments serve the migration that fills the stored verdicts."""
    judgement_model = judgement_model or Judgement
    overrule_model = overrule_model or Overrule
    judgements = judgement_model.objects.filter(item__run_id=run.id, repeat__lt=run.judge_repeats)
    overrules = overrule_model.objects.filter(item__run_id=run.id)
    if item_ids is not None:
        item_ids = list(item_ids)
        judgements, overrules = judgements.filter(item_id__in=item_ids), overrules.filter(item_id__in=item_ids)
    # As text (->>), not JSON: no json.loads per value, which dominated on a 16k-item run.
    ranks = {f"c{j}": KeyTextTransform("category", KeyTransform(str(j), "verdicts")) for j in range(run.k)}
    per_item: dict[int, dict[int, list[str]]] = defaultdict(dict)
    for item_id, repeat, *cats in judgements.annotate(**ranks).values_list("item_id", "repeat", *ranks):
        per_item[item_id][repeat] = [c or "missing" for c in cats[:len(cats) - _trailing_none(cats)]]
    winners: dict[int, dict[int, str]] = defaultdict(dict)
    for (item_id, rank), row in winning_overrules(_standing(overrules.order_by("created_at", "id"))).items():
        winners[item_id][rank] = row.category
    out: dict[int, list[str]] = {}
    for item_id, repeats in per_item.items():
        if len(repeats) < run.judge_repeats:
            continue
        n = max(len(cats) for cats in repeats.values())
        if n == 0:
            out[item_id] = ["invalid"]
            continue
        mine = winners.get(item_id, {})  # .get: a defaultdict lookup would mark every item as overruled
        out[item_id] = [mine.get(rank) or _majority([repeats[r][rank - 1] for r in sorted(repeats)
                                                     if len(repeats[r]) >= rank])
                        for rank in range(1, n + 1)]
    return out, set(winners)


def _trailing_none(values: list[Any]) -> int:
    n = 0
    for value in reversed(values):
        if value is not None:
            break
        n += 1
    return n


def safety_cards(run: EvalRun, items: Iterable[EvalItem]) -> list[dict[str, Any]]:
    """Gallery cards: the item, its reference and each safety-critical prediction with its rank."""
    items = list(items)
    categories, _ = item_categories(run, [i.id for i in items])
    cards = []
    for item in items:
        names = [{"rank": rank, "name": name} for rank, (name, cat) in
                 enumerate(zip(item.predictions[: run.k], categories.get(item.id, [])), start=1)
                 if cat == "safety_critical"]
        cards.append({"item": item, "predictions": names})
    return cards


def confusions(run: EvalRun, *, include_credited: bool = False) -> list[dict[str, Any]]:
    """The reference → top-1 prediction pairs of ``run``, most frequent first, for judged items whose
    top-1 is not exact (with ``include_credited=False`` also leaving out subclass and parent credit).

    Names are grouped case-insensitively (the most frequent spelling is shown); each pair carries its
    count, the share of the reference's judged items, its categories (counted) and a few items
    (``item_ids``: id and external id)."""
    excluded = {"", "exact"} if include_credited else {"", "exact", "subclass", *VERDICT_GROUPS["parent"]}
    per_reference: Counter[str] = Counter()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    rows = run.items.exclude(top1_category="").order_by("position", "id").values_list(
        "id", "external_id", "reference", "predictions", "top1_category")
    for item_id, external_id, reference, predictions, category in rows:
        per_reference[reference] += 1
        if category in excluded:
            continue
        top1 = predictions[0] if predictions else ""
        key = (reference, top1.strip().casefold())
        group = groups.setdefault(key, {"reference": reference, "spellings": Counter(), "categories": Counter(),
                                        "count": 0, "item_ids": []})
        group["count"] += 1
        group["spellings"][top1] += 1
        group["categories"][category] += 1
        if len(group["item_ids"]) < 5:
            group["item_ids"].append({"id": item_id, "external_id": external_id})
    out = []
    for group in groups.values():
        out.append({
            "reference": group["reference"], "prediction": group["spellings"].most_common(1)[0][0],
            "count": group["count"], "share": group["count"] / per_reference[group["reference"]],
            "category": group["categories"].most_common(1)[0][0],
            "categories": group["categories"].most_common(), "item_ids": group["item_ids"],
        })
    out.sort(key=lambda g: (-g["count"], g["reference"].casefold(), g["prediction"].casefold()))
    return out


# --------------------------------------------------------------------------------------------------
# Jobs started from the reward-validation and attention pages (polled through live.js)


def reward_job_progress(job: Any, *, is_admin: bool = False) -> dict[str, Any]:
    """A reward-validation job's status, counts and percent; the error redacted for non-admins."""
    return {"id": job.id, "kind": "reward_validation", "status": job.status, "done": job.done, "total": job.total,
            "percent": round(100 * job.done / job.total, 1) if job.total else 0.0,
            "finished": job.status in ("done", "failed"), "study": job.study, "models": job.models_stored,
            "error": error_for(job.error, is_admin=is_admin)}


def attention_progress(analysis: Any, *, is_admin: bool = False) -> dict[str, Any]:
    """An attention analysis's status and images done of total; the error redacted for non-admins."""
    return {"id": analysis.id, "kind": "attention", "name": analysis.name, "status": analysis.status,
            "done": analysis.done, "total": analysis.total or analysis.sample_size,
            "percent": round(100 * analysis.done / analysis.total, 1) if analysis.total else 0.0,
            "finished": analysis.status in ("done", "failed"), "error": error_for(analysis.error, is_admin=is_admin)}
