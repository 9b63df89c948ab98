"""Writes for the dermatologists' review: claims with a lease, revisions with optimistic versions, the
consistency re-check, decisions, and the admins' bulk actions. Every change leaves a SampleEvent."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any, Iterable

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotations import drafting
from annotations.drafting_services import judge_for
from annotations.models import CaptionDraft, CaptionRevision, Dataset, FieldFrequencyAnalysis, Sample, SampleEvent
from annotations.review_selectors import (bulk_accept_preview, free_q, in_queue_q, live_claim_q, starting_caption,
                                          undo_refusal)
from webapp.roles import ADMIN, DERMATOLOGIST, has_role
from annotations.schema import FIELDS, CaptionError, parse_caption
from webapp.gateway import CallRecorder, record_calls, shared_gateway
from webapp.llm import LLMError

LEASE = timedelta(minutes=5)
Event = SampleEvent.Kind
REJECT_REASONS = dict(Sample.RejectionReason.choices)
# What a demotion starts from: a failed re-check of the standing caption takes these back to needs_expert.
# Not rejected (a rejection made meanwhile stands), not an override (the expert already saw the disagreement).
_DEMOTABLE = (Sample.State.NEEDS_EXPERT, Sample.State.AUTO_ACCEPTED, Sample.State.EXPERT_ACCEPTED)


class ReviewError(Exception):
    """A review action that cannot be done; the message says why and what to do. ``status_code`` is the
    HTTP status the API and pages answer with; ``errors`` maps request fields (a caption field, ``note``,
    ``reason``) to the message meant for them, so a form can show it next to the field."""

    status_code = 400

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class NotClaimed(ReviewError):
    """The caller holds no live claim on the sample (none, expired, or someone else's)."""

    status_code = 409


class NotReviewable(ReviewError):
    """The sample is in a state no reviewer may change (accepted, rejected, drafting...)."""

    status_code = 409


class NotAllowed(ReviewError):
    """The caller's role may not do this (e.g. a dermatologist reopening a rejected sample)."""

    status_code = 403


class StaleVersion(ReviewError):
    """The sample's caption changed since the reviewer loaded it."""

    status_code = 409

    def __init__(self, sample: Sample, latest: CaptionRevision | None) -> None:
        who = latest.author.get_username() if latest else "someone"
        super().__init__(f"{who} saved version {sample.caption_version} of this caption while you were editing; "
                         "compare it with yours, then save again on top of it.")
        self.sample = sample
        self.latest = latest




def _candidates(user: Any, dataset: Dataset | None, now, limit: int) -> list[int]:
    """Free queue samples, oldest first: needs_expert, then audits. Two index-ordered queries instead of
    one sorted by a CASE expression, so the database stops after ``limit`` rows."""
    base = Sample.objects.filter(free_q(now)).filter(
        ~Exists(SampleEvent.objects.filter(sample=OuterRef("pk"), actor=user, kind=Event.SKIPPED)))
    if dataset is not None:
        base = base.filter(dataset=dataset)
    ids = list(base.filter(state=Sample.State.NEEDS_EXPERT).order_by("id").values_list("id", flat=True)[:limit])
    if len(ids) < limit:
        ids += list(base.filter(state=Sample.State.AUTO_ACCEPTED, audit=True).order_by("id")
                    .values_list("id", flat=True)[:limit - len(ids)])
    return ids


def _pick_locked(user: Any, dataset: Dataset | None, now) -> Sample | None:
    """The oldest free queue sample (needs_expert, then audits), locked for the caller's transaction. Rows
    that other reviewers are claiming at this moment are skipped (SKIP LOCKED), not waited for: twenty
    reviewers arriving together get twenty different rows in one query each, with no lost races to retry."""
    base = Sample.objects.filter(free_q(now)).filter(
        ~Exists(SampleEvent.objects.filter(sample=OuterRef("pk"), actor=user, kind=Event.SKIPPED)))
    if dataset is not None:
        base = base.filter(dataset=dataset)
    # The dataset comes in the same query (the answer names it), locking only the sample's row.
    if connection.features.has_select_for_update_of:
        locked = base.select_related("dataset").select_for_update(skip_locked=True, of=("self",))
    else:
        locked = base.select_for_update(skip_locked=True)
    for queue in (Q(state=Sample.State.NEEDS_EXPERT), Q(state=Sample.State.AUTO_ACCEPTED, audit=True)):
        sample = locked.filter(queue).order_by("id").first()
        if sample is not None:
            return sample
    return None


def claim_next(user: Any, *, dataset: Dataset | None = None, lease: timedelta = LEASE,
               window: int = 50) -> Sample | None:
    """The reviewer's current claim if it is still live, else a new claim taken with a conditional UPDATE
    (``... WHERE claimed_by IS NULL OR expired``): two reviewers can never hold the same sample.

    On PostgreSQL the candidate is the oldest free sample locked with ``SKIP LOCKED``, and the claim, its
    event and the lock share one transaction (one commit). Elsewhere (SQLite, which serialises writers and
    has no row locks) reviewers arriving together try the oldest ``window`` free samples in different random
    orders, so they rarely collide; a lost race just moves on to the next candidate.

    The sample comes back as it stands after the claim, with its dataset and ``claimed_by`` filled in, so the
    caller need not read it again.
    """
    now = timezone.now()
    mine = Sample.objects.select_related("dataset").filter(in_queue_q(), claimed_by=user, claim_expires_at__gt=now) \
        .order_by("claim_expires_at").first()
    if mine is not None:
        if Sample.objects.filter(pk=mine.pk, claimed_by=user).update(claim_expires_at=now + lease):
            mine.claimed_by, mine.claim_expires_at = user, now + lease
        else:  # changed in between (another tab decided it): answer what the row says now
            mine = Sample.objects.select_related("dataset", "claimed_by").filter(pk=mine.pk).first() or mine
        return mine
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            sample = _pick_locked(user, dataset, now)
            if sample is None:
                return None
            # The conditional UPDATE stays the guarantee; the row lock only spares the retries.
            if Sample.objects.filter(free_q(now), in_queue_q(), pk=sample.pk).update(
                    claimed_by=user, claim_expires_at=now + lease):
                SampleEvent.objects.create(sample_id=sample.pk, actor=user, kind=Event.CLAIMED)
                sample.claimed_by, sample.claim_expires_at = user, now + lease
                return sample
    for _ in range(20):
        candidates = _candidates(user, dataset, now, window)
        if not candidates:
            return None
        random.shuffle(candidates)
        for sample_id in candidates:
            with transaction.atomic():
                if Sample.objects.filter(free_q(now), in_queue_q(), pk=sample_id).update(
                        claimed_by=user, claim_expires_at=now + lease):
                    SampleEvent.objects.create(sample_id=sample_id, actor=user, kind=Event.CLAIMED)
                    return Sample.objects.select_related("dataset", "claimed_by").get(pk=sample_id)
        now = timezone.now()
    return None


def heartbeat(user: Any, sample: Sample, *, lease: timedelta = LEASE) -> None:
    """Keep (or retake, if nobody else did) the claim on a sample that still waits for review."""
    now = timezone.now()
    took = Sample.objects.filter(in_queue_q(), pk=sample.pk).filter(Q(claimed_by=user) | free_q(now)) \
        .update(claimed_by=user, claim_expires_at=now + lease)
    if not took:
        if not Sample.objects.filter(in_queue_q(), pk=sample.pk).exists():
            raise NotClaimed("This sample no longer waits for review; take the next sample.")
        raise NotClaimed("Your claim on this sample expired and another reviewer has it now; take the next sample.")


def release(user: Any, sample: Sample, kind: str = Event.RELEASED) -> bool:
    """Give up the caller's claim (the page was closed); True if there was one. Never an error: a page
    closing after its claim was lost has nothing to release."""
    with transaction.atomic():
        if Sample.objects.filter(pk=sample.pk, claimed_by=user).update(claimed_by=None, claim_expires_at=None):
            SampleEvent.objects.create(sample=sample, actor=user, kind=kind)
            return True
    return False


def _refusal(user: Any, sample_id: int, now) -> ReviewError | None:
    """Why the caller may not change the sample now, or None: it must wait for review (needs_expert, or an
    accepted sample drawn for audit) and the caller must hold a live claim on it."""
    current = Sample.objects.filter(pk=sample_id).select_related("claimed_by").first()
    if current is None:
        return NotReviewable("This sample no longer exists; take the next sample.")
    if not Sample.objects.filter(in_queue_q(), pk=sample_id).exists():
        state = current.get_state_display()
        if current.state == Sample.State.REJECTED:
            return NotReviewable(f"This sample is rejected ({current.get_rejection_reason_display() or 'no reason'}) "
                                 "and read-only; ask an admin to reopen it if the rejection was wrong.")
        if current.state == Sample.State.DRAFTING:
            return NotReviewable("The machine is still drafting this sample; review it once its drafting run "
                                 "is done.")
        if current.state in (Sample.State.NEW, Sample.State.DRAFT_FAILED):
            return NotReviewable(f"This sample is {state}: it has no machine draft to review yet. Review it once a "
                                 "drafting run has finished with it.")
        return NotReviewable(f"This sample is {state} and no longer waits for review; take the next sample "
                             "(an admin can draw accepted samples for audit).")
    live = current.claimed_by_id and current.claim_expires_at and current.claim_expires_at > now
    if live and current.claimed_by_id == user.pk:
        return None
    if live:
        return NotClaimed(f"{current.claimed_by.get_username()} is reviewing this sample right now; "
                          "take the next sample instead.")
    if current.claimed_by_id == user.pk:
        return NotClaimed("Your claim on this sample expired; reload the page to claim it again (copy your edits "
                          "first), or take the next sample.")
    return NotClaimed("You have not claimed this sample: open it with 'Review next sample' (or reload its page "
                      "while nobody else reviews it) before changing it.")


def _ensure_claim(user: Any, sample: Sample) -> None:
    """Raise unless the caller holds a live claim on a sample that waits for review. The writes repeat the
    condition in their UPDATE, so a claim lost in between still changes nothing."""
    refusal = _refusal(user, sample.pk, timezone.now())
    if refusal is not None:
        raise refusal


def _claim_lost(user: Any, sample: Sample) -> ReviewError:
    """The error for a conditional UPDATE that found the claim gone."""
    return _refusal(user, sample.pk, timezone.now()) or NotClaimed(
        "Your claim on this sample ended just now; reload the page to claim it again.")


def _claimed(user: Any, sample_id: int, now):
    """The sample, only while the caller's claim on it is live and it waits for review (for conditional UPDATEs)."""
    return Sample.objects.filter(in_queue_q(), live_claim_q(user, now), pk=sample_id)


def skip(user: Any, sample: Sample) -> None:
    """Hand the sample back; this reviewer will not be offered it again."""
    _ensure_claim(user, sample)
    with transaction.atomic():
        if not _claimed(user, sample.pk, timezone.now()).update(claimed_by=None, claim_expires_at=None):
            raise _claim_lost(user, sample)
        SampleEvent.objects.create(sample=sample, actor=user, kind=Event.SKIPPED)


def save_revision(user: Any, sample: Sample, caption: Any, base_version: int) -> CaptionRevision:
    """Store the reviewer's caption as a new version and queue its consistency re-check. Needs the caller's
    live claim on a sample that waits for review (:class:`NotClaimed` / :class:`NotReviewable` otherwise)."""
    try:
        parsed = parse_caption(caption).to_dict()
    except CaptionError as exc:
        # By the field, the message drops its "lesion_type: " prefix: the field it stands next to says that.
        beside = str(exc).removeprefix(f"{exc.field}: ") if exc.field else ""
        raise ReviewError(f"The caption is not valid: {exc}",
                          {exc.field: beside[:1].upper() + beside[1:]} if exc.field else None) from None
    # No claim check up front: the conditional UPDATE below repeats it, and its failure path gives the same
    # refusal (two queries fewer on every save).
    with transaction.atomic():
        base = starting_caption(sample)
        new_version = base_version + 1
        now = timezone.now()
        if not _claimed(user, sample.pk, now).filter(caption_version=base_version).update(
                caption_version=new_version, caption=parsed, claim_expires_at=now + LEASE):
            refusal = _refusal(user, sample.pk, timezone.now())
            if refusal is not None:
                raise refusal
            sample.refresh_from_db()
            raise StaleVersion(sample, sample.revisions.select_related("author").order_by("-version").first())
        revision = CaptionRevision.objects.create(sample=sample, version=new_version, author=user, caption=parsed,
                                                  base_caption=base)
        changed = [f for f in FIELDS if (base or {}).get(f, "") != parsed[f]]
        SampleEvent.objects.create(sample=sample, actor=user, kind=Event.REVISION_SAVED,
                                   detail={"version": new_version, "changed": changed})
        transaction.on_commit(lambda: _enqueue_recheck(revision.pk))
    # What the UPDATE changed, without reading the row again.
    sample.caption_version, sample.caption, sample.claim_expires_at = new_version, parsed, now + LEASE
    return revision


def _enqueue_recheck(revision_id: int) -> None:
    from annotations.tasks import recheck_revision as task

    task.delay(revision_id)


def _demote(sample: Sample, revision: CaptionRevision, why: str) -> None:
    """The standing caption (this revision) is not vouched for by its re-check: an accepted sample goes back
    to the experts, whoever saved it, with the caption kept as its latest version."""
    for old in (Sample.State.AUTO_ACCEPTED, Sample.State.EXPERT_ACCEPTED):
        if Sample.objects.filter(pk=sample.pk, caption_version=revision.version, state=old).update(
                state=Sample.State.NEEDS_EXPERT, audit=False):
            SampleEvent.objects.create(sample=sample, kind=Event.NEEDS_EXPERT,
                                       detail={"version": revision.version, "from": old, "why": why})
            return


class _KeepsDiagnoserReply:
    """The gateway as the re-check uses it, remembering the diagnoser's reply text: when that answer is
    malformed the reviewer is shown what the model actually wrote, not just that it could not be read."""

    def __init__(self, gateway: Any) -> None:
        self._gateway = gateway
        self.diagnoser_reply = ""

    def chat(self, role: str, messages: list[dict], **kwargs: Any) -> Any:
        result = self._gateway.chat(role, messages, **kwargs)
        if role == "diagnoser":
            self.diagnoser_reply = result.text or ""
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)


def recheck_revision(revision_id: int) -> str:
    """Diagnose from the revised caption alone. Consistent makes the sample expert_accepted; inconsistent, or a
    check that could not run, puts an accepted sample whose standing caption this is back to needs_expert."""
    revision = CaptionRevision.objects.select_related("sample").filter(pk=revision_id).first()
    if revision is None or revision.check_state != CaptionRevision.Check.PENDING:
        return revision.check_state if revision else "missing"
    sample = revision.sample
    gateway = shared_gateway()
    answers = _KeepsDiagnoserReply(gateway)
    recorder = CallRecorder(purpose=f"revision:{revision.pk}")
    try:
        with record_calls(recorder):
            check = drafting.check_consistency(answers, judge_for(gateway), revision.caption, sample.label,
                                               salt=f"revision={revision.pk}")
    except LLMError as exc:
        with transaction.atomic():
            if CaptionRevision.objects.filter(pk=revision.pk, check_state=CaptionRevision.Check.PENDING).update(
                    check_state=CaptionRevision.Check.ERROR, check_error=str(exc)):
                SampleEvent.objects.create(sample=sample, kind=Event.CHECK_FAILED,
                                           detail={"version": revision.version, "error": str(exc)})
                # An unchecked caption is not vouched for either.
                _demote(sample, revision, "the re-check could not run")
        return CaptionRevision.Check.ERROR
    finally:
        recorder.flush()
    state = CaptionRevision.Check.CONSISTENT if check.consistent else CaptionRevision.Check.INCONSISTENT
    with transaction.atomic():
        if not CaptionRevision.objects.filter(pk=revision.pk, check_state=CaptionRevision.Check.PENDING).update(
                check_state=state, diagnoses=check.diagnoses, judge_category=check.category,
                judge_rationale=check.rationale):
            return state
        detail = {"version": revision.version, "diagnoses": check.diagnoses, "category": check.category,
                  # Which caption fields the diagnoser read each diagnosis from: the page shows them by the field.
                  "items": _cited_fields(check.items)}
        if not check.diagnoses:
            # A malformed answer infers nothing: keep why, so the page can say so instead of naming no diagnosis.
            detail["answer_error"] = check.rationale
            detail["raw_answer"] = answers.diagnoser_reply[:2000]
        SampleEvent.objects.create(sample=sample, kind=Event.CHECK_CONSISTENT if check.consistent
                                   else Event.CHECK_INCONSISTENT, detail=detail)
        if check.consistent:
            # Only while the sample still waits for review: a rejection made meanwhile stands.
            latest = Sample.objects.filter(pk=sample.pk, caption_version=revision.version,
                                           state__in=[Sample.State.NEEDS_EXPERT, Sample.State.AUTO_ACCEPTED])
            if latest.update(state=Sample.State.EXPERT_ACCEPTED, audit=False, claimed_by=None,
                             claim_expires_at=None):
                SampleEvent.objects.create(sample=sample, actor=revision.author, kind=Event.EXPERT_ACCEPTED,
                                           detail={"version": revision.version})
        else:
            _demote(sample, revision, "the re-check inferred another diagnosis")
    return state


def _cited_fields(items: Any) -> list[dict[str, Any]]:
    """The diagnoser's items reduced to disease and cited caption fields; anything else an LLM wrote is dropped."""
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("disease"), str):
            continue
        cited = item.get("key_matching_fields")
        out.append({"disease": item["disease"][:200],
                    "key_matching_fields": [f for f in cited if f in FIELDS] if isinstance(cited, list) else []})
    return out[:10]


def accept_override(user: Any, sample: Sample, reason: str, version: int) -> Sample:
    """"Accept as expert" although the re-check of the saved caption ``version`` disagreed (or could not
    run): the sample becomes ``expert_override`` (accepted for training, told apart in snapshots) and the
    reason goes into its history. Needs the caller's live claim and a finished, non-consistent re-check."""
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError("Say why you accept this caption although the re-check disagrees: the reason is kept "
                          "in the sample's history.", {"reason": "Required: why you accept it anyway."})
    _ensure_claim(user, sample)
    sample.refresh_from_db()
    revision = sample.revisions.select_related("author").filter(version=version).first()
    if sample.caption_version != version:
        raise StaleVersion(sample, sample.revisions.select_related("author").order_by("-version").first())
    if revision is None:
        raise ReviewError("Save your caption first: an override accepts a saved caption whose re-check disagreed.")
    if revision.check_state == CaptionRevision.Check.PENDING:
        err = ReviewError(f"The re-check of v{version} is still running; wait for its verdict (a consistent "
                          "caption is accepted without an override).")
        err.status_code = 409
        raise err
    if revision.check_state == CaptionRevision.Check.CONSISTENT:
        raise ReviewError(f"The re-check of v{version} agreed with the label: no override is needed.")
    with transaction.atomic():
        if not _claimed(user, sample.pk, timezone.now()).filter(caption_version=version).update(
                state=Sample.State.EXPERT_OVERRIDE, audit=False, claimed_by=None, claim_expires_at=None):
            raise _claim_lost(user, sample)
        SampleEvent.objects.create(sample=sample, actor=user, kind=Event.EXPERT_OVERRIDE, detail={
            "version": version, "reason": reason, "check": revision.check_state, "diagnoses": revision.diagnoses,
            "category": revision.judge_category})
    sample.refresh_from_db()
    return sample


def reject(user: Any, sample: Sample, reason: str, note: str = "") -> None:
    """Reject the claimed sample; ``reason`` (a :class:`Sample.RejectionReason`) decides what it is removed
    from (:data:`annotations.selectors.REJECTION_REMOVES`). It stays read-only until an admin reopens it."""
    if reason not in REJECT_REASONS:
        raise ReviewError(f"Choose a reason: {', '.join(REJECT_REASONS)}.", {"reason": "Choose a reason."})
    if reason == Sample.RejectionReason.OTHER and not note.strip():
        raise ReviewError("Say in a few words why the sample is rejected.",
                          {"note": "Required when the reason is 'other': say in a few words why."})
    _ensure_claim(user, sample)
    with transaction.atomic():
        if not _claimed(user, sample.pk, timezone.now()).update(
                state=Sample.State.REJECTED, rejection_reason=reason, audit=False, claimed_by=None,
                claim_expires_at=None):
            raise _claim_lost(user, sample)
        SampleEvent.objects.create(sample=sample, actor=user, kind=Event.REJECTED,
                                   detail={"reason": reason, "note": note.strip()})


def reopen(admin: Any, sample: Sample, note: str = "") -> Sample:
    """Admins: take a rejected sample back to ``needs_expert`` (its rejection reason is cleared; the
    rejection stays in the history)."""
    if not has_role(admin, ADMIN):
        raise NotAllowed("Only an admin can reopen a rejected sample; ask one if you think the rejection was wrong.")
    with transaction.atomic():
        previous = Sample.objects.select_for_update().filter(pk=sample.pk).values_list(
            "state", "rejection_reason").first()
        if previous is None or previous[0] != Sample.State.REJECTED:
            state = Sample.State(previous[0]).label if previous else "gone"
            raise NotReviewable(f"Only a rejected sample can be reopened; this one is {state}.")
        Sample.objects.filter(pk=sample.pk).update(state=Sample.State.NEEDS_EXPERT, rejection_reason="",
                                                   audit=False, claimed_by=None, claim_expires_at=None)
        SampleEvent.objects.create(sample=sample, actor=admin, kind=Event.REOPENED,
                                   detail={"rejection_reason": previous[1], "note": note.strip()})
    sample.refresh_from_db()
    return sample


# Undoing an acceptance does not reach into training data already built from it: say so every time.
_SNAPSHOTS_STAND = ("A training snapshot built before this undo keeps the sample as it froze it (snapshots never "
                    "change); snapshots built from now on follow the undo.")


def undo(user: Any, event_id: int) -> dict[str, Any]:
    """Take back the reviewer's last review action (:data:`review_selectors.REVIEW_ACTIONS`), within
    :data:`review_selectors.UNDO_WINDOW` and only while nobody else changed the sample since
    (:func:`review_selectors.undo_refusal` says why not). Nothing is deleted: the sample goes back to
    ``needs_expert`` under a fresh claim of this reviewer, a save is reverted by a new revision that restores
    the caption it replaced (not re-checked), and an ``undone`` event records what was taken back.

    Returns ``{"sample": Sample, "message": str}``; raises :class:`NotClaimed` (409) when refused."""
    event = SampleEvent.objects.select_related("sample").filter(pk=event_id).first()
    with transaction.atomic():
        if event is not None:
            # The row lock orders this undo against a concurrent save, claim or decision on the sample.
            Sample.objects.select_for_update().filter(pk=event.sample_id).first()
            event.sample.refresh_from_db()
        why = undo_refusal(user, event)
        if why:
            raise NotClaimed(why)
        sample, detail, now = event.sample, dict(event.detail or {}), timezone.now()
        back = {"state": Sample.State.NEEDS_EXPERT, "audit": False, "claimed_by": user,
                "claim_expires_at": now + LEASE}
        record: dict[str, Any] = {"undid": event.pk, "action": event.kind}
        message = ""
        if event.kind == Event.SKIPPED:
            # Only the claim comes back; the sample's state is untouched. (The skip itself stays in the
            # history, so "Review next sample" still passes it over once this claim is given up.)
            Sample.objects.filter(pk=sample.pk).update(claimed_by=user, claim_expires_at=now + LEASE)
            message = "The sample is yours again."
        elif event.kind == Event.REJECTED:
            Sample.objects.filter(pk=sample.pk).update(rejection_reason="", **back)
            record["rejection_reason"] = detail.get("reason", "")
            message = "The rejection is taken back; the sample waits for your review again."
        elif event.kind == Event.EXPERT_OVERRIDE:
            Sample.objects.filter(pk=sample.pk).update(**back)
            message = "The override is taken back; the sample waits for your review again. " + _SNAPSHOTS_STAND
        else:  # a saved revision: put back the caption it replaced, as a new version
            saved = sample.revisions.get(version=detail["version"])
            # Exactly what stood before (even a value the schema would refuse today): an undo restores, it
            # does not re-validate; the next save validates as always.
            restored = {f: str((saved.base_caption or {}).get(f, "")) for f in FIELDS}
            version = sample.caption_version + 1
            was_accepted = sample.state != Sample.State.NEEDS_EXPERT
            Sample.objects.filter(pk=sample.pk).update(caption=restored, caption_version=version, **back)
            CaptionRevision.objects.create(sample=sample, version=version, author=user, caption=restored,
                                           base_caption=saved.caption, check_state=CaptionRevision.Check.NOT_CHECKED)
            record.update(version=version, reverted=saved.version)
            message = f"Your v{saved.version} is taken back: v{version} restores the caption before it." + (
                " " + _SNAPSHOTS_STAND if was_accepted else "")
        SampleEvent.objects.create(sample=sample, actor=user, kind=Event.UNDONE, detail=record)
    sample.refresh_from_db()
    return {"sample": sample, "message": message}


def mark_identifying(user: Any, sample: Sample, identifying: bool, note: str = "") -> Sample:
    """Mark (or unmark) the sample's picture as showing identifying content (a face, tattoo, jewellery, a
    name in the picture). A marked sample leaves training snapshots and evaluation test sets
    (:func:`annotations.selectors.eligible_samples`). Any dermatologist or admin may do it at any time, with or
    without a claim and whatever the sample's state: protecting a patient must not wait for the workflow.
    Each change leaves an event (who, when, note); setting what is already set changes nothing."""
    if not has_role(user, DERMATOLOGIST, ADMIN):
        raise NotAllowed("Only dermatologists and admins can mark identifying content.")
    note = " ".join((note or "").split())
    if len(note) > 500:
        raise ReviewError(f"The note is {len(note)} characters long; keep it under 500.")
    with transaction.atomic():
        if Sample.objects.filter(pk=sample.pk).exclude(identifying_content=identifying).update(
                identifying_content=identifying):
            SampleEvent.objects.create(sample=sample, actor=user,
                                       kind=Event.IDENTIFYING_FLAGGED if identifying else Event.IDENTIFYING_CLEARED,
                                       detail={"note": note})
    sample.refresh_from_db()
    return sample


def bulk_accept(admin: Any, sample_ids: Iterable[int]) -> dict[str, int]:
    """Accept the best machine draft of each listed needs_expert sample as its caption, without review, but
    only a draft whose consistency check passed: :func:`review_selectors.bulk_accept_preview` says which
    (and why the others are left alone). Samples claimed, edited by a dermatologist or rejected are never
    touched; the UPDATE repeats those conditions, so a sample claimed since the preview is skipped too."""
    accepted = skipped = 0
    now = timezone.now()
    with transaction.atomic():
        for row in bulk_accept_preview(sample_ids, now=now):
            sample, best = row["sample"], row["draft"]
            took = row["eligible"] and Sample.objects.filter(
                free_q(now), pk=sample.pk, state=Sample.State.NEEDS_EXPERT, caption_version=0,
            ).update(state=Sample.State.AUTO_ACCEPTED, caption=best.caption, claimed_by=None, claim_expires_at=None)
            if not took:
                skipped += 1
                continue
            SampleEvent.objects.create(sample=sample, actor=admin, kind=Event.BULK_ACCEPTED,
                                       detail={"draft": best.pk, "attempt": best.attempt})
            accepted += 1
    return {"accepted": accepted, "skipped": skipped}


def draw_audit(admin: Any, dataset: Dataset, count: int, seed: int | None = None) -> int:
    """Mark ``count`` random auto-accepted samples of the dataset for expert audit."""
    ids = list(Sample.objects.filter(dataset=dataset, state=Sample.State.AUTO_ACCEPTED, audit=False)
               .values_list("id", flat=True))
    chosen = random.Random(seed).sample(ids, min(count, len(ids)))
    with transaction.atomic():
        Sample.objects.filter(id__in=chosen).update(audit=True)
        SampleEvent.objects.bulk_create([SampleEvent(sample_id=i, actor=admin, kind=Event.AUDIT_DRAWN)
                                         for i in chosen])
    return len(chosen)


def analyse_field_frequency(dataset: Dataset | None = None, user: Any = None) -> FieldFrequencyAnalysis:
    """Count filled fields over structured captions and cited fields over diagnoser answers; the citation
    shares become the caption-reward weights (fill shares when nothing was cited, else uniform)."""
    drafts = CaptionDraft.objects.all()
    revisions = CaptionRevision.objects.all()
    if dataset is not None:
        drafts, revisions = drafts.filter(sample__dataset=dataset), revisions.filter(sample__dataset=dataset)
    filled = dict.fromkeys(FIELDS, 0)
    cited = dict.fromkeys(FIELDS, 0)
    captions = answers = 0
    for caption in list(drafts.exclude(caption=None).values_list("caption", flat=True)) + \
            list(revisions.values_list("caption", flat=True)):
        captions += 1
        for f in FIELDS:
            filled[f] += bool((caption or {}).get(f))
    for items in drafts.exclude(diagnosis_items=[]).values_list("diagnosis_items", flat=True):
        answers += 1
        # The fields come straight from an LLM: anything but a list of known names is ignored.
        named = {f for item in (items if isinstance(items, list) else []) if isinstance(item, dict)
                 for f in (item.get("key_matching_fields") if isinstance(item.get("key_matching_fields"), list) else [])
                 if isinstance(f, str) and f in cited}
        for f in named:
            cited[f] += 1
    basis = cited if sum(cited.values()) else filled if sum(filled.values()) else dict.fromkeys(FIELDS, 1)
    total = sum(basis.values())
    weights = {f: basis[f] / total for f in FIELDS}
    return FieldFrequencyAnalysis.objects.create(dataset=dataset, captions=captions, answers=answers, filled=filled,
                                                 cited=cited, weights=weights, created_by=user)
