"""Reward validation (Table 1) as a job started from its page, and the computation the command shares.

The page uploads the command's JSON lines; a job row holds them, a worker task loads the job by id
(:func:`run_job`) and writes its progress (rows scored) while the scorer, diagnoser and judge work, then
stores one :class:`RewardValidation` row per model. Summary lines (results computed elsewhere) are
stored at once, without a job.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Mapping, Sequence

from django.db import DatabaseError, transaction
from django.utils import timezone

from evaluation import reward_validation as core
from evaluation.models import RewardValidationJob
from evaluation.services import EvalError, record_reward_validation

PROGRESS_EVERY_S = 1.0


def compute(rows: Sequence[core.CaptionRow], k: int, *, on_row: Callable[[], None] | None = None,
            progress: Callable[[], None] | None = None) -> list[core.ModelValidation]:
    """Score ``rows`` with the Stage I caption reward and the caption-only diagnosis.

    ``progress`` is called in this thread about every second while the calls run (the database may be
    written there; ``on_row`` runs in the event loop and must only count)."""
    from evaluation.judge import ClinicalJudge, run_sync
    # The Stage I reward itself, so Table 1 validates what training optimises; the one place evaluation
    # reaches into training, as the management command always did, and only when a job runs.
    from training.rewards import CaptionReward
    from webapp.gateway import CallRecorder, build_gateway

    recorder = CallRecorder(purpose="reward-validation")
    gateway = build_gateway(recorder)
    try:
        work = core.avalidate(rows, scorer=CaptionReward(gateway), gateway=gateway,
                              judge=ClinicalJudge(gateway=gateway), k=k, on_row=on_row)
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(run_sync, work)
            while True:
                try:
                    return future.result(timeout=PROGRESS_EVERY_S)
                except TimeoutError:
                    if progress is not None:
                        progress()
    finally:
        gateway.close()
        recorder.flush()


def store_results(study: str, results: Iterable[core.ModelValidation]) -> list[str]:
    stored = []
    for r in results:
        record_reward_validation(study, r.model, r.caption_reward, r.diagnostic_accuracy, r.n)
        stored.append(r.model)
    return stored


def store_summary(study: str, lines: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per-model results computed elsewhere (checked by the form), stored as they are."""
    results = [core.ModelValidation(model=str(d["model"]), n=int(d.get("n", 0)), caption_reward=float(d["caption_reward"]),
                                    diagnostic_accuracy=float(d["diagnostic_accuracy"])) for d in lines]
    with transaction.atomic():
        return store_results(study, results)


def start_job(*, study: str, k: int, lines: Sequence[Mapping[str, Any]], filename: str = "",
              user: Any = None) -> RewardValidationJob:
    """A job for the worker; the rows are checked here so that a bad file never reaches it."""
    try:
        rows = core.rows_from_dicts(lines)
    except ValueError as exc:
        raise EvalError(str(exc)) from exc
    if not rows:
        raise EvalError("the file holds no caption rows")
    job = RewardValidationJob.objects.create(study=study, k=k, rows=list(lines), filename=filename[:255],
                                             total=len(rows), created_by=user)
    from evaluation import tasks

    transaction.on_commit(lambda: tasks.reward_validation_job.delay(job.id))
    return job


def run_job(job_id: int) -> RewardValidationJob:
    """Run the job (a redelivered task starts it again: the results are idempotent per study and model)."""
    job = RewardValidationJob.objects.get(id=job_id)
    if job.status in RewardValidationJob.FINISHED:
        return job
    RewardValidationJob.objects.filter(id=job.id).update(status=RewardValidationJob.Status.RUNNING, done=0,
                                                         error="", started_at=timezone.now())
    counted = [0]
    lock = threading.Lock()

    def on_row() -> None:
        with lock:
            counted[0] += 1

    def write_progress() -> None:
        with lock:
            done = counted[0]
        RewardValidationJob.objects.filter(id=job.id).update(done=done)

    try:
        results = compute(core.rows_from_dicts(job.rows), job.k, on_row=on_row, progress=write_progress)
        with transaction.atomic():
            stored = store_results(job.study, results)
            RewardValidationJob.objects.filter(id=job.id).update(
                status=RewardValidationJob.Status.DONE, done=job.total, models_stored=stored,
                finished_at=timezone.now())
    except DatabaseError:
        raise  # not the job's fault: the task is retried once the database is back
    except Exception as exc:  # the page shows why; the task records the traceback
        RewardValidationJob.objects.filter(id=job.id).update(
            status=RewardValidationJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now())
        raise
    job.refresh_from_db()
    return job

