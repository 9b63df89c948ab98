"""Celery tasks for training, all on the ``gpu`` queue (routed by name): load by id, call the supervisor."""

from __future__ import annotations

from webapp.celery_app import app


@app.task(name="training.tasks.run_training")
def run_training(run_id: int) -> str:
    """Idempotent: a redelivered copy finds the run claimed and either leaves it (alive) or fails it (orphaned)."""
    from training.runner import execute_run

    return execute_run(run_id)
