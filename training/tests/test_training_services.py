"""Snapshots, launching, cancelling and orphaned runs, without a worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotations.models import Dataset, FieldFrequencyAnalysis, Sample
from annotations.tests.images import jpeg_bytes, write
from training import services
from training.export import read_manifest
from training.models import Checkpoint, DatasetSnapshot, TrainingRun
from training.services import TrainingError
from training.tests.tiny_base import REFERENCE_CAPTION

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _training_dir(settings, tmp_path):
    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")


def dataset_with(settings, captions: int = 2, plain: int = 1, name: str = "D") -> Dataset:
    dataset = Dataset.objects.create(name=name, source="folder")
    for i in range(captions + plain):
        rel = f"{name}/{i}.jpg"
        write(Path(settings.MEDIA_ROOT) / rel, jpeg_bytes(color=(10 * i, 100, 100)))
        Sample.objects.create(dataset=dataset, external_id=str(i), image=rel, label="psoriasis", split="train",
                              state=Sample.State.EXPERT_ACCEPTED if i < captions else Sample.State.NEW,
                              caption=REFERENCE_CAPTION if i < captions else None)
    return dataset


def base_folder(tmp_path) -> str:
    folder = tmp_path / "base"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text("{}")
    return str(folder)


def test_snapshot_records_samples_and_hash_and_is_reused_for_the_same_content(settings):
    dataset = dataset_with(settings)
    first = services.create_snapshot(dataset, "train", "I")
    assert first.version == 1 and first.rows == 2
    assert first.sample_ids == sorted(Sample.objects.filter(caption__isnull=False).values_list("pk", flat=True))
    assert read_manifest(first.path)["content_hash"] == first.content_hash
    assert services.create_snapshot(dataset, "train", "I") == first  # same content: same snapshot
    # A newly accepted caption changes the content: a new version; the old files stay as they were.
    Sample.objects.filter(caption__isnull=True).update(caption=REFERENCE_CAPTION, state=Sample.State.AUTO_ACCEPTED)
    second = services.create_snapshot(dataset, "train", "I")
    assert (second.version, second.rows) == (2, 3)
    assert read_manifest(first.path)["rows"] == 2
    # Stage II uses labels, captioned or not.
    assert services.create_snapshot(dataset, "train", "II", k=3).rows == 3


def test_snapshot_with_no_accepted_captions_is_refused(settings):
    dataset = dataset_with(settings, captions=0, plain=2)
    with pytest.raises(TrainingError, match="no accepted captions"):
        services.create_snapshot(dataset, "train", "I")
    assert not DatasetSnapshot.objects.exists()


def test_stage_two_without_a_stage_one_checkpoint_is_refused(settings, tmp_path):
    snapshot = services.create_snapshot(dataset_with(settings), "train", "II", k=6)
    with pytest.raises(TrainingError, match="finished Stage I checkpoint"):
        services.launch_run(name="s2", stage="II", snapshot=snapshot, lineage="nothing-yet")
    # A failed Stage I run of the lineage does not count.
    s1_snapshot = services.create_snapshot(snapshot.dataset, "train", "I")
    failed = TrainingRun.objects.create(name="s1", stage="I", lineage="x", snapshot=s1_snapshot, state="failed")
    Checkpoint.objects.create(run=failed, step=5, path=str(tmp_path), is_final=True)
    with pytest.raises(TrainingError, match="lineage 'x' has none"):
        services.launch_run(name="s2", stage="II", snapshot=snapshot, lineage="x")
    assert not TrainingRun.objects.filter(stage="II").exists()


def test_stage_two_defaults_to_the_lineages_finished_stage_one(settings, tmp_path, django_capture_on_commit_callbacks):
    dataset = dataset_with(settings)
    s1 = TrainingRun.objects.create(name="s1", stage="I", lineage="L", snapshot=services.create_snapshot(dataset, "train", "I"),
                                    state="succeeded", finished_at=timezone.now())
    final = Checkpoint.objects.create(run=s1, step=10, path=str(tmp_path), is_final=True)
    Checkpoint.objects.create(run=s1, step=5, path=str(tmp_path), is_final=False)
    with django_capture_on_commit_callbacks() as callbacks:
        run = services.launch_run(name="s2", stage="II", snapshot=services.create_snapshot(dataset, "train", "II", k=6),
                                  lineage="L", dve=True)
    assert run.init_checkpoint == final and run.state == "queued"
    assert run.hyperparameters["lr"] == pytest.approx(5e-7)  # Stage II default
    assert run.reward_settings == {"position_weights": [1.0, 0.8, 0.6, 0.4, 0.2, 0.1]}
    assert len(callbacks) == 1  # enqueued once, after commit


def test_launch_validation_messages(settings, tmp_path):
    dataset = dataset_with(settings)
    s1 = services.create_snapshot(dataset, "train", "I")
    base = base_folder(tmp_path)
    with pytest.raises(TrainingError, match="FDLinear"):
        services.launch_run(name="v", stage="I", snapshot=s1, base_model_path=base, engine="verl", dve=True)
    with pytest.raises(TrainingError, match="Stage I export"):
        services.launch_run(name="v", stage="II", snapshot=s1, base_model_path=base)
    with pytest.raises(TrainingError, match="not a Hugging Face model folder"):
        services.launch_run(name="v", stage="I", snapshot=s1, base_model_path=str(tmp_path / "missing"))
    with pytest.raises(TrainingError, match="group_size"):
        services.launch_run(name="v", stage="I", snapshot=s1, base_model_path=base, hyperparameters={"group_size": 1})
    with pytest.raises(TrainingError, match="unknown hyperparameter"):
        services.launch_run(name="v", stage="I", snapshot=s1, base_model_path=base, hyperparameters={"learning_rate": 1})
    s2 = services.create_snapshot(dataset, "train", "II", k=6)
    with pytest.raises(TrainingError, match="non-increasing"):
        services.launch_run(name="v", stage="II", snapshot=s2, base_model_path=base,
                            reward_settings={"position_weights": [0.5, 1, 0.5, 0.4, 0.2, 0.1]})
    assert not TrainingRun.objects.exists()


def test_stage_one_field_weights_come_from_the_frequency_analysis(settings, tmp_path):
    dataset = dataset_with(settings)
    FieldFrequencyAnalysis.objects.create(dataset=dataset, captions=2, answers=2, filled={}, cited={},
                                          weights={"color": 3, "location": 1})
    run = services.launch_run(name="s1", stage="I", snapshot=services.create_snapshot(dataset, "train", "I"),
                              base_model_path=base_folder(tmp_path))
    weights = run.reward_settings["field_weights"]
    assert weights["color"] == pytest.approx(0.75) and weights["location"] == pytest.approx(0.25)
    assert weights["shape"] == 0
    assert run.hyperparameters["lr"] == pytest.approx(1e-6)  # Stage I default


def test_cancel_a_queued_run_at_once_and_a_running_one_by_request(settings, tmp_path):
    snapshot = services.create_snapshot(dataset_with(settings), "train", "I")
    queued = TrainingRun.objects.create(name="q", stage="I", snapshot=snapshot)
    assert services.request_cancel(queued).state == "cancelled"
    running = TrainingRun.objects.create(name="r", stage="I", snapshot=snapshot, state="running")
    running = services.request_cancel(running)
    assert running.state == "running" and running.cancel_requested
    done = TrainingRun.objects.create(name="d", stage="I", snapshot=snapshot, state="succeeded")
    assert services.request_cancel(done).state == "succeeded"


def test_a_run_whose_heartbeat_stopped_is_failed_not_left_running(settings, monkeypatch):
    monkeypatch.setenv("SKINFLOW_TRAINING_HEARTBEAT_TIMEOUT_S", "60")
    snapshot = services.create_snapshot(dataset_with(settings), "train", "I")
    now = timezone.now()
    stale = TrainingRun.objects.create(name="stale", stage="I", snapshot=snapshot, state="running",
                                       heartbeat_at=now - timedelta(seconds=300))
    alive = TrainingRun.objects.create(name="alive", stage="I", snapshot=snapshot, state="running", heartbeat_at=now)
    assert services.reap_stale_runs() == 1
    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.state == "failed" and "heartbeats" in stale.error and stale.finished_at
    assert alive.state == "running"


def test_an_engine_that_fails_ends_the_run_failed_with_its_log(settings, tmp_path):
    from training.runner import execute_run, log_path

    snapshot = services.create_snapshot(dataset_with(settings), "train", "I")
    run = TrainingRun.objects.create(name="broken", stage="I", snapshot=snapshot, base_model_path=base_folder(tmp_path),
                                     hyperparameters={"max_steps": 1})
    (Path(run.base_model_path) / "config.json").unlink()  # the folder changed after launch
    assert execute_run(run.pk) == "failed"
    run.refresh_from_db()
    assert run.state == "failed" and run.finished_at
    assert "exited with status 1" in run.error and "no config.json" in run.error
    assert "no config.json" in log_path(run).read_text()  # the engine's own words, kept
    assert execute_run(run.pk) == "failed"  # a redelivered task changes nothing
