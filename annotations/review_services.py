"""Writes for the dermatologists' review: claims with a lease, revisions with optimistic versions, the
consistency re-check, decisions, and the admins' bulk actions. Every change leaves a SampleEvent."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any, Iterable

from django.db import transaction
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, Value, When
from django.utils import timezone

from annotations import drafting
from annotations.drafting_services import judge_for
from annotations.models import CaptionDraft, CaptionRevision, Dataset, FieldFrequencyAnalysis, Sample, SampleEvent
from annotations.schema import FIELDS, CaptionError, parse_caption
from webapp.gateway import CallRecorder, record_calls, shared_gateway
from webapp.llm import LLMError

LEASE = timedelta(minutes=5)
Event = SampleEvent.Kind
REJECT_REASONS = {"unusable_image": "image unusable", "label_suspected_wrong": "label suspected wrong",
                  "other": "other"}


class ReviewError(Exception):
    """A review action that cannot be done; the message says why and what to do."""


class NotClaimed(ReviewError):
    pass


class StaleVersion(ReviewError):
    """The sample's caption changed since the reviewer loaded it."""

    def __init__(self, sample: Sample, latest: CaptionRevision | None) -> None:
        who = latest.author.get_username() if latest else "someone"
        super().__init__(f"{who} saved version {sample.caption_version} of this caption while you were editing; "
                         "compare it with yours, then save again on top of it.")
        self.sample = sample
        self.latest = latest


def _free(now) -> Q:
    return Q(claimed_by__isnull=True) | Q(claim_expires_at__lte=now)


def _in_queue() -> Q:
    return Q(state=Sample.State.NEEDS_EXPERT) | Q(audit=True, state=Sample.State.AUTO_ACCEPTED)


def review_queue(user: Any = None, dataset: Dataset | None = None):
    """Samples waiting for an expert: needs_expert first, then accepted samples drawn for audit."""
    qs = Sample.objects.filter(_in_queue())
    if dataset is not None:
        qs = qs.filter(dataset=dataset)
    if user is not None:
        skipped = SampleEvent.objects.filter(sample=OuterRef("pk"), actor=user, kind=Event.SKIPPED)
        qs = qs.filter(~Exists(skipped))
    return qs.annotate(priority=Case(When(state=Sample.State.NEEDS_EXPERT, then=Value(0)), default=Value(1),
                                     output_field=IntegerField())).order_by("priority", "id")


def _candidates(user: Any, dataset: Dataset | None, now, limit: int) -> list[int]:
    """Free queue samples, oldest first: needs_expert, then audits. Two index-ordered queries instead of
    one sorted by a CASE expression, so the database stops after ``limit`` rows."""
    base = Sample.objects.filter(_free(now)).filter(
        ~Exists(SampleEvent.objects.filter(sample=OuterRef("pk"), actor=user, kind=Event.SKIPPED)))
    if dataset is not None:
        base = base.filter(dataset=dataset)
    ids = list(base.filter(state=Sample.State.NEEDS_EXPERT).order_by("id").values_list("id", flat=True)[:limit])
    if len(ids) < limit:
        ids += list(base.filter(state=Sample.State.AUTO_ACCEPTED, audit=True).order_by("id")
                    .values_list("id", flat=True)[:limit - len(ids)])
    return ids


def claim_next(user: Any, *, dataset: Dataset | None = None, lease: timedelta = LEASE,
               window: int = 50) -> Sample | None:
    """The reviewer's current claim if it is still live, else a new claim taken with a conditional UPDATE
    (``... WHERE claimed_by IS NULL OR expired``): two reviewers can never hold the same sample.

    Reviewers arriving together try the oldest ``window`` free samples in different random orders, so
    they rarely collide; a lost race just moves on to the next candidate.
    """
    now = timezone.now()
    mine = Sample.objects.filter(_in_queue(), claimed_by=user, claim_expires_at__gt=now) \
        .order_by("claim_expires_at").first()
    if mine is not None:
        Sample.objects.filter(pk=mine.pk, claimed_by=user).update(claim_expires_at=now + lease)
        return mine
    for _ in range(20):
        candidates = _candidates(user, dataset, now, window)
        if not candidates:
            return None
        random.shuffle(candidates)
        for sample_id in candidates:
            if Sample.objects.filter(_free(now), _in_queue(), pk=sample_id).update(
                    claimed_by=user, claim_expires_at=now + lease):
                SampleEvent.objects.create(sample_id=sample_id, actor=user, kind=Event.CLAIMED)
                return Sample.objects.get(pk=sample_id)
        now = timezone.now()
    return None


def heartbeat(user: Any, sample: Sample, *, lease: timedelta = LEASE) -> None:
    """Keep (or retake, if nobody else did) the claim on a sample that still waits for review."""
    now = timezone.now()
    took = Sample.objects.filter(_in_queue(), pk=sample.pk).filter(Q(claimed_by=user) | _free(now)) \
        .update(claimed_by=user, claim_expires_at=now + lease)
    if not took:
        if not Sample.objects.filter(_in_queue(), pk=sample.pk).exists():
            raise NotClaimed("This sample no longer waits for review; take the next sample.")
        raise NotClaimed("Your claim on this sample expired and another reviewer has it now; take the next sample.")


def release(user: Any, sample: Sample, kind: str = Event.RELEASED) -> None:
    with transaction.atomic():
        if Sample.objects.filter(pk=sample.pk, claimed_by=user).update(claimed_by=None, claim_expires_at=None):
            SampleEvent.objects.create(sample=sample, actor=user, kind=kind)


def skip(user: Any, sample: Sample) -> None:
    """Hand the sample back; this reviewer will not be offered it again."""
    with transaction.atomic():
        Sample.objects.filter(pk=sample.pk, claimed_by=user).update(claimed_by=None, claim_expires_at=None)
        SampleEvent.objects.create(sample=sample, actor=user, kind=Event.SKIPPED)


def _ensure_claim(user: Any, sample: Sample) -> None:
    now = timezone.now()
    if not Sample.objects.filter(pk=sample.pk).filter(Q(claimed_by=user) | _free(now)).exists():
        holder = Sample.objects.filter(pk=sample.pk).values_list("claimed_by__username", flat=True).first()
        raise NotClaimed(f"{holder} is reviewing this sample right now; take the next sample instead.")


def starting_caption(sample: Sample) -> dict[str, str] | None:
    """What the form is prefilled with: the standing caption, else the best machine attempt."""
    if sample.caption:
        return sample.caption
    best = drafting.best_attempt(list(sample.drafts.all()))
    return best.caption if best else None


def save_revision(user: Any, sample: Sample, caption: Any, base_version: int) -> CaptionRevision:
    """Store the reviewer's caption as a new version and queue its consistency re-check."""
    try:
        parsed = parse_caption(caption).to_dict()
    except CaptionError as exc:
        raise ReviewError(f"The caption is not valid: {exc}") from None
    if sample.state == Sample.State.DRAFTING:
        raise ReviewError("The machine is still drafting this sample; review it once its drafting run is done.")
    _ensure_claim(user, sample)
    with transaction.atomic():
        base = starting_caption(sample)
        new_version = base_version + 1
        if not Sample.objects.filter(pk=sample.pk, caption_version=base_version).update(
                caption_version=new_version, caption=parsed, claimed_by=user,
                claim_expires_at=timezone.now() + LEASE):
            sample.refresh_from_db()
            raise StaleVersion(sample, sample.revisions.select_related("author").order_by("-version").first())
        revision = CaptionRevision.objects.create(sample=sample, version=new_version, author=user, caption=parsed,
                                                  base_caption=base)
        changed = [f for f in FIELDS if (base or {}).get(f, "") != parsed[f]]
        SampleEvent.objects.create(sample=sample, actor=user, kind=Event.REVISION_SAVED,
                                   detail={"version": new_version, "changed": changed})
        transaction.on_commit(lambda: _enqueue_recheck(revision.pk))
    sample.refresh_from_db()
    return revision


def _enqueue_recheck(revision_id: int) -> None:
    from annotations.tasks import recheck_revision as task

    task.delay(revision_id)


def recheck_revision(revision_id: int) -> str:
    """Diagnose from the revised caption alone; consistent makes the sample expert_accepted."""
    revision = CaptionRevision.objects.select_related("sample").filter(pk=revision_id).first()
    if revision is None or revision.check_state != CaptionRevision.Check.PENDING:
        return revision.check_state if revision else "missing"
    sample = revision.sample
    gateway = shared_gateway()
    recorder = CallRecorder(purpose=f"revision:{revision.pk}")
    try:
        with record_calls(recorder):
            check = drafting.check_consistency(gateway, judge_for(gateway), revision.caption, sample.label,
                                               salt=f"revision={revision.pk}")
    except LLMError as exc:
        with transaction.atomic():
            CaptionRevision.objects.filter(pk=revision.pk).update(check_state=CaptionRevision.Check.ERROR,
                                                                  check_error=str(exc))
            SampleEvent.objects.create(sample=sample, kind=Event.CHECK_FAILED, detail={"version": revision.version,
                                                                                       "error": str(exc)})
        return CaptionRevision.Check.ERROR
    finally:
        recorder.flush()
    state = CaptionRevision.Check.CONSISTENT if check.consistent else CaptionRevision.Check.INCONSISTENT
    with transaction.atomic():
        if not CaptionRevision.objects.filter(pk=revision.pk, check_state=CaptionRevision.Check.PENDING).update(
                check_state=state, diagnoses=check.diagnoses, judge_category=check.category,
                judge_rationale=check.rationale):
            return state
        detail = {"version": revision.version, "diagnoses": check.diagnoses, "category": check.category}
        SampleEvent.objects.create(sample=sample, kind=Event.CHECK_CONSISTENT if check.consistent
                                   else Event.CHECK_INCONSISTENT, detail=detail)
        # Only while the sample still waits for review: a rejection made meanwhile stands.
        latest = Sample.objects.filter(pk=sample.pk, caption_version=revision.version,
                                       state__in=[Sample.State.NEEDS_EXPERT, Sample.State.AUTO_ACCEPTED])
        if check.consistent:
            if latest.update(state=Sample.State.EXPERT_ACCEPTED, audit=False, claimed_by=None,
                             claim_expires_at=None):
                SampleEvent.objects.create(sample=sample, actor=revision.author, kind=Event.EXPERT_ACCEPTED,
                                           detail={"version": revision.version})
        else:
            latest.update(state=Sample.State.NEEDS_EXPERT)
    return state


def reject(user: Any, sample: Sample, reason: str, note: str = "") -> None:
    if reason not in REJECT_REASONS:
        raise ReviewError(f"Choose a reason: {', '.join(REJECT_REASONS)}.")
    if reason == "other" and not note.strip():
        raise ReviewError("Say in a few words why the sample is rejected.")
    _ensure_claim(user, sample)
    with transaction.atomic():
        Sample.objects.filter(pk=sample.pk).update(state=Sample.State.REJECTED, audit=False, claimed_by=None,
                                                   claim_expires_at=None)
        SampleEvent.objects.create(sample=sample, actor=user, kind=Event.REJECTED,
                                   detail={"reason": reason, "note": note.strip()})


def bulk_accept(admin: Any, sample_ids: Iterable[int]) -> dict[str, int]:
    """Accept the best machine draft of each needs_expert sample as its caption, without review. Samples a
    dermatologist has revised or is reviewing right now are left alone (counted as skipped)."""
    accepted = skipped = 0
    now = timezone.now()
    with transaction.atomic():
        for sample in Sample.objects.filter(pk__in=list(sample_ids)).prefetch_related("drafts"):
            best = drafting.best_attempt(list(sample.drafts.all()))
            took = best is not None and Sample.objects.filter(
                _free(now), pk=sample.pk, state=Sample.State.NEEDS_EXPERT, caption_version=0,
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
