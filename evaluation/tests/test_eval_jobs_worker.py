"""Reward validation and attention analysis started from their pages (issue 13): the form creates a job,
the task is enqueued on commit, a real Celery worker (a subprocess on the PostgreSQL and Redis of bin/test,
as in test_eval_worker_resume.py) loads it by id and finishes it, and the progress JSON and the page
show the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from evaluation.models import AttentionAnalysis, RewardValidation, RewardValidationJob
from evaluation.tests.eval_fixtures import make_test_set
from evaluation.tests.test_eval_reward_validation import FIELDS, REFERENCE, caption, diagnoser
from evaluation.tests.tiny_vlm import save_tiny_checkpoint
from webapp.llm_testserver import ScriptedLLMServer

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _worker(env: dict, queues: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", queues, "--pool", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _env(tmp_path: Path, **extra: str) -> dict:
    return {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "SKINFLOW_MEDIA_ROOT": str(settings.MEDIA_ROOT), "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_SETTINGS_MODULE": "webapp.settings", "SKINFLOW_LLM_CACHE": str(tmp_path / "cache.sqlite3"),
            **extra}


def _wait_finished(read, worker: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read() in ("done", "failed"):
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker exited:\n{worker.stdout.read()}")
        time.sleep(0.3)
    worker.terminate()
    pytest.fail(f"timed out; worker log:\n{worker.communicate(timeout=30)[0][-4000:]}")


def _stop(worker: subprocess.Popen) -> str:
    if worker.poll() is None:
        worker.terminate()
    return worker.communicate(timeout=30)[0]


@pytest.fixture
def services_up():
    if not settings.CELERY_BROKER_URL.startswith("redis://") or connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL and Redis that bin/test starts")


def test_reward_validation_started_from_the_page_is_finished_by_a_worker(services_up, admin_user, tmp_path):
    texture_at = FIELDS.index("texture")
    lines = []
    for i in range(3):
        lines += [
            {"model": "A", "id": f"a{i}", "label": "psoriasis", "caption": caption(3), "reference_caption": REFERENCE},
            {"model": "B", "id": f"b{i}", "label": "psoriasis", "caption": caption(texture_at + 1),
             "reference_caption": REFERENCE},
        ]
    client = Client()
    client.force_login(admin_user)
    empty = client.get(reverse("eval-reward-validation"), {"study": "page"}).content.decode()
    assert 'id="empty"' in empty and 'id="start-form"' in empty  # what the page shows, and how to start

    with ScriptedLLMServer(diagnoser) as server:
        roles = {f"SKINFLOW_{r}_BASE_URL": server.base_url for r in ("DIAGNOSER", "JUDGE", "SCORER")}
        worker = _worker(_env(tmp_path, SKINFLOW_LLM_BASE_URL=server.base_url, **roles), "default")
        try:
            upload = SimpleUploadedFile("captions.jsonl", "\n".join(json.dumps(x) for x in lines).encode())
            response = client.post(reverse("eval-reward-validation-start"),
                                   {"file": upload, "study": "page", "k": 1})
            assert response.status_code == 302, response.content.decode()[-2000:]
            job = RewardValidationJob.objects.get()
            assert job.total == 6 and job.study == "page"
            page = client.get(response.url).content.decode()
            assert f'data-live-url="{reverse("eval-reward-validation-job", args=[job.id])}"' in page
            _wait_finished(lambda: RewardValidationJob.objects.get(id=job.id).status, worker)
        finally:
            log = _stop(worker)
    job.refresh_from_db()
    assert job.status == "done", f"{job.error}\n{log[-3000:]}"
    progress = client.get(reverse("eval-reward-validation-job", args=[job.id])).json()
    assert progress == {**progress, "status": "done", "done": 6, "total": 6, "finished": True}
    stored = {r.model_name: r for r in RewardValidation.objects.filter(study="page")}
    assert set(stored) == {"A", "B"} and stored["A"].n == 3
    assert stored["A"].diagnostic_accuracy == 0.0 and stored["B"].diagnostic_accuracy == 1.0
    assert stored["A"].caption_reward == pytest.approx(10 * 3 / len(FIELDS))
    page = client.get(reverse("eval-reward-validation"), {"study": "page"}).content.decode()
    assert 'id="reward-validation"' in page and "Spearman" in page


def test_a_bad_reward_file_starts_nothing_and_says_why(admin_user):
    client = Client()
    client.force_login(admin_user)
    upload = SimpleUploadedFile("bad.jsonl", b'{"model": "A", "id": "1"}\nnot json\n')
    response = client.post(reverse("eval-reward-validation-start"), {"file": upload, "study": "x", "k": 1})
    assert response.status_code == 400
    assert "Nothing was started: line 2: not JSON" in response.content.decode()
    assert not RewardValidationJob.objects.exists()
    assert client.post(reverse("eval-reward-validation-start"), {}).status_code == 400


def test_summary_lines_from_the_page_are_stored_at_once(admin_user):
    client = Client()
    client.force_login(admin_user)
    body = "\n".join(json.dumps({"model": m, "caption_reward": r, "diagnostic_accuracy": a})
                     for m, r, a in (("X", 6.1, 0.13), ("Y", 7.2, 0.28)))
    response = client.post(reverse("eval-reward-validation-start"),
                           {"file": SimpleUploadedFile("t1.jsonl", body.encode()), "study": "t1", "k": 1,
                            "summary": "on"})
    assert response.status_code == 302
    assert RewardValidation.objects.filter(study="t1").count() == 2 and not RewardValidationJob.objects.exists()


def test_attention_started_from_the_page_is_finished_by_a_gpu_worker(services_up, admin_user, tmp_path):
    dataset = make_test_set()
    checkpoint = save_tiny_checkpoint(tmp_path / "tiny")
    client = Client()
    client.force_login(admin_user)
    empty = client.get(reverse("eval-attention")).content.decode()
    assert 'id="empty"' in empty and 'id="start-form"' in empty
    form = {"name": "tiny", "checkpoint": str(checkpoint), "dataset": dataset.id, "split": "test", "sample_size": 2,
            "seed": 0, "layers": "-1", "max_new_tokens": 3}
    bad = client.post(reverse("eval-attention-start"), {**form, "checkpoint": str(tmp_path / "nowhere")})
    assert bad.status_code == 400 and "is not a folder on the server" in bad.content.decode()

    worker = _worker(_env(tmp_path), "gpu")
    try:
        response = client.post(reverse("eval-attention-start"), form)
        assert response.status_code == 302
        analysis = AttentionAnalysis.objects.get()
        page = client.get(response.url).content.decode()
        assert f'data-live-url="{reverse("eval-attention-progress", args=[analysis.id])}"' in page
        _wait_finished(lambda: AttentionAnalysis.objects.get(id=analysis.id).status, worker, timeout=300)
    finally:
        log = _stop(worker)
    analysis.refresh_from_db()
    assert analysis.status == "done", f"{analysis.error}\n{log[-3000:]}"
    assert (analysis.done, analysis.total, len(analysis.maps)) == (2, 2, 2) and analysis.layers == [-1]
    progress = client.get(reverse("eval-attention-progress", args=[analysis.id])).json()
    assert progress == {**progress, "status": "done", "done": 2, "total": 2, "finished": True}
    page = client.get(reverse("eval-attention"), {"a": analysis.id}).content.decode()
    assert 'id="heatmaps"' in page and 'data-zoom-size="#heatmaps"' in page and "data-lightbox" in page
    heat = client.get(reverse("eval-attention-map", args=[analysis.id, analysis.maps[0]["sample_id"]]))
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(b"".join(heat.streaming_content) if heat.streaming else heat.content)) as png:
        assert min(png.size) >= 512  # drawn large enough to read at the size the page shows
