"""Celery tasks for annotations: load by id, call a service."""

from __future__ import annotations

from webapp.celery_app import DB_RETRY, app


@app.task(name="annotations.tasks.make_thumbnails")
def make_thumbnails(sample_ids: list[int]) -> int:
    from annotations import services

    return services.make_thumbnails(sample_ids)


@app.task(name="annotations.tasks.draft_sample", **DB_RETRY)
def draft_sample(job_id: int) -> str:
    from annotations import drafting_services

    return drafting_services.draft_sample(job_id)


@app.task(name="annotations.tasks.recheck_revision", **DB_RETRY)
def recheck_revision(revision_id: int) -> str:
    from annotations import review_services

    return review_services.recheck_revision(revision_id)

