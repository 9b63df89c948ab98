"""Celery tasks for annotations: load by id, call a service."""

from __future__ import annotations

from webapp.celery_app import app


@app.task(name="annotations.tasks.make_thumbnails")
def make_thumbnails(sample_ids: list[int]) -> int:
    from annotations import services

    return services.make_thumbnails(sample_ids)
