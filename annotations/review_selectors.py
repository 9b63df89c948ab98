"""Reads for the review tool: a sample's full review picture, queue counts, edit statistics."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Iterable

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from annotations import drafting
from annotations.models import CaptionRevision, Dataset, DraftingRun, Sample, SampleEvent
from annotations.schema import FIELDS
from webapp.redact import error_for, errors_in

Event = SampleEvent.Kind
#: What "my recent reviews" lists and what "undo" can take back: a reviewer's own decisions on a sample.
#: An acceptance is the outcome of a save (its re-check agreed), so it is undone by undoing that save.
REVIEW_ACTIONS = (Event.REVISION_SAVED, Event.EXPERT_OVERRIDE, Event.REJECTED, Event.SKIPPED, Event.UNDONE)
#: How long after an action its reviewer may still undo it.
UNDO_WINDOW = timedelta(minutes=10)
# Events that change nothing a reviewer decided: taking and giving back a claim.
_NOT_CHANGES = (Event.CLAIMED, Event.RELEASED)


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


def starting_caption(sample: Sample, drafts: list | None = None) -> dict[str, str] | None:
    """What the form is prefilled with: the standing caption, else the best machine attempt (of ``drafts``
    when the caller has read them already, so they are not read twice)."""
    if sample.caption:
        return sample.caption
    best = drafting.best_attempt(list(sample.drafts.all()) if drafts is None else drafts)
    return best.caption if best else None


def in_queue(sample: Sample) -> bool:
    """:func:`in_queue_q` for a sample already read: the same rule on its fields, without a query."""
    return sample.state == Sample.State.NEEDS_EXPERT or (
        bool(sample.audit) and sample.state == Sample.State.AUTO_ACCEPTED)


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


def review_detail(sample: Sample, *, is_admin: bool = False) -> dict[str, Any]:
    """Everything the review page and the review API show about one sample. ``is_admin`` lets error texts in
    the history keep internal addresses (admins fix them; others must not see them)."""
    drafts = list(sample.drafts.order_by("attempt", "created_at"))
    revisions = list(sample.revisions.select_related("author").order_by("version"))
    events = list(sample.events.select_related("actor").order_by("created_at", "id"))
    best = drafting.best_attempt(drafts)
    live_claim = sample.claimed_by_id and sample.claim_expires_at and sample.claim_expires_at > timezone.now()
    last = revisions[-1] if revisions else None
    return {
        "sample": sample,
        "drafts": drafts,
        "best_draft_id": best.pk if best else None,
        "revisions": revisions,
        "last_revision": last,
        "events": events,
        "history": history(events, revisions, is_admin=is_admin),
        "recheck": recheck_summary(last, events, is_admin=is_admin),
        # From the rows just read: the drafts once (not again for the caption), the queue rule on the sample's
        # own fields (not a second query for the row in hand).
        "caption": starting_caption(sample, drafts),
        "claimed_by": sample.claimed_by if live_claim else None,
        "reviewable": in_queue(sample),
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


def waiting_for(user: Any, dataset: Dataset | None = None) -> int:
    """How many samples "Review next sample" can still give this reviewer (in ``dataset`` when one is chosen):
    waiting for review, not skipped by them, and not held by another reviewer (their own claim counts)."""
    now = timezone.now()
    return review_queue(user, dataset).filter(free_q(now) | live_claim_q(user, now)).count()


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


def _caption_changes(before: dict | None, after: dict | None) -> list[dict[str, str]]:
    """Field by field, what a revision changed: old -> new, in schema order."""
    before, after = before or {}, after or {}
    return [{"field": f, "old": before.get(f, ""), "new": after.get(f, "")}
            for f in FIELDS if before.get(f, "") != after.get(f, "")]


def _check_words(detail: dict) -> str:
    """A re-check's outcome in words; a malformed diagnoser answer says so instead of naming no diagnosis."""
    if detail.get("error"):
        return f"could not run: {detail['error']}"
    if detail.get("category") == "invalid" or not detail.get("diagnoses"):
        why = _MALFORMED.sub("", str(detail.get("answer_error") or ""))
        return "the diagnoser's answer was malformed, so nothing was inferred" + (f" ({why})" if why else "")
    return f"inferred {', '.join(detail['diagnoses'])} ({detail.get('category') or '?'})"


# drafting.check_consistency prefixes a malformed answer's reason with this; the page says it in its own words.
_MALFORMED = re.compile(r"^the diagnoser's answer was malformed:\s*", re.IGNORECASE)


def history(events: list[SampleEvent], revisions: list[CaptionRevision], *, is_admin: bool = False
            ) -> list[dict[str, Any]]:
    """The append-only history as rows a person can read: who did what, the values a revision changed
    (old -> new per field), reasons and notes in full. The page and the API render exactly these rows."""
    by_version = {r.version: r for r in revisions}
    reasons = dict(Sample.RejectionReason.choices)
    rows = []
    for e in events:
        d = errors_in(e.detail or {}, is_admin=is_admin)
        d = d if isinstance(d, dict) else {}
        parts: list[str] = []
        changes: list[dict[str, str]] = []
        note = str(d.get("note") or "")
        version = d.get("version")
        if e.kind in (Event.REVISION_SAVED, Event.UNDONE) and version in by_version:
            revision = by_version[version]
            changes = _caption_changes(revision.base_caption, revision.caption)
        if e.kind == Event.UNDONE:
            parts.append(f"took back their {str(d.get('action', 'action')).replace('_', ' ')}")
            if version:
                parts.append(f"caption restored as v{version}")
        elif version:
            parts.append(f"v{version}")
        if e.kind == Event.REVISION_SAVED and not changes:
            parts.append("no field changed")
        if e.kind in (Event.CHECK_CONSISTENT, Event.CHECK_INCONSISTENT, Event.CHECK_FAILED):
            parts.append(_check_words(d))
        if e.kind == Event.REJECTED:
            parts.append(f"reason: {reasons.get(d.get('reason'), d.get('reason') or 'none given')}")
        if e.kind == Event.REOPENED and d.get("rejection_reason"):
            parts.append(f"had been rejected as: {reasons.get(d['rejection_reason'], d['rejection_reason'])}")
        if e.kind == Event.EXPERT_OVERRIDE and d.get("reason"):
            parts.append(f"reason: {d['reason']}")
        if e.kind == Event.NEEDS_EXPERT and d.get("why"):
            parts.append(str(d["why"]))
        if e.kind in (Event.DRAFTED, Event.DRAFT_FAILED, Event.NEEDS_EXPERT, Event.AUTO_ACCEPTED) and d.get("error"):
            parts.append(str(d["error"]))
        if e.kind == Event.DRAFTED and d.get("attempt"):
            parts.append(f"attempt {d['attempt']}" + (" consistent" if d.get("consistent") else ""))
        rows.append({"id": e.pk, "at": e.created_at, "kind": e.kind, "kind_display": e.get_kind_display(),
                     "actor": e.actor.get_username() if e.actor_id and e.actor else None,
                     "summary": " · ".join(parts), "changes": changes, "note": note})
    return rows


def recheck_summary(revision: CaptionRevision | None, events: list[SampleEvent], *, is_admin: bool = False
                    ) -> dict[str, Any] | None:
    """The latest revision's re-check as the page shows it: a headline in plain words, and per caption field
    the diagnoses the diagnoser said it read from that field (its ``key_matching_fields``)."""
    if revision is None:
        return None
    state = revision.check_state
    detail: dict = {}
    for e in reversed(events):
        if e.kind in (Event.CHECK_CONSISTENT, Event.CHECK_INCONSISTENT, Event.CHECK_FAILED) and \
                (e.detail or {}).get("version") == revision.version:
            detail = e.detail or {}
            break
    cited: dict[str, list[str]] = {}
    for item in detail.get("items") or []:
        if isinstance(item, dict) and isinstance(item.get("disease"), str):
            for f in item.get("key_matching_fields") or []:
                if f in FIELDS and item["disease"] not in cited.setdefault(f, []):
                    cited[f].append(item["disease"])
    malformed = state == CaptionRevision.Check.INCONSISTENT and (
        revision.judge_category == "invalid" or not revision.diagnoses)
    if state == CaptionRevision.Check.PENDING:
        headline = f"Re-check of v{revision.version}: checking that the caption leads back to the label…"
    elif state == CaptionRevision.Check.CONSISTENT:
        headline = (f"Re-check of v{revision.version}: consistent — the diagnoser inferred "
                    f"{', '.join(revision.diagnoses)} ({revision.judge_category}) from the caption alone.")
    elif state == CaptionRevision.Check.ERROR:
        headline = f"Re-check of v{revision.version} could not run. Save again to retry, or accept as expert."
    elif state == CaptionRevision.Check.NOT_CHECKED:
        headline = (f"v{revision.version} puts an earlier caption back (undo); it was not re-checked. "
                    "Save to re-check it.")
    elif malformed:
        headline = (f"Re-check of v{revision.version}: the diagnoser's answer was malformed, so no diagnosis "
                    "was inferred. This says nothing about your caption: save again to re-run the check, or "
                    "accept as expert.")
    else:
        headline = (f"Re-check of v{revision.version}: inconsistent — from the caption alone the diagnoser "
                    f"inferred {', '.join(revision.diagnoses)} ({revision.judge_category}), not "
                    f"{revision.sample.label}.")
    rationale = error_for(revision.judge_rationale or revision.check_error, is_admin=is_admin)
    if malformed and rationale:
        rationale = "Why it could not be read: " + _MALFORMED.sub("", rationale)
    return {"version": revision.version, "state": state, "headline": headline, "malformed": malformed,
            "diagnoses": revision.diagnoses, "category": revision.judge_category,
            "rationale": rationale,
            "raw_answer": str(detail.get("raw_answer") or ""),
            "cited": cited}


def last_action(user: Any) -> SampleEvent | None:
    """The reviewer's most recent review action (an undo counts: there is no undo of an undo)."""
    return SampleEvent.objects.filter(actor=user, kind__in=REVIEW_ACTIONS).select_related("sample") \
        .order_by("-created_at", "-id").first()


def undo_refusal(user: Any, event: SampleEvent | None, now: datetime | None = None) -> str:
    """Why the reviewer may not undo ``event`` now ("" when they may). The rule: only their last action,
    within :data:`UNDO_WINDOW`, and only while nobody else has changed the sample since."""
    now = now or timezone.now()
    if event is None:
        return "You have no review action to undo."
    if event.actor_id != user.pk or event.kind not in REVIEW_ACTIONS:
        return "You can only undo your own review actions."
    last = last_action(user)
    if last is None or last.pk != event.pk:
        return "Only your last action can be undone; this one has been followed by another."
    if event.kind == Event.UNDONE:
        return "This is already an undo; there is nothing more to take back."
    if now - event.created_at > UNDO_WINDOW:
        return (f"Undo is possible for {int(UNDO_WINDOW.total_seconds() // 60)} minutes after an action; this one "
                "is older. Open the sample to change it the usual way.")
    other = SampleEvent.objects.filter(sample_id=event.sample_id, id__gt=event.pk) \
        .exclude(actor=user).exclude(actor=None).exclude(kind__in=_NOT_CHANGES).select_related("actor").first()
    if other is not None:
        return (f"{other.actor.get_username()} changed this sample since ({other.get_kind_display()}), so your "
                "action cannot be taken back; open the sample to see its history.")
    sample = event.sample
    if sample.claimed_by_id not in (None, user.pk) and sample.claim_expires_at and sample.claim_expires_at > now:
        return "Another reviewer is reviewing this sample right now; undo is possible once they leave it."
    d = event.detail or {}
    if event.kind == Event.REVISION_SAVED and sample.caption_version != d.get("version"):
        return "The caption has changed since this save."
    if event.kind == Event.REJECTED and sample.state != Sample.State.REJECTED:
        return "This sample is no longer rejected."
    if event.kind == Event.EXPERT_OVERRIDE and (sample.state != Sample.State.EXPERT_OVERRIDE
                                                or sample.caption_version != d.get("version")):
        return "This sample is no longer accepted by your override."
    if event.kind == Event.SKIPPED and not Sample.objects.filter(in_queue_q(), pk=sample.pk).exists():
        return "This sample no longer waits for review."
    if event.kind == Event.REVISION_SAVED and sample.state not in (
            Sample.State.NEEDS_EXPERT, Sample.State.EXPERT_ACCEPTED, Sample.State.AUTO_ACCEPTED):
        return f"This sample is {sample.get_state_display()} now."
    return ""


def recent_actions(user: Any, limit: int = 20) -> list[dict[str, Any]]:
    """The reviewer's last ``limit`` review actions, newest first, each with its sample, what it did and where
    the sample stands now; the newest says whether it can be undone (and if not, why)."""
    events = list(SampleEvent.objects.filter(actor=user, kind__in=REVIEW_ACTIONS)
                  .select_related("sample", "sample__dataset").order_by("-created_at", "-id")[:limit])
    versions = {(e.sample_id, (e.detail or {}).get("version")) for e in events if e.kind == Event.REVISION_SAVED}
    checks = {(r.sample_id, r.version): r.check_state for r in CaptionRevision.objects.filter(
        sample_id__in={s for s, _ in versions}, version__in={v for _, v in versions if v})}
    reasons = dict(Sample.RejectionReason.choices)
    undone = {(e.detail or {}).get("undid") for e in events if e.kind == Event.UNDONE}
    rows = []
    for i, e in enumerate(events):
        d = e.detail or {}
        if e.kind == Event.REVISION_SAVED:
            check = checks.get((e.sample_id, d.get("version")), "")
            what = f"saved v{d.get('version')}" + {
                "consistent": " — re-check agreed: accepted", "inconsistent": " — re-check disagreed",
                "error": " — re-check could not run", "pending": " — re-checking"}.get(check, "")
        elif e.kind == Event.REJECTED:
            what = f"rejected ({reasons.get(d.get('reason'), d.get('reason'))})" + (
                f": {d['note']}" if d.get("note") else "")
        elif e.kind == Event.EXPERT_OVERRIDE:
            what = f"accepted v{d.get('version')} as expert (override): {d.get('reason', '')}"
        elif e.kind == Event.SKIPPED:
            what = "skipped"
        else:
            what = f"undid {str(d.get('action', 'an action')).replace('_', ' ')}"
        rows.append({"event": e, "id": e.pk, "at": e.created_at, "kind": e.kind, "what": what,
                     "sample": e.sample, "state": e.sample.get_state_display(), "undone": e.pk in undone,
                     "undo": (undo_refusal(user, e) or None) if i == 0 else "only your last action can be undone"})
    for row in rows:
        row["can_undo"] = row["undo"] is None
    return rows
