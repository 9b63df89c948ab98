"""kill -9 the Celery worker in the middle of a 50-sample drafting run; a new worker finishes it."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count

from annotations import drafting_services, services
from annotations.models import CaptionDraft, Dataset, DraftingRun, DraftJob, Sample
from annotations.tests.images import jpeg_bytes, write
from annotations.tests.scripted_llm import PipelineResponder, Script
from webapp.llm_testserver import ScriptedLLMServer

ROOT = Path(__file__).resolve().parents[2]


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "llm", "-P", "threads", "-c", "8",
         "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_run_survives_a_killed_worker(tmp_path):
    if not settings.CELERY_BROKER_URL.startswith("redis://") or connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL and Redis that bin/test starts")
    by_md5 = {}
    for i in range(50):
        data = jpeg_bytes(color=(i * 5, 255 - i * 5, 100), size=(32 + i, 32))
        label = ("melanoma", "psoriasis")[i % 2]
        write(tmp_path / "src" / label / f"{i}.jpg", data)
        by_md5[hashlib.md5(data).hexdigest()] = (f"{label}/{i}.jpg", Script(label, 1 if i % 5 else None))
    services.import_folder("Fault", tmp_path / "src", progress=False)
    dataset = Dataset.objects.get(name="Fault")

    with ScriptedLLMServer(PipelineResponder(by_md5), latency_s=0.05) as server:
        s = connection.settings_dict
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", "DJANGO_SECRET_KEY": "test-only-secret-key",
               "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
               "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "SKINFLOW_MEDIA_ROOT": str(settings.MEDIA_ROOT),
               "SKINFLOW_LLM_BASE_URL": server.base_url, "SKINFLOW_LLM_CACHE": str(tmp_path / "cache.sqlite3"),
               # A killed worker's unacknowledged tasks come back after this many seconds.
               "CELERY_VISIBILITY_TIMEOUT": "5"}
        worker = start_worker(env)
        run = drafting_services.create_run(dataset)
        drafting_services.enqueue_jobs(run.pk)  # on_commit does not fire inside the test's own transaction handling
        deadline = time.monotonic() + 120
        while DraftJob.objects.filter(run=run, state__in=DraftJob.TERMINAL).count() < 10:
            assert time.monotonic() < deadline, "the first worker made no progress"
            time.sleep(0.1)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        killed_at = DraftJob.objects.filter(run=run, state__in=DraftJob.TERMINAL).count()
        assert killed_at < 50, "the run finished before the kill; make the scripted latency longer"

        worker = start_worker(env)
        try:
            deadline = time.monotonic() + 180
            while DraftingRun.objects.get(pk=run.pk).state != DraftingRun.State.SUCCEEDED:
                assert time.monotonic() < deadline, drafting_services.run_progress(run)
                time.sleep(0.5)
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()

    states = dict(DraftJob.objects.filter(run=run).values_list("state").annotate(n=Count("id")))
    assert states == {"auto_accepted": 40, "needs_expert": 10}
    assert Sample.objects.filter(dataset=dataset, state=Sample.State.AUTO_ACCEPTED).count() == 40
    assert Sample.objects.filter(dataset=dataset, state=Sample.State.NEEDS_EXPERT).count() == 10
    per_job = CaptionDraft.objects.filter(job__run=run).values("job", "attempt").annotate(n=Count("id"))
    assert all(row["n"] == 1 for row in per_job)  # no duplicate drafts
    assert CaptionDraft.objects.filter(job__run=run).count() == 40 * 1 + 10 * 5
