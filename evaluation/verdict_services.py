"""The verdict that counts per item, stored on the item (``top1_category``, ``safety_critical``,
``overruled``) so that the per-sample browser, the safety-critical gallery and the confusion view filter
in SQL instead of re-reading every judgement of a run.

The rule is ``selectors.item_categories`` (the judge's majority per rank, replaced by the winning
dermatologist's overrule). Written by ``services.recompute_metrics``, which runs whenever judgements or
overrules change, so the stored verdicts never disagree with the metrics.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

NOT_JUDGED = ""
_CHUNK = 5000  # ids per UPDATE ... WHERE id IN (...)


def store_item_verdicts(run: Any, item_ids: list[int] | None = None, *, item_model: Any = None,
                        judgement_model: Any = None, overrule_model: Any = None) -> int:
    """Store the counting verdicts of the items of ``run`` (all, or only ``item_ids``: an overrule
    changes one item); returns how many items changed.

    Only changed rows are written, one UPDATE per distinct (verdict, safety-critical, overruled) value
    (a handful per run), not one per row: a Fitzpatrick17k-sized first write stays well under a second
    and an overrule writes one row. The model arguments let the migration that adds the fields fill them
    with its historical models.
    """
    from evaluation.selectors import item_categories

    if item_model is None:
        from evaluation.models import EvalItem as item_model
    categories, overruled = item_categories(run, item_ids, item_model=item_model, judgement_model=judgement_model,
                                            overrule_model=overrule_model)
    items = item_model.objects.filter(run_id=run.id)
    if item_ids is not None:
        items = items.filter(id__in=item_ids)
    groups: dict[tuple[str, bool, bool], list[int]] = defaultdict(list)
    for item_id, top1, safety, was_overruled in items.values_list("id", "top1_category", "safety_critical", "overruled"):
        cats = categories.get(item_id) or []
        new = (cats[0] if cats else NOT_JUDGED, "safety_critical" in cats, item_id in overruled)
        if new != (top1, safety, was_overruled):
            groups[new].append(item_id)
    changed = 0
    for (top1, safety, was_overruled), ids in groups.items():
        for start in range(0, len(ids), _CHUNK):
            changed += item_model.objects.filter(id__in=ids[start:start + _CHUNK]).update(
                top1_category=top1, safety_critical=safety, overruled=was_overruled)
    return changed
