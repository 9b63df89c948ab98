"""A real Celery worker is killed (SIGKILL) in the middle of judging; a second worker gets the task
again from Redis (acks_late) and finishes the run without repeating any answered model or judge call.

The second worker is given an empty LLM response cache, so what prevents repeats is the stored
progress in the database, not the cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from annotations.models import Dataset, Sample
from annotations.tests.images import jpeg_bytes, write
from evaluation import services
from evaluation.models import EvalRun, Judgement
from evaluation.tests.eval_fixtures import JUDGE_ID, MODEL_ID, answer, request_image
from webapp.llm import image_data_url
from webapp.llm_testserver import Reply, ScriptedLLMServer, last_user_text

ROOT = Path(__file__).resolve().parents[2]
N_SAMPLES, REPEATS, ANSWER_BEFORE_KILL = 10, 2, 7


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


class KillableScript:
    """Model answers by image; the judge answers ANSWER_BEFORE_KILL calls, then holds every further
    call until released (so the worker is killed with calls in flight, none of them answered)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.phase = 1
        self.model_calls = {1: 0, 2: 0}
        self.judge_answered = {1: 0, 2: 0}
        self.held = 0

    def __call__(self, request: dict):
        if request.get("model") == MODEL_ID:
            with self.lock:
                self.model_calls[self.phase] += 1
            return self.answers[request_image(request)]
        text = last_user_text(request)
        names = json.loads(text[text.index("Predictions (JSON array):") + 25:])
        with self.lock:
            hold = self.phase == 1 and self.judge_answered[1] >= ANSWER_BEFORE_KILL
            if hold:
                self.held += 1
            else:
                self.judge_answered[self.phase] += 1
        if hold:
            self.release.wait(120)
            return Reply(status=503)  # the worker that asked is dead by now
        verdicts = [{"name": n, "category": "exact" if n.endswith(("0", "2", "4", "6", "8")) else "sibling",
                     "rationale": "scripted"} for n in names]
        return json.dumps({"verdicts": verdicts})


def _start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "llm", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(condition, timeout: float, worker: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker exited while waiting for {what}:\n{worker.stdout.read()}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_killed_worker_resumes_without_repeating_answered_calls(tmp_path):
    if not settings.CELERY_BROKER_URL.startswith("redis://") or connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL and Redis that bin/test starts")
    dataset = Dataset.objects.create(name="Resume set", source=Dataset.Source.FOLDER)
    media = Path(settings.MEDIA_ROOT)
    answers = {}
    for i in range(N_SAMPLES):
        rel = f"resume/{i}.jpg"
        write(media / rel, jpeg_bytes(color=(20 * i, 100, 200 - 10 * i), size=(40 + i, 30)))
        Sample.objects.create(dataset=dataset, external_id=f"r{i}", image=rel, label="psoriasis", split="test")
        # One name per sample that the ontology cannot decide: every (sample, repeat) is one judge call.
        answers[image_data_url(media / rel)] = answer(f"Qwvx dermatosis {i}", "lichen planus")
    script = KillableScript(answers)

    with ScriptedLLMServer(script) as server:
        base_env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
                    "SKINFLOW_MEDIA_ROOT": str(media), "DJANGO_SECRET_KEY": settings.SECRET_KEY,
                    "DJANGO_SETTINGS_MODULE": "webapp.settings", "SKINFLOW_JUDGE_BASE_URL": server.base_url,
                    "SKINFLOW_JUDGE_MODEL": JUDGE_ID, "SKINFLOW_LLM_CACHE": str(tmp_path / "cache-1.sqlite3")}
        first = _start_worker(base_env)
        second = None
        try:
            run = services.create_run(name="resume", model_name="M", dataset=dataset, base_url=server.base_url,
                                      endpoint_model=MODEL_ID, k=3, judge_repeats=REPEATS, max_concurrency=4)
            # Wait until the judge holds calls and every answered judgement is stored, then kill.
            _wait(lambda: script.held >= 1 and Judgement.objects.filter(item__run=run).count() == ANSWER_BEFORE_KILL,
                  120, first, "the run to reach the middle of judging")
            first.kill()
            first.wait(30)
            with script.lock:
                script.phase = 2
            script.release.set()
            run.refresh_from_db()
            assert run.status == EvalRun.Status.JUDGING
            assert script.model_calls[1] == N_SAMPLES

            # A fresh worker with a short visibility timeout takes the unacknowledged task again.
            second = _start_worker({**base_env, "CELERY_VISIBILITY_TIMEOUT": "1",
                                    "SKINFLOW_LLM_CACHE": str(tmp_path / "cache-2.sqlite3")})
            _wait(lambda: EvalRun.objects.get(id=run.id).status == EvalRun.Status.DONE, 120, second,
                  "the second worker to finish the run")
        finally:
            for worker in (first, second):
                if worker is not None and worker.poll() is None:
                    worker.terminate()
                    worker.communicate(timeout=30)

    run.refresh_from_db()
    assert script.model_calls[2] == 0, "a model call was repeated after the restart"
    # Every (sample, repeat) was answered exactly once across both workers: nothing answered was asked again.
    assert script.judge_answered[1] == ANSWER_BEFORE_KILL
    assert script.judge_answered[1] + script.judge_answered[2] == N_SAMPLES * REPEATS
    assert Judgement.objects.filter(item__run=run).count() == N_SAMPLES * REPEATS
    # Names ending in an even digit are exact at rank 1: half the samples.
    assert run.metrics["top_k"][0] == pytest.approx(0.5)
