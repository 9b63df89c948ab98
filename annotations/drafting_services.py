"""Writes for machine annotation: drafting runs, one idempotent job per sample, cancel and resume.

A job is safe to run twice (Celery acks late, so a killed worker's job is delivered again): attempts
already stored are reused, never redone, and a unique (job, attempt) constraint makes a duplicate draft
impossible even if two workers race. LLM answers of an interrupted attempt come back from the response
cache, so a re-run never pays twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from annotations import drafting
from annotations.imaging import model_ready_image
from annotations.models import CaptionDraft, Dataset, DraftingRun, DraftJob, Sample, SampleEvent
from webapp.gateway import CallRecorder, record_calls, shared_gateway
from webapp.llm import LLMError

log = logging.getLogger(__name__)
Event = SampleEvent.Kind

_judge: Any = None


def judge_for(gateway: Any) -> Any:
    """The clinical judge bound to ``gateway``: one per process, replaced when the gateway is (its memo of
    LLM verdicts would otherwise keep every old gateway alive)."""
    global _judge
    from evaluation.judge import ClinicalJudge

    judge = _judge
    if judge is None or judge.gateway is not gateway:
        judge = _judge = ClinicalJudge(gateway=gateway)
    return judge


class DraftingRejected(Exception):
    """The run cannot be created as asked; the message says why."""


def create_run(dataset: Dataset, *, user: Any = None, split: str = "", max_attempts: int = 5,
               consistency_k: int = 1, only_states: tuple[str, ...] = (Sample.State.NEW, Sample.State.DRAFT_FAILED)) -> DraftingRun:
    """Create a run with a job for every selected sample (with an image) and enqueue them after commit."""
    if not 1 <= max_attempts <= 10:
        raise DraftingRejected("max_attempts must be between 1 and 10.")
    if not 1 <= consistency_k <= drafting.DIAGNOSIS_K:
        raise DraftingRejected(f"consistency_k must be between 1 and {drafting.DIAGNOSIS_K} (the diagnoser lists "
                               f"{drafting.DIAGNOSIS_K} diagnoses).")
    samples = Sample.objects.filter(dataset=dataset, state__in=only_states).exclude(image="")
    if split:
        samples = samples.filter(split=split)
    ids = list(samples.values_list("id", flat=True))
    if not ids:
        raise DraftingRejected(f"No sample of {dataset.name} is waiting for a draft (states {', '.join(only_states)}"
                               f"{', split ' + split if split else ''}, with an image).")
    with transaction.atomic():
        run = DraftingRun.objects.create(dataset=dataset, split=split, max_attempts=max_attempts,
                                         consistency_k=consistency_k, prompt_version=drafting.PROMPT_VERSION,
                                         created_by=user)
        DraftJob.objects.bulk_create([DraftJob(run=run, sample_id=i) for i in ids], batch_size=2000)
        Sample.objects.filter(id__in=ids).update(state=Sample.State.DRAFTING, last_error="")
        transaction.on_commit(lambda: enqueue_jobs(run.id))
    return run


def enqueue_jobs(run_id: int) -> int:
    """Send every unfinished job of the run to the llm queue (idempotent: jobs dedupe themselves)."""
    from annotations.tasks import draft_sample

    ids = list(DraftJob.objects.filter(run_id=run_id).exclude(state__in=DraftJob.TERMINAL)
               .values_list("id", flat=True))
    for job_id in ids:
        draft_sample.delay(job_id)
    return len(ids)


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


STALE_RUNNING = timedelta(minutes=15)
_RESUMABLE_SAMPLE_STATES = (Sample.State.NEW, Sample.State.DRAFT_FAILED, Sample.State.DRAFTING)


def resume_run(run: DraftingRun) -> int:
    """Re-queue the failed, cancelled and pending jobs of a run (after an outage or a cancel), and running
    ones that have shown no progress for a while (their worker died). Jobs whose sample has moved on in
    the meantime (drafted by another run, reviewed by an expert) are cancelled instead, never redrafted."""
    stale = timezone.now() - STALE_RUNNING
    with transaction.atomic():
        jobs = DraftJob.objects.filter(run=run).filter(
            Q(state__in=[DraftJob.State.FAILED, DraftJob.State.CANCELLED, DraftJob.State.PENDING])
            | Q(state=DraftJob.State.RUNNING, updated_at__lt=stale))
        moved_on = jobs.filter(Q(sample__caption_version__gt=0) | ~Q(sample__state__in=_RESUMABLE_SAMPLE_STATES))
        moved_on.update(state=DraftJob.State.CANCELLED, error="the sample moved on before the resume")
        resumable = jobs.filter(sample__state__in=_RESUMABLE_SAMPLE_STATES, sample__caption_version=0)
        sample_ids = list(resumable.values_list("sample_id", flat=True))
        resumable.update(state=DraftJob.State.PENDING, error="")
        Sample.objects.filter(id__in=sample_ids).update(state=Sample.State.DRAFTING, last_error="")
        if sample_ids:
            DraftingRun.objects.filter(pk=run.pk).update(state=DraftingRun.State.QUEUED, finished_at=None)
        transaction.on_commit(lambda: enqueue_jobs(run.id))
    return len(sample_ids)


def _finish_job(job: DraftJob, state: str, *, error: str = "", caption: dict | None = None) -> None:
    sample_state = {DraftJob.State.AUTO_ACCEPTED: Sample.State.AUTO_ACCEPTED,
                    DraftJob.State.NEEDS_EXPERT: Sample.State.NEEDS_EXPERT,
                    DraftJob.State.FAILED: Sample.State.DRAFT_FAILED,
                    DraftJob.State.CANCELLED: Sample.State.NEW}[state]
    with transaction.atomic():
        # Conditional: only the first finisher writes (a redelivered task finds the job already done).
        if not DraftJob.objects.filter(pk=job.pk).exclude(state__in=DraftJob.TERMINAL).update(
                state=state, error=error, updated_at=timezone.now()):
            return
        fields: dict[str, Any] = {"state": sample_state, "last_error": error}
        if caption is not None:
            fields["caption"] = caption
        # caption_version 0: a caption a dermatologist has saved is never replaced by a machine draft.
        Sample.objects.filter(pk=job.sample_id, state=Sample.State.DRAFTING, caption_version=0).update(**fields)
        kind = {DraftJob.State.AUTO_ACCEPTED: Event.AUTO_ACCEPTED, DraftJob.State.NEEDS_EXPERT: Event.NEEDS_EXPERT,
                DraftJob.State.FAILED: Event.DRAFT_FAILED, DraftJob.State.CANCELLED: Event.DRAFT_FAILED}[state]
        SampleEvent.objects.create(sample_id=job.sample_id, kind=kind,
                                   detail={"run": job.run_id, "attempts": job.attempts, "error": error})
        _maybe_finish_run(job.run_id)


def _maybe_finish_run(run_id: int) -> None:
    if not DraftJob.objects.filter(run_id=run_id).exclude(state__in=DraftJob.TERMINAL).exists():
        DraftingRun.objects.filter(pk=run_id, state__in=[DraftingRun.State.QUEUED, DraftingRun.State.RUNNING]) \
            .update(state=DraftingRun.State.SUCCEEDED, finished_at=timezone.now())


def _store_attempt(job: DraftJob, result: drafting.Attempt, prompt_version: str) -> CaptionDraft:
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
    except IntegrityError:
        # Another delivery of this job stored the same attempt first: keep theirs.
        draft = CaptionDraft.objects.get(job=job, attempt=result.attempt)
    job.refresh_from_db()
    return draft


def draft_sample(job_id: int) -> str:
    """Run a job to a terminal state. Returns the job's final state."""
    job = DraftJob.objects.select_related("run", "sample").filter(pk=job_id).first()
    if job is None or job.state in DraftJob.TERMINAL:
        return job.state if job else "missing"
    run, sample = job.run, job.sample
    if run.state == DraftingRun.State.CANCELLED:
        _finish_job(job, DraftJob.State.CANCELLED, error="the run was cancelled")
        return DraftJob.State.CANCELLED
    # updated_at is the job's sign of life (QuerySet.update does not touch auto_now fields by itself).
    DraftJob.objects.filter(pk=job.pk, state__in=[DraftJob.State.PENDING, DraftJob.State.RUNNING]).update(
        state=DraftJob.State.RUNNING, updated_at=timezone.now())
    DraftingRun.objects.filter(pk=run.pk, state=DraftingRun.State.QUEUED).update(state=DraftingRun.State.RUNNING)

    drafts = list(CaptionDraft.objects.filter(job=job).order_by("attempt"))
    done = next((d for d in drafts if d.consistent), None)
    if done is not None:
        _finish_job(job, DraftJob.State.AUTO_ACCEPTED, caption=done.caption)
        return DraftJob.State.AUTO_ACCEPTED
    try:
        image = model_ready_image((Path(settings.MEDIA_ROOT) / sample.image).read_bytes())
    except OSError:
        _finish_job(job, DraftJob.State.FAILED,
                    error=f"the image file {sample.image or '(none)'} is missing on the server; re-import the image")
        return DraftJob.State.FAILED

    gateway = shared_gateway()
    judge = judge_for(gateway)
    recorder = CallRecorder(purpose=f"drafting-run:{run.pk}")
    try:
        with record_calls(recorder):
            for attempt in range(len(drafts) + 1, run.max_attempts + 1):
                if DraftingRun.objects.filter(pk=run.pk, state=DraftingRun.State.CANCELLED).exists():
                    _finish_job(job, DraftJob.State.CANCELLED, error="the run was cancelled")
                    return DraftJob.State.CANCELLED
                result = drafting.run_attempt(gateway, judge, image=image, label=sample.label, attempt=attempt,
                                              sample_key=f"sample={sample.pk}", consistency_k=run.consistency_k)
                draft = _store_attempt(job, result, run.prompt_version)
                if draft.consistent:
                    _finish_job(job, DraftJob.State.AUTO_ACCEPTED, caption=draft.caption)
                    return DraftJob.State.AUTO_ACCEPTED
    except LLMError as exc:
        _finish_job(job, DraftJob.State.FAILED, error=f"LLM unavailable: {exc}")
        return DraftJob.State.FAILED
    except Exception as exc:  # noqa: BLE001 - whatever it is, the sample must show it and the run must end
        log.exception("drafting job %s failed", job.pk)
        _finish_job(job, DraftJob.State.FAILED, error=f"unexpected error: {type(exc).__name__}: {exc}"[:2000])
        return DraftJob.State.FAILED
    finally:
        recorder.flush()
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
