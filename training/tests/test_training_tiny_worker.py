"""The smoke test an admin runs from the browser, through a real Celery worker started the way bin/run starts
it (threads pool, queues default, llm and gpu): the tiny CPU model is built, Stage I and then Stage II train
on it, the run records its device, its progress JSON carries metrics, log and rollouts, and the final
checkpoint is downloaded and evaluated from its page."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from evaluation.models import EvalRun
from training.models import Checkpoint, MetricPoint, RolloutSample, TrainingRun
from training.tests.loop_helpers import loop_dataset
from training.tests.test_training_worker import ROOT, needs_services, wait_for, worker_env
from training.tests.tiny_base import scripted_llm
from webapp.llm_testserver import ScriptedLLMServer

pytestmark = [pytest.mark.celery_worker, pytest.mark.slow]


def embedded_worker(env: dict) -> subprocess.Popen:
    """bin/run's worker: every queue in one threads pool (two threads: the CPU has two cores)."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "default,llm,gpu", "-P", "threads",
         "--concurrency", "2", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(worker: subprocess.Popen) -> None:
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.wait()


def seconds(run: TrainingRun) -> float:
    return (run.finished_at - run.started_at).total_seconds()


@pytest.mark.django_db(transaction=True)
def test_tiny_cpu_model_stage_one_then_two_from_the_pages(tmp_path, settings, client, admin_user):
    needs_services()
    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    settings.DATA_DIR = tmp_path / "data"
    dataset = loop_dataset("Smoke")
    client.force_login(admin_user)
    with ScriptedLLMServer(scripted_llm) as server:
        worker = embedded_worker(worker_env(tmp_path, server))
        try:
            # Stage I from the launch page, with nothing but the tiny model chosen.
            answer = client.post("/training/launch/", {
                "name": "smoke I", "lineage": "smoke", "stage": "I", "engine": "trl", "dataset": dataset.pk,
                "split": "train", "k": 3, "base_model": "tiny", "base_model_path": "", "train_on_overrides": "on",
                "dve": "on"})
            assert answer.status_code == 302, answer.content.decode()[-2000:]
            stage_one = TrainingRun.objects.get(name="smoke I")
            stage_one = wait_for(stage_one, lambda r: r.is_terminal, 420, "Stage I did not finish")
            assert stage_one.state == "succeeded", stage_one.error

            # Stage II through the API: it starts from the lineage's Stage I checkpoint.
            answer = client.post("/api/training/runs/", {"name": "smoke II", "lineage": "smoke", "stage": "II",
                                                         "dataset": dataset.pk, "k": 3, "dve": True,
                                                         "hyperparameters": {"max_steps": 4, "group_size": 4,
                                                                             "batch_size": 2, "save_steps": 2,
                                                                             "max_response_length": 96,
                                                                             "lr": 1e-4}},
                                 content_type="application/json")
            assert answer.status_code == 201, answer.content
            stage_two = wait_for(TrainingRun.objects.get(pk=answer.json()["id"]), lambda r: r.is_terminal, 420,
                                 "Stage II did not finish")
            assert stage_two.state == "succeeded", stage_two.error

            # Evaluate the final checkpoint from its page: a local-checkpoint evaluation run of it.
            final = Checkpoint.objects.get(run=stage_two, is_final=True)
            answer = client.post(f"/training/checkpoints/{final.pk}/evaluate/",
                                 {"dataset": dataset.pk, "split": "test", "k": 3, "judge_repeats": 1})
            evaluation = EvalRun.objects.get()
            assert answer.status_code == 302 and answer["Location"] == f"/evaluation/runs/{evaluation.pk}/"
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                evaluation.refresh_from_db()
                if evaluation.status in ("done", "failed", "partially_failed"):
                    break
                time.sleep(1)
        finally:
            stop(worker)

    times = {"stage I": seconds(stage_one), "stage II": seconds(stage_two)}
    Path(os.environ.get("SKINFLOW_TIMES_FILE", tmp_path / "times.txt")).write_text(repr(times))
    print(f"\ntiny CPU model wall times (started -> finished): {times}; evaluation {evaluation.status}")

    # The tiny model was built once in the data folder, and Stage II started from Stage I.
    assert stage_one.tiny_model and Path(stage_one.base_model_path).parent == (tmp_path / "data" / "models").resolve()
    assert (Path(stage_one.base_model_path) / "config.json").is_file()
    assert stage_two.init_checkpoint == Checkpoint.objects.get(run=stage_one, is_final=True)
    for run in (stage_one, stage_two):
        assert run.device == "cpu" and run.worker_host  # where it ran, as the worker reported it
        assert list(MetricPoint.objects.filter(run=run).values_list("step", flat=True)) == [1, 2, 3, 4]
        assert RolloutSample.objects.filter(run=run).values("step").distinct().count() == 4
    # Stage II's rewards vary when there is something to learn from: whether the random model writes any well-formed
    # diagnosis list depends on the CPU's float kernels, so they must vary only when some answer parses; malformed
    # answers always score 0. (Stage I's caption reward on the tiny random model is 0 on every step: not asserted.)
    from evaluation.diagnosis import parse_diagnosis

    rollouts = list(RolloutSample.objects.filter(run=stage_two))
    well_formed = [r for r in rollouts if parse_diagnosis(r.completion, stage_two.k).ok]
    assert all(r.reward == 0.0 for r in rollouts if r not in well_formed)
    if well_formed:
        assert len({r.reward for r in rollouts}) > 1, stage_two.name
    assert Path(stage_one.base_model_path).name.endswith("-dve")  # the variant warm-started with DVE

    progress = client.get(f"/api/training/runs/{stage_two.pk}/progress/").json()
    assert progress["state"] == "succeeded" and progress["step"] == progress["total"] == 4
    assert [p["step"] for p in progress["points"]] == [1, 2, 3, 4] and "reward_mean" in progress["latest"]
    assert "final checkpoint at step 4" in progress["log"]  # the log's tail
    assert 'SKINFLOW_DEVICE {"device": "cpu"' in Path(stage_two.run_dir, "train.log").read_text()
    assert progress["rollouts"][0]["step"] == 4 and progress["rollouts"][0]["samples"][0]["completion"]
    page = client.get(f"/training/runs/{stage_two.pk}/").content.decode()
    assert "Runs on <b data-live-text=\"device\">cpu</b>" in page

    # The final checkpoint downloads as a zip of a loadable Hugging Face folder.
    download = client.get(f"/training/checkpoints/{final.pk}/download.zip")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = {name.split("/", 1)[1] for name in archive.namelist()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert evaluation.kind == "local" and evaluation.checkpoint == final.path
    assert evaluation.status == "done", evaluation.error
