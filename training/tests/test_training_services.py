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


def test_stage_two_of_the_tiny_smoke_test_keeps_the_smoke_defaults(settings, tmp_path):
    # Issue 13's browser journey: Stage II launched from the form on the tiny model's Stage I checkpoint ran
    # with the paper's defaults (hours on a CPU) unless the admin typed the smoke settings in by hand.
    dataset = dataset_with(settings)
    s1 = TrainingRun.objects.create(name="s1", stage="I", lineage="T", tiny_model=True, dve=True, state="succeeded",
                                    snapshot=services.create_snapshot(dataset, "train", "I"), finished_at=timezone.now())
    final = Checkpoint.objects.create(run=s1, step=4, path=str(tmp_path), is_final=True)
    stage_two = services.create_snapshot(dataset, "train", "II", k=6)
    for init in (final, None):  # picked on the form, or the lineage's own
        run = services.launch_run(name="s2", stage="II", snapshot=stage_two, lineage="T", init_checkpoint=init,
                                  hyperparameters={"max_steps": 3})
        assert run.init_checkpoint == final and not run.tiny_model
        expected = {**services.SMOKE_HYPERPARAMETERS, "max_steps": 3}  # what the launch sets still wins
        assert {k: run.hyperparameters[k] for k in expected} == expected
    # A run on a real base model keeps the paper's defaults.
    s1.tiny_model = False
    s1.save()
    assert services.launch_run(name="s2", stage="II", snapshot=stage_two, lineage="T").hyperparameters["lr"] == \
        pytest.approx(5e-7)


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
        services.launch_run(name="v", stage="II", snapshot=s2, base_model_path=base, dve=False,
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


# ---- review fixes ------------------------------------------------------------------------------------------

def dve_folder(tmp_path, name: str = "dve-base") -> str:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text('{"skinflow_dve": {"format_version": 1}}')
    return str(folder)


def finished_run(snapshot, tmp_path, *, dve: bool, stage: str = "I", lineage: str = "L") -> Checkpoint:
    run = TrainingRun.objects.create(name="s1", stage=stage, lineage=lineage, snapshot=snapshot, dve=dve,
                                     state="succeeded", finished_at=timezone.now())
    return Checkpoint.objects.create(run=run, step=10, path=str(tmp_path), is_final=True)


def test_a_refused_launch_does_not_block_later_snapshots(settings):
    from django.db import transaction

    dataset = dataset_with(settings, captions=1, plain=0)
    with pytest.raises(TrainingError, match="finished Stage I checkpoint"):
        with transaction.atomic():  # as the launch view and the API do
            snapshot = services.create_snapshot(dataset, "train", "II", k=6)
            services.launch_run(name="s2", stage="II", snapshot=snapshot, lineage="none")
    assert not DatasetSnapshot.objects.exists()  # the row rolled back, its folder stayed
    again = services.create_snapshot(dataset, "train", "II", k=6)
    assert again.version == 2 and Path(again.path).name.endswith("-v2")
    assert services.create_snapshot(dataset, "train", "II", k=6) == again


def test_the_starting_models_dve_must_fit_the_run(settings, tmp_path):
    dataset = dataset_with(settings)
    s1 = services.create_snapshot(dataset, "train", "I")
    s2 = services.create_snapshot(dataset, "train", "II", k=6)
    dve_checkpoint = finished_run(s1, tmp_path, dve=True, lineage="dve")
    plain_checkpoint = finished_run(s1, tmp_path, dve=False, lineage="plain")
    # The lineage's Stage I carries FDLinear: verl cannot load it, and a DVE-off run cannot either.
    with pytest.raises(TrainingError, match="verl cannot load"):
        services.launch_run(name="v", stage="II", snapshot=s2, lineage="dve", engine="verl", dve=False)
    with pytest.raises(TrainingError, match="turn DVE on"):
        services.launch_run(name="t", stage="II", snapshot=s2, lineage="dve", dve=False)
    # A Stage II run with DVE on a model trained without it would add untrained FDLinear layers.
    with pytest.raises(TrainingError, match="untrained FDLinear"):
        services.launch_run(name="t", stage="II", snapshot=s2, lineage="plain", dve=True)
    with pytest.raises(TrainingError, match="turn DVE on"):
        services.launch_run(name="t", stage="I", snapshot=s1, base_model_path=dve_folder(tmp_path), dve=False)
    assert not TrainingRun.objects.exclude(pk__in=[dve_checkpoint.run_id, plain_checkpoint.run_id]).exists()
    # What fits is accepted: DVE on from the DVE lineage, DVE off from the plain one, DVE added in Stage I.
    assert services.launch_run(name="ok", stage="II", snapshot=s2, lineage="dve", dve=True).init_checkpoint == dve_checkpoint
    assert services.launch_run(name="ok", stage="II", snapshot=s2, lineage="plain", dve=False).init_checkpoint == plain_checkpoint
    assert services.launch_run(name="ok", stage="I", snapshot=s1, base_model_path=base_folder(tmp_path), dve=True).dve


@pytest.mark.parametrize("given, message", [
    ({"field_weights": "/etc/any.json"}, "object mapping caption fields"),
    ({"field_weights": 123}, "object mapping caption fields"),
    ({"field_weights": {"color": "heavy"}}, "object mapping caption fields"),
    ({"field_weights": {"not_a_field": 1}}, "unknown caption field"),
])
def test_field_weights_must_be_a_mapping_of_numbers_never_a_path(settings, tmp_path, given, message):
    secret = tmp_path / "secret.json"
    secret.write_text('{"s3cr3t_key": 1}')
    if given["field_weights"] == "/etc/any.json":
        given = {"field_weights": str(secret)}
    s1 = services.create_snapshot(dataset_with(settings), "train", "I")
    with pytest.raises(TrainingError, match=message) as info:
        services.launch_run(name="r", stage="I", snapshot=s1, base_model_path=base_folder(tmp_path), reward_settings=given)
    assert "s3cr3t_key" not in str(info.value)


@pytest.mark.parametrize("weights", [5, "1,0.8", [1, "x"], {"a": 1}])
def test_position_weights_must_be_a_list_of_numbers(settings, tmp_path, weights):
    s2 = services.create_snapshot(dataset_with(settings), "train", "II", k=6)
    with pytest.raises(TrainingError, match="list of numbers"):
        services.launch_run(name="r", stage="II", snapshot=s2, base_model_path=base_folder(tmp_path), dve=False,
                            reward_settings={"position_weights": weights})


def test_verl_options_are_validated_and_stored(settings, tmp_path):
    settings.SKINFLOW_ALLOWED_RAY_HOSTS = "head:8265"  # a private in-cluster name: listed (webapp/egress.py)
    dataset = dataset_with(settings, captions=8, plain=0)
    s1 = services.create_snapshot(dataset, "train", "I")
    base = base_folder(tmp_path)

    def launch(options, **hp):
        return services.launch_run(name="v", stage="I", snapshot=s1, base_model_path=base, engine="verl", dve=False,
                                   verl_options=options, hyperparameters=hp)

    options = {"ray_address": "http://head:8265", "n_gpus_per_node": 4, "nnodes": 2, "rollout": "sglang",
               "micro_batch_size_per_gpu": 2}
    assert launch(options).hyperparameters["verl"] == options
    assert launch({"ray_address": "auto"}).hyperparameters["verl"] == {"ray_address": "auto"}
    for bad, message in [({"extra_overrides": ["reward.custom_reward_function.path=/tmp/x.py"]}, "unknown verl option"),
                         ({"n_gpus_per_node": 0}, "integer >= 1"), ({"nnodes": "2"}, "integer >= 1"),
                         ({"rollout": "hf"}, "rollout must be"), ({"ray_address": "file:///tmp/x"}, "http"),
                         ({"ray_address": "http://h:1 --x"}, "http")]:
        with pytest.raises(TrainingError, match=message):
            launch(bad)
    # verl spreads batch_size * G completions over every GPU.
    with pytest.raises(TrainingError, match="multiple of the GPU count"):
        launch({"n_gpus_per_node": 3})
    with pytest.raises(TrainingError, match="only for verl runs"):
        services.launch_run(name="t", stage="I", snapshot=s1, base_model_path=base, verl_options={"nnodes": 1})


def test_verl_refuses_a_snapshot_smaller_than_one_batch(settings, tmp_path):
    s1 = services.create_snapshot(dataset_with(settings, captions=3, plain=0), "train", "I")
    with pytest.raises(TrainingError, match="fewer than batch_size 8"):
        services.launch_run(name="v", stage="I", snapshot=s1, base_model_path=base_folder(tmp_path), engine="verl", dve=False)
    run = services.launch_run(name="v", stage="I", snapshot=s1, base_model_path=base_folder(tmp_path), engine="verl",
                              dve=False, hyperparameters={"batch_size": 3, "group_size": 2})
    assert run.hyperparameters["batch_size"] == 3


@pytest.mark.parametrize("hp, message", [
    ({"temperature": 0}, "temperature"), ({"warmup_ratio": 1.0}, "warmup_ratio"), ({"warmup_ratio": 1.5}, "warmup_ratio"),
    ({"lr": 0}, "lr must"), ({"clip_eps": 0}, "clip_eps"), ({"clip_eps": 1}, "clip_eps"),
])
def test_hyperparameter_bounds(settings, tmp_path, hp, message):
    s1 = services.create_snapshot(dataset_with(settings), "train", "I")
    with pytest.raises(TrainingError, match=message):
        services.launch_run(name="r", stage="I", snapshot=s1, base_model_path=base_folder(tmp_path), hyperparameters=hp)


def test_a_run_launched_while_the_broker_is_down_stays_queued_and_the_reaper_sends_it(
        settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    from training import tasks

    def down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis")

    monkeypatch.setattr(tasks.run_training, "delay", down)
    s1 = services.create_snapshot(dataset_with(settings), "train", "I")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.launch_run(name="r", stage="I", snapshot=s1, base_model_path=base_folder(tmp_path))
    run.refresh_from_db()
    assert run.state == "queued" and run.enqueued_at is None and "task queue is unreachable" in run.error
    assert services.reap_stale_runs() == 0  # still down: nothing sent, nothing failed
    sent: list[int] = []
    monkeypatch.setattr(tasks.run_training, "delay", lambda run_id: sent.append(run_id))
    assert services.reap_stale_runs() == 1 and sent == [run.pk]
    run.refresh_from_db()
    assert run.state == "queued" and run.enqueued_at is not None and run.error == ""
    assert services.reap_stale_runs() == 0 and sent == [run.pk]  # sent once, not on every round


def test_a_queued_run_the_broker_lost_is_sent_again(settings, monkeypatch):
    from training import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.run_training, "delay", lambda run_id: sent.append(run_id))
    snapshot = services.create_snapshot(dataset_with(settings), "train", "I")
    run = TrainingRun.objects.create(name="lost", stage="I", snapshot=snapshot,
                                     enqueued_at=timezone.now() - timedelta(hours=1))
    assert services.reap_stale_runs() == 1 and sent == [run.pk]


def test_the_reaper_fails_runs_queued_too_long(settings, monkeypatch):
    monkeypatch.setenv("SKINFLOW_TRAINING_QUEUED_TIMEOUT_S", "3600")
    snapshot = services.create_snapshot(dataset_with(settings), "train", "I")
    old = TrainingRun.objects.create(name="old", stage="I", snapshot=snapshot)
    TrainingRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    fresh = TrainingRun.objects.create(name="fresh", stage="I", snapshot=snapshot, enqueued_at=timezone.now())
    assert services.reap_stale_runs() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.state == "failed" and "no gpu worker picked the run up" in old.error and old.finished_at
    assert fresh.state == "queued"


def test_an_orphaned_run_keeps_the_checkpoints_it_listed_and_torn_lines_are_skipped(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("SKINFLOW_TRAINING_HEARTBEAT_TIMEOUT_S", "60")
    snapshot = services.create_snapshot(dataset_with(settings), "train", "I")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "checkpoints.jsonl").write_text('{"step": 1, "path": "/c/step-1", "final": false}\n{"step": 2, "pa')
    run = TrainingRun.objects.create(name="stale", stage="I", snapshot=snapshot, state="running", run_dir=str(folder),
                                     heartbeat_at=timezone.now() - timedelta(seconds=300))
    assert services.reap_stale_runs() == 1
    run.refresh_from_db()
    assert run.state == "failed"
    assert list(run.checkpoints.values_list("step", "path", "is_final")) == [(1, "/c/step-1", False)]


def sleeper_run(settings, tmp_path, monkeypatch, script: str) -> TrainingRun:
    """A run whose 'engine' is a small Python script (no model, no TRL)."""
    import sys

    from training import engines

    monkeypatch.setattr(engines, "command", lambda spec, path: [sys.executable, "-c", script])
    snapshot = services.create_snapshot(dataset_with(settings), "train", "I")
    return TrainingRun.objects.create(name="sleeper", stage="I", snapshot=snapshot, base_model_path=base_folder(tmp_path))


def test_a_supervisor_error_stops_the_engine_and_fails_the_run(settings, tmp_path, monkeypatch):
    import os

    from django.db import OperationalError

    from training import runner

    run = sleeper_run(settings, tmp_path, monkeypatch, "import time; time.sleep(60)")
    real_now, calls = timezone.now, []

    class BlippingTimezone:
        @staticmethod
        def now():
            calls.append(1)
            if len(calls) == 2:  # 1: the claim, 2: the first heartbeat
                raise OperationalError("server closed the connection unexpectedly")
            return real_now()

    monkeypatch.setattr(runner, "timezone", BlippingTimezone)
    started = timezone.now()
    with pytest.raises(OperationalError):
        runner.execute_run(run.pk)
    assert (timezone.now() - started).total_seconds() < 30
    run.refresh_from_db()
    assert run.state == "failed" and "supervisor failed" in run.error and "server closed" in run.error
    pid = int((Path(run.run_dir) / "engine.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped
    assert "error: the run supervisor failed" in runner.log_path(run).read_text()


def test_checkpoints_are_registered_while_the_run_is_still_going(settings, tmp_path, monkeypatch):
    from training import runner

    run = sleeper_run(settings, tmp_path, monkeypatch, "import time; time.sleep(2.6)")
    seen = []
    real = runner.register_checkpoints
    monkeypatch.setattr(runner, "register_checkpoints", lambda r, folder: (seen.append(folder), real(r, folder)))
    assert runner.execute_run(run.pk) == "failed"  # exits 0 without a final checkpoint
    assert len(seen) >= 2  # on the heartbeat, and once more at the end


def test_reusing_a_snapshot_reads_no_image_when_checksums_are_stored(settings):
    import hashlib

    dataset = dataset_with(settings)
    media = Path(settings.MEDIA_ROOT)
    for sample in Sample.objects.filter(dataset=dataset):
        Sample.objects.filter(pk=sample.pk).update(checksum=hashlib.sha256((media / sample.image).read_bytes()).hexdigest())
    first = services.create_snapshot(dataset, "train", "I")
    assert read_manifest(first.path)["content_hash"] == first.content_hash  # the same hash as from the bytes
    for sample in Sample.objects.filter(dataset=dataset):
        (media / sample.image).unlink()  # reuse must not need the images
    assert services.create_snapshot(dataset, "train", "I") == first


def test_the_launch_records_a_pending_snapshot_that_the_gpu_task_builds(settings, tmp_path, monkeypatch):
    import sys

    from training import engines
    from training.runner import execute_run

    monkeypatch.setattr(engines, "command", lambda spec, path: [sys.executable, "-c", "pass"])
    dataset = dataset_with(settings)
    built = services.create_snapshot(dataset, "train", "I", build=True)
    Sample.objects.filter(caption__isnull=True).update(caption=REFERENCE_CAPTION, state=Sample.State.AUTO_ACCEPTED)
    pending = services.create_snapshot(dataset, "train", "I", build=False)  # what the launch page does
    assert pending.state == "pending" and pending.rows == 3 and pending.version == built.version + 1
    assert not Path(pending.path).exists()  # nothing written inside the web request
    assert services.create_snapshot(dataset, "train", "I", build=False) == pending
    run = services.launch_run(name="r", stage="I", snapshot=pending, base_model_path=base_folder(tmp_path))
    execute_run(run.pk)  # the engine exits at once; the snapshot was built first
    pending.refresh_from_db()
    assert pending.state == "ready"
    assert read_manifest(pending.path)["content_hash"] == pending.content_hash
    assert read_manifest(pending.path)["sample_ids"] == pending.sample_ids


def test_a_snapshot_that_cannot_be_built_fails_the_run(settings, tmp_path):
    from training.runner import execute_run

    dataset = dataset_with(settings)
    pending = services.create_snapshot(dataset, "train", "I", build=False)
    for sample in Sample.objects.filter(dataset=dataset):
        (Path(settings.MEDIA_ROOT) / sample.image).unlink()
    run = services.launch_run(name="r", stage="I", snapshot=pending, base_model_path=base_folder(tmp_path))
    assert execute_run(run.pk) == "failed"
    run.refresh_from_db()
    pending.refresh_from_db()
    assert "cannot read its image" in run.error and pending.state == "failed"
