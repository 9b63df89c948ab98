"""Celery tasks of evaluation runs: load by id, call a service. Routed by name (webapp/celery_app.py):
``infer_*`` and ``judge_*`` to the ``llm`` queue, ``local_*`` to ``gpu``.

Tasks are acknowledged late, so a task whose worker dies is delivered again; the services skip
whatever is already stored, which makes a redelivery a resume.
"""

from __future__ import annotations

from webapp.celery_app import app


@app.task(name="evaluation.tasks.infer_run")
def infer_run(run_id: int) -> int:
    from evaluation import services

    failures = services.infer_pending(run_id)
    if not failures:
        judge_run.delay(run_id)
    return failures


@app.task(name="evaluation.tasks.local_infer_run")
def local_infer_run(run_id: int) -> int:
    from evaluation import local_inference

    failures = local_inference.infer_pending_local(run_id)
    if not failures:
        judge_run.delay(run_id)
    return failures


@app.task(name="evaluation.tasks.judge_run")
def judge_run(run_id: int) -> int:
    from evaluation import services

    return services.judge_pending(run_id)


@app.task(name="evaluation.tasks.local_attention")
def local_attention(analysis_id: int) -> None:
    from evaluation import attention_services

    attention_services.run_analysis(analysis_id)
