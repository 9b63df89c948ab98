"""Celery tasks of evaluation runs: load by id, call a service. Routed by name (webapp/celery_app.py):
``infer_*`` and ``judge_*`` to the ``llm`` queue, ``local_*`` to ``gpu``.

Tasks are acknowledged late, so a task whose worker dies is delivered again; the services skip
whatever is already stored, which makes a redelivery a resume.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from webapp.celery_app import app


@contextmanager
def _failing_marks_run(run_id: int) -> Iterator[None]:
    """An unexpected error ends the task (Celery records it); the run page must say so too."""
    try:
        yield
    except Exception as exc:
        from evaluation.services import fail_run
        from evaluation.models import EvalRun

        fail_run(EvalRun(id=run_id), f"{type(exc).__name__}: {exc}"[:2000])
        raise


@app.task(name="evaluation.tasks.infer_run")
def infer_run(run_id: int) -> int:
    from evaluation import services

    with _failing_marks_run(run_id):
        failures = services.infer_pending(run_id)
    if not failures:
        judge_run.delay(run_id)
    return failures


@app.task(name="evaluation.tasks.local_infer_run")
def local_infer_run(run_id: int) -> int:
    from evaluation import local_inference

    with _failing_marks_run(run_id):
        failures = local_inference.infer_pending_local(run_id)
    if not failures:
        judge_run.delay(run_id)
    return failures


@app.task(name="evaluation.tasks.judge_run")
def judge_run(run_id: int) -> int:
    from evaluation import services

    with _failing_marks_run(run_id):
        return services.judge_pending(run_id)


@app.task(name="evaluation.tasks.local_attention")
def local_attention(analysis_id: int) -> None:
    from evaluation import attention_services

    attention_services.run_analysis(analysis_id)
