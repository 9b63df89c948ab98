"""Writes for machine annotation: drafting runs, one idempotent job per sample, cancel and resume.

A job is safe to run twice (Celery acks late, so a killed worker's job is delivered again): attempts
already stored are reused, never redone, and a unique (job, attempt) constraint makes a duplicate draft
impossible even if two workers race. LLM answers of an interrupted attempt come back from the response
cache, so a re-run never pays twice.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from annotations import drafting
from annotations.imaging import IDENTIFYING_REFUSAL, NotScrubbed, model_ready_image
from annotations.models import CaptionDraft, Dataset, DraftingRun, DraftJob, Sample, SampleEvent
from annotations.selectors import eligible_samples, identifying, identifying_refusal
from webapp import reaper
from webapp.gateway import CallRecorder, record_calls, shared_gateway
from webapp.llm import LLMError

log = logging.getLogger(__name__)
Event = SampleEvent.Kind

_judge: Any = None
_judge_lock = threading.Lock()


def judge_for(gateway: Any) -> Any:
    """The clinical judge bound to ``gateway``: one per process, replaced when the gateway is (its memo of
    LLM verdicts would otherwise keep every old gateway alive). Built under a lock: the first jobs of a
    worker arrive together on all its threads."""
    global _judge
    from evaluation.judge import ClinicalJudge

    judge = _judge
    if judge is None or judge.gateway is not gateway:
        with _judge_lock:
            judge = _judge
            if judge is None or judge.gateway is not gateway:
                judge = _judge = ClinicalJudge(gateway=gateway)
    return judge


class DraftingRejected(Exception):
    """The run cannot be created as asked; the message says why."""


def create_run(dataset: Dataset, *, user: Any = None, split: str = "", max_attempts: int = 5,
               consistency_k: int = 1, fresh_answers: bool = False,
               only_states: tuple[str, ...] = (Sample.State.NEW, Sample.State.DRAFT_FAILED)) -> DraftingRun:
    """Create a run with a job for every selected sample (with an image and no human caption) and enqueue
    them after commit. A broker that is down does not fail the request: the jobs stay queued and the
    reaper sends them once the broker is back."""
    if not 1 <= max_attempts <= 10:
        raise DraftingRejected("max_attempts must be between 1 and 10.")
    if not 1 <= consistency_k <= drafting.DIAGNOSIS_K:
        raise DraftingRejected(f"consistency_k must be between 1 and {drafting.DIAGNOSIS_K} (the diagnoser lists "
                               f"{drafting.DIAGNOSIS_K} diagnoses).")
    # caption_version 0: a caption a dermatologist wrote is never redrafted by the machine. eligible_samples
    # applies the review rules, identifying content included (such a photo is not sent to a drafting
    # endpoint, which may be hosted); jobs created before the mark was set are refused at the door.
    samples = eligible_samples("drafting", dataset=dataset, split=split).filter(state__in=only_states,
                                                                                  caption_version=0)
    ids = list(samples.values_list("id", flat=True))
    if not ids:
        raise DraftingRejected(f"No sample of {dataset.name} is waiting for a draft (states {', '.join(only_states)}"
                               f"{', split ' + split if split else ''}, with an image, no caption written by a "
                               "dermatologist and not marked as identifying).")
    with transaction.atomic():
        run = DraftingRun.objects.create(dataset=dataset, split=split, max_attempts=max_attempts,
                                         consistency_k=consistency_k, prompt_version=drafting.PROMPT_VERSION,
                                         fresh_answers=fresh_answers, created_by=user)
        DraftJob.objects.bulk_create([DraftJob(run=run, sample_id=i) for i in ids], batch_size=2000)
        Sample.objects.filter(id__in=ids).update(state=Sample.State.DRAFTING, last_error="")
        transaction.on_commit(lambda: enqueue_jobs(run.id))
    return run


def enqueue_jobs(run_id: int, job_ids: Iterable[int] | None = None) -> int:
    """Send the run's pending jobs (or ``job_ids`` of them) to the llm queue; returns how many were sent.

    Idempotent: a job delivered twice runs once (see :func:`draft_sample`). A broker error is logged, not
    raised: the jobs not sent keep ``enqueued_at`` empty and the reaper sends them when the broker is back.
    """
    from annotations.tasks import draft_sample

    pending = DraftJob.objects.filter(run_id=run_id, state=DraftJob.State.PENDING)
    if job_ids is not None:
        pending = pending.filter(id__in=list(job_ids))
    ids = list(pending.order_by("id").values_list("id", flat=True))
    sent: list[int] = []
    try:
        for job_id in ids:
            draft_sample.delay(job_id)
            sent.append(job_id)
            if len(sent) % 500 == 0:
                _mark_enqueued(sent[-500:])
    except Exception as exc:  # noqa: BLE001 - any broker error: the reaper retries, the user is not shown a 500
        log.warning("drafting run %s: the task queue is unreachable (%s); %d job(s) wait for the reaper",
                    run_id, exc, len(ids) - len(sent))
    _mark_enqueued(sent[len(sent) - len(sent) % 500:] if len(sent) % 500 else [])
    return len(sent)


def _mark_enqueued(job_ids: list[int]) -> None:
    if job_ids:
        DraftJob.objects.filter(id__in=job_ids).update(enqueued_at=timezone.now())


def broker_waiting(run: DraftingRun) -> int:
    """How many pending jobs of the run were never handed to the broker (it was down)."""
    return DraftJob.objects.filter(run=run, state=DraftJob.State.PENDING, enqueued_at__isnull=True).count()


def cancel_run(run: DraftingRun) -> int:
    """Stop a run: pending jobs are cancelled now; a job in flight stops after its current attempt."""
    with transaction.atomic():
        DraftingRun.objects.filter(pk=run.pk, state__in=[DraftingRun.State.QUEUED, DraftingRun.State.RUNNING]) \
            .update(state=DraftingRun.State.CANCELLED, finished_at=timezone.now())
        pending = DraftJob.objects.filter(run=run, state=DraftJob.State.PENDING)
        sample_ids = list(pending.values_list("sample_id", flat=True))
        n = pending.update(state=DraftJob.State.CANCELLED)
        Sample.objects.filter(id__in=sample_ids, state=Sample.State.DRAFTING).update(state=Sample.State.NEW)
    return n


_RESUMABLE_SAMPLE_STATES = (Sample.State.NEW, Sample.State.DRAFT_FAILED, Sample.State.DRAFTING)


def _dead_worker_jobs(qs, *, judge_others: bool | None = None):
    """Running jobs whose worker stopped beating (killed, lost) — or, in this very process, jobs no thread
    runs any more (a task that died on a database error after claiming its job).

    Other workers are judged only when ``judge_others`` (default: when this process's own heartbeat has been
    fresh long enough to tell a dead worker from a database outage, see :func:`webapp.reaper.judging_ok`)."""
    if judge_others is None:
        judge_others = reaper.judging_ok()
    quiet = timezone.now() - timedelta(seconds=reaper.worker_dead_after_s())
    me = reaper.worker_name()
    busy_here = _running_here.held()
    stale = qs.filter(state=DraftJob.State.RUNNING, updated_at__lt=quiet)
    mine = stale.filter(worker=me).exclude(id__in=busy_here)
    if not judge_others:
        return mine
    return mine | stale.exclude(worker=me).exclude(worker__in=reaper.live_workers())


def resume_run(run: DraftingRun) -> int:
    """Re-queue the failed, cancelled and pending jobs of a run (after an outage or a cancel), and running
    ones whose worker died. Jobs whose sample has moved on in the meantime (drafted by another run,
    reviewed by an expert) are cancelled instead, never redrafted."""
    with transaction.atomic():
        jobs = DraftJob.objects.filter(run=run).filter(
            Q(state__in=[DraftJob.State.FAILED, DraftJob.State.CANCELLED, DraftJob.State.PENDING])
            | Q(id__in=_dead_worker_jobs(DraftJob.objects.filter(run=run), judge_others=True).values("id")))
        # A photo marked as identifying since the run was created is not sent again: its job is cancelled
        # with the reason, and a sample this run had taken (drafting) goes back to new.
        flagged = jobs.filter(identifying("sample__"))
        flagged_samples = list(flagged.values_list("sample_id", flat=True))
        flagged.update(state=DraftJob.State.CANCELLED, error=f"the image is {IDENTIFYING_REFUSAL}")
        Sample.objects.filter(id__in=flagged_samples, state=Sample.State.DRAFTING).update(
            state=Sample.State.NEW, last_error=f"the image is {IDENTIFYING_REFUSAL}")
        jobs = jobs.exclude(identifying("sample__"))
        moved_on = jobs.filter(Q(sample__caption_version__gt=0) | ~Q(sample__state__in=_RESUMABLE_SAMPLE_STATES))
        moved_on.update(state=DraftJob.State.CANCELLED, error="the sample moved on before the resume")
        resumable = jobs.filter(sample__state__in=_RESUMABLE_SAMPLE_STATES, sample__caption_version=0)
        sample_ids = list(resumable.values_list("sample_id", flat=True))
        resumable.update(state=DraftJob.State.PENDING, error="", worker="", enqueued_at=None)
        Sample.objects.filter(id__in=sample_ids).update(state=Sample.State.DRAFTING, last_error="")
        if sample_ids:
            DraftingRun.objects.filter(pk=run.pk).update(state=DraftingRun.State.QUEUED, finished_at=None)
        else:
            _maybe_finish_run(run.pk)
        transaction.on_commit(lambda: enqueue_jobs(run.id))
    return len(sample_ids)


def requeue_after_s() -> float:
    return float(getattr(settings, "SKINFLOW_REQUEUE_AFTER_S", 60))


def reap_drafting() -> int:
    """The drafting reaper (runs in every worker, webapp/reaper.py): jobs of dead workers back to pending;
    pending jobs never sent (broker down at creation) or lost by the broker (restarted without persistence,
    or prefetched by a killed worker) sent again once no drafting job has moved for
    ``SKINFLOW_REQUEUE_AFTER_S`` (or at once, for what a worker found dead had been sent); active runs whose jobs are all done finished. Returns the jobs re-sent."""
    healed = 0
    active = list(DraftingRun.objects.filter(state__in=DraftingRun.ACTIVE).values_list("id", flat=True))
    if not active:
        return 0
    orphaned = _dead_worker_jobs(DraftJob.objects.filter(run_id__in=active))
    for job_id, run_id in list(orphaned.values_list("id", "run_id")):
        # Conditional: two reapers seeing the same dead job reset it once.
        if DraftJob.objects.filter(pk=job_id, state=DraftJob.State.RUNNING).update(
                state=DraftJob.State.PENDING, worker="", enqueued_at=None, updated_at=timezone.now()):
            log.info("drafting job %s: its worker died; re-queued", job_id)
    quiet = timezone.now() - timedelta(seconds=requeue_after_s())
    # A dead worker took its prefetched (unacknowledged) tasks with it; Redis would hand them out again
    # only after the visibility timeout. Whatever was sent before its last heartbeat may be among them.
    dead_since = max((seen for _, seen in reaper.newly_dead_workers()), default=None)
    # Stalled means no drafting job anywhere moved: while workers are busy with other runs, a run's queued
    # messages are waiting, not lost, and sending a long backlog again every minute would flood the queue.
    last = DraftJob.objects.filter(run_id__in=active).aggregate(t=Max("updated_at"))["t"]
    for run_id in active:
        jobs = DraftJob.objects.filter(run_id=run_id)
        never_sent = list(jobs.filter(state=DraftJob.State.PENDING, enqueued_at__isnull=True)
                          .values_list("id", flat=True))
        pending = jobs.filter(state=DraftJob.State.PENDING)
        lost: list[int] = []
        if last is not None and last < quiet:
            lost = list(pending.filter(enqueued_at__lt=quiet).values_list("id", flat=True))
        elif dead_since is not None:
            lost = list(pending.filter(enqueued_at__lte=dead_since).values_list("id", flat=True))
        if never_sent or lost:
            healed += enqueue_jobs(run_id, never_sent + lost)
        if not jobs.exclude(state__in=DraftJob.TERMINAL).exists():
            with transaction.atomic():
                _maybe_finish_run(run_id)
    return healed


def _finish_job(job: DraftJob, state: str, *, error: str = "", caption: dict | None = None,
                recorder: CallRecorder | None = None) -> None:
    """End the job and its sample in one transaction (with the job's call log, when given: one commit)."""
    sample_state = {DraftJob.State.AUTO_ACCEPTED: Sample.State.AUTO_ACCEPTED,
                    DraftJob.State.NEEDS_EXPERT: Sample.State.NEEDS_EXPERT,
                    DraftJob.State.FAILED: Sample.State.DRAFT_FAILED,
                    DraftJob.State.CANCELLED: Sample.State.NEW}[state]
    # savepoint=False: inside _store_attempt's transaction this is part of that one commit.
    with transaction.atomic(savepoint=False):
        # Conditional: only the first finisher writes (a redelivered task finds the job already done).
        if not DraftJob.objects.filter(pk=job.pk).exclude(state__in=DraftJob.TERMINAL).update(
                state=state, error=error, updated_at=timezone.now()):
            return
        fields: dict[str, Any] = {"state": sample_state, "last_error": error}
        if caption is not None:
            fields["caption"] = caption
        # caption_version 0: a caption a dermatologist has saved is never replaced by a machine draft; such a
        # sample (captioned before this run, from older data) goes to the experts with its caption kept.
        if not Sample.objects.filter(pk=job.sample_id, state=Sample.State.DRAFTING, caption_version=0).update(
                **fields):
            Sample.objects.filter(pk=job.sample_id, state=Sample.State.DRAFTING, caption_version__gt=0).update(
                state=Sample.State.NEEDS_EXPERT, last_error=error)
        if recorder is not None:
            recorder.flush()
        kind = {DraftJob.State.AUTO_ACCEPTED: Event.AUTO_ACCEPTED, DraftJob.State.NEEDS_EXPERT: Event.NEEDS_EXPERT,
                DraftJob.State.FAILED: Event.DRAFT_FAILED, DraftJob.State.CANCELLED: Event.DRAFT_FAILED}[state]
        SampleEvent.objects.create(sample_id=job.sample_id, kind=kind,
                                   detail={"run": job.run_id, "attempts": job.attempts, "error": error})
        _maybe_finish_run(job.run_id)


def _maybe_finish_run(run_id: int) -> None:
    """Finish the run if every job is done: ``succeeded`` only when no job failed. Runs inside the caller's
    transaction and locks the run row first, so two jobs finishing at once cannot both see the other as
    unfinished (each would otherwise count inside its own snapshot and leave the run running forever)."""
    run = DraftingRun.objects.select_for_update().filter(pk=run_id, state__in=DraftingRun.ACTIVE).first()
    if run is None:
        return
    counts = dict(DraftJob.objects.filter(run_id=run_id).values_list("state").annotate(n=Count("id")))
    if any(state not in DraftJob.TERMINAL for state in counts):
        return
    total, failed = sum(counts.values()), counts.get(DraftJob.State.FAILED, 0)
    final = (DraftingRun.State.FAILED if total and failed == total
             else DraftingRun.State.PARTIALLY_FAILED if failed else DraftingRun.State.SUCCEEDED)
    DraftingRun.objects.filter(pk=run_id, state__in=DraftingRun.ACTIVE).update(state=final, finished_at=timezone.now())


def _store_attempt(job: DraftJob, result: drafting.Attempt, prompt_version: str, *,
                   recorder: CallRecorder | None = None) -> CaptionDraft:
    """Store one attempt; a consistent one also finishes the job, in the same transaction (the common path
    of a drafting job is then a single commit, which is most of its database cost)."""
    check = result.check
    try:
        with transaction.atomic():
            draft = CaptionDraft.objects.create(
                sample_id=job.sample_id, job=job, attempt=result.attempt, prompt_version=prompt_version,
                drafter_model=result.models.get("drafter", ""), structurer_model=result.models.get("structurer", ""),
                diagnoser_model=result.models.get("diagnoser", ""), description=result.description,
                caption=result.caption, caption_error=result.caption_error,
                diagnoses=check.diagnoses if check else [], diagnosis_items=check.items if check else [],
                judge_category=check.category if check else "",
                judge_rationale=check.rationale if check else "", consistent=result.consistent,
                prompt_tokens=result.usage.prompt_tokens, completion_tokens=result.usage.completion_tokens,
            )
            DraftJob.objects.filter(pk=job.pk).update(
                attempts=result.attempt, updated_at=timezone.now(),
                prompt_tokens=F("prompt_tokens") + result.usage.prompt_tokens,
                completion_tokens=F("completion_tokens") + result.usage.completion_tokens)
            SampleEvent.objects.create(sample_id=job.sample_id, kind=Event.DRAFTED,
                                       detail={"run": job.run_id, "attempt": result.attempt,
                                               "consistent": result.consistent,
                                               "category": check.category if check else "",
                                               "error": result.caption_error})
            job.attempts = result.attempt
            if draft.consistent:
                _finish_job(job, DraftJob.State.AUTO_ACCEPTED, caption=draft.caption, recorder=recorder)
    except IntegrityError:
        # Another delivery of this job stored the same attempt first: keep theirs.
        draft = CaptionDraft.objects.get(job=job, attempt=result.attempt)
        job.attempts = result.attempt
        if draft.consistent:
            _finish_job(job, DraftJob.State.AUTO_ACCEPTED, caption=draft.caption)
    return draft


_running_here = reaper.LocalClaims()


def _claim(job: DraftJob) -> bool:
    """Take the job for this worker: pending, or running on a worker that is dead (or on this one, by a
    task that died on a database error). A second delivery while the job runs elsewhere gets False."""
    me = reaper.worker_name()
    if not _running_here.take(job.pk):
        return False  # a duplicate delivery to another thread of this process
    fields = {"state": DraftJob.State.RUNNING, "worker": me, "updated_at": timezone.now()}
    # The common case first, in one statement; only a job already running somewhere needs the liveness check.
    taken = DraftJob.objects.filter(pk=job.pk, state=DraftJob.State.PENDING).update(**fields)
    if not taken:
        taken = DraftJob.objects.filter(pk=job.pk).filter(
            Q(state=DraftJob.State.RUNNING, worker=me)
            | Q(id__in=_dead_worker_jobs(DraftJob.objects.filter(pk=job.pk)).values("id"))).update(**fields)
    if not taken:
        _release(job.pk)
    return bool(taken)


def _release(job_id: int) -> None:
    _running_here.release(job_id)


def draft_sample(job_id: int) -> str:
    """Run a job to a terminal state. Returns the job's final state ("busy" when another worker has it)."""
    job = DraftJob.objects.select_related("run", "sample").filter(pk=job_id).first()
    if job is None or job.state in DraftJob.TERMINAL:
        return job.state if job else "missing"
    if job.run.state == DraftingRun.State.CANCELLED:
        _finish_job(job, DraftJob.State.CANCELLED, error="the run was cancelled")
        return DraftJob.State.CANCELLED
    if not _claim(job):
        return "busy"
    try:
        return _draft_claimed(job)
    finally:
        _release(job.pk)


def _draft_claimed(job: DraftJob) -> str:
    run, sample = job.run, job.sample
    if run.state == DraftingRun.State.QUEUED:
        DraftingRun.objects.filter(pk=run.pk, state=DraftingRun.State.QUEUED).update(state=DraftingRun.State.RUNNING)

    drafts = list(CaptionDraft.objects.filter(job=job).order_by("attempt"))
    done = next((d for d in drafts if d.consistent), None)
    if done is not None:
        _finish_job(job, DraftJob.State.AUTO_ACCEPTED, caption=done.caption)
        return DraftJob.State.AUTO_ACCEPTED
    # The door, for a job queued before a reviewer marked the photo as identifying (the sample row was read
    # by draft_sample just now): cancelled with the reason, nothing sent.
    refusal = identifying_refusal(sample)
    if refusal:
        _finish_job(job, DraftJob.State.CANCELLED, error=refusal)
        return DraftJob.State.CANCELLED
    try:
        image = model_ready_image((Path(settings.MEDIA_ROOT) / sample.image).read_bytes(),
                                  what=f"the image of sample {sample.pk}")
    except OSError:
        _finish_job(job, DraftJob.State.FAILED,
                    error=f"the image file {sample.image or '(none)'} is missing on the server; re-import the image")
        return DraftJob.State.FAILED
    except NotScrubbed as exc:  # the door: a file stored before de-identification is never sent
        _finish_job(job, DraftJob.State.FAILED, error=str(exc))
        return DraftJob.State.FAILED

    recorder = CallRecorder(purpose=f"drafting-run:{run.pk}")
    # A run started "fresh" asks every question anew once; its own resumes still reuse what it paid for.
    sample_key = f"sample={sample.pk}" + (f":run={run.pk}" if run.fresh_answers else "")
    try:
        gateway = shared_gateway()
        judge = judge_for(gateway)
        with record_calls(recorder):
            first = len(drafts) + 1
            for attempt in range(first, run.max_attempts + 1):
                # The run was read at the start of this task; later attempts look again for a cancel.
                if attempt > first and DraftingRun.objects.filter(pk=run.pk, state=DraftingRun.State.CANCELLED).exists():
                    _finish_job(job, DraftJob.State.CANCELLED, error="the run was cancelled")
                    return DraftJob.State.CANCELLED
                # ... and for a mark set while this job runs (each attempt sends the photo again).
                if attempt > first and Sample.objects.filter(identifying(), pk=sample.pk).exists():
                    sample.identifying_content = True
                    _finish_job(job, DraftJob.State.CANCELLED, error=identifying_refusal(sample))
                    return DraftJob.State.CANCELLED
                result = drafting.run_attempt(gateway, judge, image=image, label=sample.label, attempt=attempt,
                                              sample_key=sample_key, consistency_k=run.consistency_k)
                draft = _store_attempt(job, result, run.prompt_version, recorder=recorder)
                if draft.consistent:
                    return DraftJob.State.AUTO_ACCEPTED
    except LLMError as exc:
        _finish_job(job, DraftJob.State.FAILED, error=f"LLM unavailable: {exc}")
        return DraftJob.State.FAILED
    except DatabaseError:
        raise  # the task retries with backoff; nothing is lost (attempts stored, answers cached)
    except Exception as exc:  # noqa: BLE001 - whatever it is, the sample must show it and the run must end
        log.exception("drafting job %s failed", job.pk)
        _finish_job(job, DraftJob.State.FAILED, error=f"unexpected error: {type(exc).__name__}: {exc}"[:2000])
        return DraftJob.State.FAILED
    finally:
        try:
            recorder.flush()
        except DatabaseError:
            log.warning("drafting job %s: the call log could not be written (database unavailable)", job.pk)
    _finish_job(job, DraftJob.State.NEEDS_EXPERT)
    return DraftJob.State.NEEDS_EXPERT


def run_progress(run: DraftingRun) -> dict[str, Any]:
    """Done / total, accepted, needs_expert, failed, tokens — computed from the jobs, so never out of step."""
    agg = DraftJob.objects.filter(run=run).aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(state__in=DraftJob.TERMINAL)),
        accepted=Count("id", filter=Q(state=DraftJob.State.AUTO_ACCEPTED)),
        needs_expert=Count("id", filter=Q(state=DraftJob.State.NEEDS_EXPERT)),
        failed=Count("id", filter=Q(state=DraftJob.State.FAILED)),
        cancelled=Count("id", filter=Q(state=DraftJob.State.CANCELLED)),
        prompt_tokens=Sum("prompt_tokens"), completion_tokens=Sum("completion_tokens"),
    )
    agg["prompt_tokens"] = agg["prompt_tokens"] or 0
    agg["completion_tokens"] = agg["completion_tokens"] or 0
    agg["attempts"] = CaptionDraft.objects.filter(job__run=run).count()
    return agg
