"""Reads for the review tool: a sample's full review picture, queue counts, edit statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from annotations import drafting
from annotations.models import CaptionRevision, Dataset, DraftingRun, Sample, SampleEvent
from annotations.schema import FIELDS


def free_q(now: datetime) -> Q:
    """Nobody holds a live claim on the sample."""
    return Q(claimed_by__isnull=True) | Q(claim_expires_at__lte=now)


def in_queue_q() -> Q:
    """The sample waits for an expert: the only states a reviewer may claim, save, accept, reject or skip."""
    return Q(state=Sample.State.NEEDS_EXPERT) | Q(audit=True, state=Sample.State.AUTO_ACCEPTED)


def live_claim_q(user: Any, now: datetime) -> Q:
    return Q(claimed_by=user, claim_expires_at__gt=now)


def review_queue(user: Any = None, dataset: Dataset | None = None) -> QuerySet[Sample]:
    """Samples waiting for an expert: needs_expert first, then accepted samples drawn for audit."""
    qs = Sample.objects.filter(in_queue_q())
    if dataset is not None:
        qs = qs.filter(dataset=dataset)
    if user is not None:
        skipped = SampleEvent.objects.filter(sample=OuterRef("pk"), actor=user, kind=SampleEvent.Kind.SKIPPED)
        qs = qs.filter(~Exists(skipped))
    return qs.annotate(priority=Case(When(state=Sample.State.NEEDS_EXPERT, then=Value(0)), default=Value(1),
                                     output_field=IntegerField())).order_by("priority", "id")


def starting_caption(sample: Sample) -> dict[str, str] | None:
    """What the form is prefilled with: the standing caption, else the best machine attempt."""
    if sample.caption:
        return sample.caption
    best = drafting.best_attempt(list(sample.drafts.all()))
    return best.caption if best else None


def bulk_accept_preview(sample_ids: Iterable[int], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """What bulk accept would do to each listed sample, without doing it: the draft it would accept (the
    best attempt, only when its consistency check passed) or, in words, why the sample is left alone.

    Bulk accept commits exactly the rows marked ``eligible`` here, re-checking each in its UPDATE."""
    now = now or timezone.now()
    rows = []
    samples = Sample.objects.filter(pk__in=list(sample_ids)).select_related("dataset", "claimed_by") \
        .prefetch_related("drafts").order_by("id")
    for sample in samples:
        best = drafting.best_attempt(list(sample.drafts.all()))
        if sample.state == Sample.State.REJECTED:
            why = "rejected: read-only until an admin reopens it"
        elif sample.state != Sample.State.NEEDS_EXPERT:
            why = f"no longer waits for an expert ({sample.get_state_display()})"
        elif sample.caption_version > 0:
            why = "a dermatologist has edited its caption"
        elif sample.claimed_by_id and sample.claim_expires_at and sample.claim_expires_at > now:
            why = f"{sample.claimed_by.get_username()} is reviewing it right now"
        elif best is None:
            why = "no machine attempt produced a caption"
        elif not best.consistent:
            why = "its best draft failed the consistency check: an expert must review it"
        else:
            why = ""
        rows.append({"sample": sample, "draft": best, "eligible": not why, "why_not": why,
                     "verdict": (best.judge_category or ("consistent" if best.consistent else "inconsistent"))
                     if best else ""})
    return rows


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
        "reviewable": Sample.objects.filter(in_queue_q(), pk=sample.pk).exists(),
        "override": _override_offer(sample, revisions),
    }


def _override_offer(sample: Sample, revisions: list[CaptionRevision]) -> CaptionRevision | None:
    """The saved revision an expert may accept against its re-check: the standing one, re-checked and found
    inconsistent (or unchecked after an error), while the sample still waits for review."""
    last = revisions[-1] if revisions else None
    if last is None or last.version != sample.caption_version or sample.state != Sample.State.NEEDS_EXPERT:
        return None
    return last if last.check_state in (CaptionRevision.Check.INCONSISTENT, CaptionRevision.Check.ERROR) else None


def queue_counts(dataset: Dataset | None = None) -> dict[str, int]:
    qs = Sample.objects.all() if dataset is None else Sample.objects.filter(dataset=dataset)
    agg = qs.aggregate(
        needs_expert=Count("id", filter=Q(state=Sample.State.NEEDS_EXPERT)),
        audit=Count("id", filter=Q(audit=True, state=Sample.State.AUTO_ACCEPTED)),
        auto_accepted=Count("id", filter=Q(state=Sample.State.AUTO_ACCEPTED)),
        expert_accepted=Count("id", filter=Q(state=Sample.State.EXPERT_ACCEPTED)),
        expert_override=Count("id", filter=Q(state=Sample.State.EXPERT_OVERRIDE)),
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
