"""Celery tasks of evaluation runs: load by id, call a service. Routed by name (webapp/celery_app.py):
``infer_*`` and ``judge_*`` to the ``llm`` queue, ``local_*`` to ``gpu``.

Tasks are acknowledged late, so a task whose worker dies is delivered again; the services skip
whatever is already stored, which makes a redelivery a resume. Inference always hands over to
judging, failures or not: the answers that arrived are judged, and ``services.finish_run`` decides
from the stored rows whether the run is done, partially failed or failed.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from django.db import DatabaseError

from webapp.celery_app import DB_RETRY, app


@contextmanager
def _failing_marks_run(run_id: int) -> Iterator[None]:
    """An unexpected error ends the task (Celery records it); the run page must say so too."""
    try:
        yield
    except DatabaseError:
        raise  # not the run's fault: the task is retried once the database is back
    except Exception as exc:
        from evaluation.services import fail_run
        from evaluation.models import EvalRun

        fail_run(EvalRun(id=run_id), f"{type(exc).__name__}: {exc}"[:2000])
        raise


@app.task(name="evaluation.tasks.infer_run", **DB_RETRY)
def infer_run(run_id: int) -> int:
    from evaluation import services

    with services.working_on(run_id) as mine:
        if not mine:
            return 0  # a duplicate delivery: another live worker has the run
        with _failing_marks_run(run_id):
            failures = services.infer_pending(run_id)
    # A broker that refuses leaves the run "inferring" without progress: the reaper hands it over again.
    services.enqueue_task(judge_run, run_id)
    return failures


@app.task(name="evaluation.tasks.local_infer_run", **DB_RETRY)
def local_infer_run(run_id: int) -> int:
    from evaluation import local_inference, services

    with services.working_on(run_id) as mine:
        if not mine:
            return 0
        with _failing_marks_run(run_id):
            failures = local_inference.infer_pending_local(run_id)
    services.enqueue_task(judge_run, run_id)
    return failures


@app.task(name="evaluation.tasks.judge_run", **DB_RETRY)
def judge_run(run_id: int) -> int:
    from evaluation import services

    with services.working_on(run_id) as mine:
        if not mine:
            return 0
        with _failing_marks_run(run_id):
            return services.judge_pending(run_id)


@app.task(name="evaluation.tasks.local_attention")
def local_attention(analysis_id: int) -> None:
    from evaluation import attention_services

    attention_services.run_analysis(analysis_id)


@app.task(name="evaluation.tasks.reward_validation_job", **DB_RETRY)
def reward_validation_job(job_id: int) -> None:
    from evaluation import reward_validation_services

    reward_validation_services.run_job(job_id)
