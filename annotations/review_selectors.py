"""Reads for the review tool: a sample's full review picture, queue counts, edit statistics."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from annotations import drafting
from annotations.models import CaptionRevision, Dataset, DraftingRun, Sample
from annotations.review_services import review_queue, starting_caption
from annotations.schema import FIELDS


def review_detail(sample: Sample) -> dict[str, Any]:
    drafts = list(sample.drafts.order_by("attempt", "created_at"))
    revisions = list(sample.revisions.select_related("author").order_by("version"))
    best = drafting.best_attempt(drafts)
    live_claim = sample.claimed_by_id and sample.claim_expires_at and sample.claim_expires_at > timezone.now()
    return {
        "sample": sample,
        "drafts": drafts,
        "best_draft_id": best.pk if best else None,
        "revisions": revisions,
        "last_revision": revisions[-1] if revisions else None,
        "events": list(sample.events.select_related("actor").order_by("created_at", "id")),
        "caption": starting_caption(sample),
        "claimed_by": sample.claimed_by if live_claim else None,
    }


def queue_counts(dataset: Dataset | None = None) -> dict[str, int]:
    qs = Sample.objects.all() if dataset is None else Sample.objects.filter(dataset=dataset)
    agg = qs.aggregate(
        needs_expert=Count("id", filter=Q(state=Sample.State.NEEDS_EXPERT)),
        audit=Count("id", filter=Q(audit=True, state=Sample.State.AUTO_ACCEPTED)),
        auto_accepted=Count("id", filter=Q(state=Sample.State.AUTO_ACCEPTED)),
        expert_accepted=Count("id", filter=Q(state=Sample.State.EXPERT_ACCEPTED)),
        rejected=Count("id", filter=Q(state=Sample.State.REJECTED)),
        drafting=Count("id", filter=Q(state=Sample.State.DRAFTING)),
        draft_failed=Count("id", filter=Q(state=Sample.State.DRAFT_FAILED)),
    )
    return agg


def waiting_for(user: Any) -> int:
    return review_queue(user).count()


def field_edit_stats(dataset: Dataset | None = None) -> list[dict[str, Any]]:
    """Per field: how many revisions changed it, and the share — which fields reviewers change most."""
    revisions = CaptionRevision.objects.all()
    if dataset is not None:
        revisions = revisions.filter(sample__dataset=dataset)
    changed = dict.fromkeys(FIELDS, 0)
    total = 0
    for caption, base in revisions.values_list("caption", "base_caption"):
        total += 1
        for f in FIELDS:
            changed[f] += (base or {}).get(f, "") != (caption or {}).get(f, "")
    rows = [{"field": f, "changed": changed[f], "share": changed[f] / total if total else 0.0} for f in FIELDS]
    return sorted(rows, key=lambda r: (-r["changed"], FIELDS.index(r["field"])))


def drafting_runs(dataset: Dataset | None = None):
    qs = DraftingRun.objects.select_related("dataset", "created_by")
    return qs if dataset is None else qs.filter(dataset=dataset)


def needs_expert_with_drafts(dataset: Dataset | None = None):
    qs = Sample.objects.filter(state=Sample.State.NEEDS_EXPERT).annotate(n_drafts=Count("drafts"))
    return qs if dataset is None else qs.filter(dataset=dataset)
