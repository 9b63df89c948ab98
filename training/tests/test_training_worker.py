"""Stage I -> Stage II through a real Celery gpu worker on CPU, cancel mid-run, a killed worker.

A tiny random Qwen2.5-VL with DVE (warm-started to answer in format) trains with TRL's GRPOTrainer;
captions are scored and diagnoses judged by the local OpenAI-compatible server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from annotations.models import Dataset, Sample
from annotations.tests.images import jpeg_bytes, write
from training import services
from training.models import Checkpoint, MetricPoint, TrainingRun
from training.runner import log_path
from training.tests.tiny_base import K, REFERENCE_CAPTION, scripted_llm, tiny_base
from webapp.llm_testserver import ScriptedLLMServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.celery_worker, pytest.mark.slow]

FAST = {"max_steps": 2, "group_size": 2, "batch_size": 2, "max_response_length": 72, "temperature": 0.5,
        "save_steps": 1, "lr": 1e-4}
LONG = dict(FAST, max_steps=500, save_steps=1000)


def needs_services() -> None:
    if not settings.CELERY_BROKER_URL.startswith("redis://") or connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL and Redis that bin/test starts")


def make_dataset(name: str = "Derm") -> Dataset:
    dataset = Dataset.objects.create(name=name, source="folder")
    for i, label in enumerate(["psoriasis", "psoriasis", "eczema"]):
        rel = f"train/{name}/{i}.jpg"
        write(Path(settings.MEDIA_ROOT) / rel, jpeg_bytes(color=(200, 100 + 20 * i, 110), size=(24, 24)))
        Sample.objects.create(dataset=dataset, external_id=str(i), image=rel, label=label, split="train",
                              state=Sample.State.AUTO_ACCEPTED, caption=REFERENCE_CAPTION)
    return dataset


def worker_env(tmp_path: Path, server: ScriptedLLMServer) -> dict:
    s = connection.settings_dict
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "SKINFLOW_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "SKINFLOW_LLM_BASE_URL": server.base_url, "SKINFLOW_LLM_MODEL": "scripted",
            "SKINFLOW_LLM_CACHE": str(tmp_path / "cache.sqlite3"),
            "SKINFLOW_TRAINING_DIR": str(tmp_path / "training"),
            "SKINFLOW_TRAINING_HEARTBEAT_TIMEOUT_S": "4", "CELERY_VISIBILITY_TIMEOUT": "5"}


def _rollout_answers(run) -> list[dict]:
    """Every completion the run logged to its rollouts file, each with the reward it got."""
    return [sample for line in (Path(run.run_dir) / "rollouts.jsonl").read_text().splitlines()
            for sample in json.loads(line)["samples"]]


def _caption_parses(completion: str) -> bool:
    from annotations.schema import CaptionError
    from training.rewards import _caption_body, _parse_generated

    try:
        _parse_generated(_caption_body(completion))
    except CaptionError:
        return False
    return True


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "gpu", "-P", "solo",
         "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop_worker(worker: subprocess.Popen) -> None:
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.wait()


def wait_for(run: TrainingRun, predicate, timeout: float, what: str) -> TrainingRun:
    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        if predicate(run):
            return run
        if time.monotonic() > deadline:
            tail = log_path(run).read_text()[-3000:] if log_path(run).exists() else "(no log)"
            pytest.fail(f"{what}: run is {run.state} ({run.error})\n{tail}")
        time.sleep(0.5)


def engine_pid(run: TrainingRun) -> int:
    return int((Path(run.run_dir) / "engine.pid").read_text())


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie child of a dead worker counts as gone once reaped by init; give it a moment.
    return Path(f"/proc/{pid}/status").exists() and "zombie" in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.django_db(transaction=True)
def test_stage_one_then_stage_two_through_the_gpu_worker(tmp_path, settings, client, admin_user):
    needs_services()
    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    base = tiny_base()
    dataset = make_dataset()
    with ScriptedLLMServer(scripted_llm) as server:
        worker = start_worker(worker_env(tmp_path, server))
        try:
            snapshot = services.create_snapshot(dataset, "train", "I")
            stage_one = services.launch_run(name="s1", stage="I", snapshot=snapshot, base_model_path=str(base),
                                            dve=True, dve_k=4, hyperparameters=FAST, lineage="tiny")
            stage_one = wait_for(stage_one, lambda r: r.is_terminal, 240, "Stage I did not finish")
            assert stage_one.state == "succeeded", stage_one.error
            scorer_calls = sum("Grade these fields" in str(r) for r in server.requests)
            # Every well-formed caption the tiny model wrote reached the scorer LLM through the engine's reward;
            # a malformed one scored 0 without a call. (Which of the 8 completions come out well-formed depends
            # on the CPU's float kernels, so the count is read from the run's own rollouts.)
            completions = _rollout_answers(stage_one)
            well_formed = [c for c in completions if _caption_parses(c["completion"])]
            assert completions and all(c["reward"] == 0.0 for c in completions if c not in well_formed)
            if well_formed:
                assert scorer_calls > 0, "no caption reached the scorer LLM"

            snapshot_two = services.create_snapshot(dataset, "train", "II", k=K)
            stage_two = services.launch_run(name="s2", stage="II", snapshot=snapshot_two, k=K, dve=True,
                                            dve_k=4, hyperparameters=FAST, lineage="tiny")
            stage_two = wait_for(stage_two, lambda r: r.is_terminal, 240, "Stage II did not finish")
            assert stage_two.state == "succeeded", stage_two.error
        finally:
            stop_worker(worker)
        judge_calls = sum("Zorblaxian" in str(r) for r in server.requests)
    # As in Stage I: whether the random tiny model writes any well-formed diagnosis list depends on the CPU's float
    # kernels, so the judge is required only when the run's own rollouts hold one; malformed answers score 0.
    from evaluation.diagnosis import parse_diagnosis

    answers = _rollout_answers(stage_two)
    well_formed = [a for a in answers if parse_diagnosis(a["completion"], K).ok]
    assert answers and all(a["reward"] == 0.0 for a in answers if a not in well_formed)
    if well_formed:
        assert judge_calls > 0, "no diagnosis reached the LLM judge"

    # Lineage: Stage II started from Stage I's final checkpoint, a merged HF folder with the DVE patch.
    final_one = Checkpoint.objects.get(run=stage_one, is_final=True)
    assert stage_two.init_checkpoint == final_one
    assert final_one.step == 2 and Checkpoint.objects.filter(run=stage_one, step=1, is_final=False).exists()
    assert '"skinflow_dve"' in (Path(final_one.path) / "config.json").read_text()
    assert (Path(final_one.path) / "tokenizer.json").exists()
    assert Checkpoint.objects.filter(run=stage_two, is_final=True).exists()

    # Metrics per step, with our names, parsed from the engine's log.
    for run in (stage_one, stage_two):
        steps = list(MetricPoint.objects.filter(run=run).values_list("step", flat=True))
        assert steps == [1, 2]
        values = MetricPoint.objects.get(run=run, step=2).values
        assert {"reward_mean", "reward_std", "kl", "loss", "lr", "response_length", "step_time"} <= set(values)
    stage_two_rewards = [p.values["reward_mean"] for p in MetricPoint.objects.filter(run=stage_two)]
    if well_formed:
        assert max(stage_two_rewards) > 0  # "psoriasis" at position 2 is worth 0.8 when spelled right
    else:
        assert max(stage_two_rewards) == 0.0

    # ... and on the run page.
    client.force_login(admin_user)
    page = client.get(f"/training/runs/{stage_two.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "reward_mean" in html and f"/training/runs/{stage_two.pk}/chart.svg" in html
    assert "SKINFLOW_METRICS" in html  # the log is readable in the page
    chart = client.get(f"/training/runs/{stage_two.pk}/chart.svg")
    assert chart.status_code == 200 and chart["Content-Type"].startswith("image/svg")


@pytest.mark.django_db(transaction=True)
def test_cancel_mid_run_stops_the_process_and_a_killed_worker_fails_the_run(tmp_path, settings):
    needs_services()
    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    base = tiny_base()
    dataset = make_dataset("Long")
    snapshot = services.create_snapshot(dataset, "train", "I")
    with ScriptedLLMServer(scripted_llm) as server:
        env = worker_env(tmp_path, server)
        worker = start_worker(env)
        try:
            # Cancel from the page's service: the worker stops the whole engine process group.
            run = services.launch_run(name="to-cancel", stage="I", snapshot=snapshot, base_model_path=str(base),
                                      dve=True, dve_k=4, hyperparameters=LONG)
            wait_for(run, lambda r: MetricPoint.objects.filter(run=r).exists(), 180, "no step was logged")
            pid = engine_pid(run)
            services.request_cancel(run)
            run = wait_for(run, lambda r: r.is_terminal, 30, "cancel did not stop the run")
            assert run.state == "cancelled"
            assert gone(pid)
            assert "cancelled by an admin" in log_path(run).read_text()

            # Kill the worker mid-run: the redelivered task finds the run orphaned and fails it.
            doomed = services.launch_run(name="doomed", stage="I", snapshot=snapshot, base_model_path=str(base),
                                         dve=True, dve_k=4, hyperparameters=LONG)
            wait_for(doomed, lambda r: MetricPoint.objects.filter(run=r).exists(), 180, "no step was logged")
            pid = engine_pid(doomed)
        finally:
            stop_worker(worker)
        deadline = time.monotonic() + 10
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert gone(pid), "the training process outlived its worker"
        doomed.refresh_from_db()
        assert doomed.state == "running"  # nothing has noticed yet
        worker = start_worker(env)
        try:
            doomed = wait_for(doomed, lambda r: r.is_terminal, 60, "the orphaned run stayed running")
        finally:
            stop_worker(worker)
    assert doomed.state == "failed"
    assert "lost mid-run" in doomed.error
    log = log_path(doomed).read_text()
    assert "SKINFLOW_METRICS" in log  # the log is kept
    assert MetricPoint.objects.filter(run=doomed).exists()
