"""A real Celery worker process takes a task from Redis and runs it against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from annotations import services
from annotations.models import Sample
from annotations.tests.images import jpeg_bytes, write

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_worker_makes_thumbnails_through_redis(tmp_path):
    if not settings.CELERY_BROKER_URL.startswith("redis://") or connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL and Redis that bin/test starts")
    write(tmp_path / "src" / "acne" / "1.jpg", jpeg_bytes(size=(500, 300)))
    services.import_folder("Worker test", tmp_path / "src", progress=False)
    sample = Sample.objects.get()
    assert sample.thumbnail == ""

    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "SKINFLOW_MEDIA_ROOT": str(settings.MEDIA_ROOT), "DJANGO_SECRET_KEY": settings.SECRET_KEY,
           "DJANGO_SETTINGS_MODULE": "webapp.settings"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "default", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        from annotations.tasks import make_thumbnails

        make_thumbnails.delay([sample.id])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            sample.refresh_from_db()
            if sample.thumbnail:
                break
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(0.25)
        assert sample.thumbnail, "the worker did not make the thumbnail within 90 s"
        assert (Path(settings.MEDIA_ROOT) / sample.thumbnail).is_file()
    finally:
        worker.terminate()
        out, _ = worker.communicate(timeout=30)
    assert "annotations.tasks.make_thumbnails" in out and "succeeded" in out
