"""Expert overrides in training data: a launch choice (default: yes), recorded on the run, visible on the run
page, listed in the snapshot manifest; leaving them out changes the rows and so the content hash."""

from __future__ import annotations

import pytest

from annotations.models import Sample
from training import services
from training.export import read_manifest
from training.forms import LaunchForm
from training.models import TrainingRun
from training.tests.test_training_services import base_folder, dataset_with
from training.tests.tiny_base import REFERENCE_CAPTION

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _training_dir(settings, tmp_path):
    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")


def with_override(settings):
    """Two expert-accepted captions and one expert override (the plain sample is turned into it)."""
    dataset = dataset_with(settings, captions=2, plain=1)
    override = Sample.objects.get(dataset=dataset, caption__isnull=True)
    Sample.objects.filter(pk=override.pk).update(state=Sample.State.EXPERT_OVERRIDE,
                                                 caption=dict(REFERENCE_CAPTION, color="violaceous"))
    return dataset, override


def test_the_manifest_lists_overrides_and_leaving_them_out_changes_the_hash(settings):
    dataset, override = with_override(settings)
    included = services.create_snapshot(dataset, "train", "I")
    assert included.rows == 3 and included.override_ids == [override.pk]
    manifest = read_manifest(included.path)
    assert manifest["overrides"] == [override.pk] and override.pk in manifest["sample_ids"]
    excluded = services.create_snapshot(dataset, "train", "I", include_overrides=False)
    assert excluded != included and excluded.content_hash != included.content_hash
    assert excluded.rows == 2 and override.pk not in excluded.sample_ids and excluded.override_ids == []
    assert read_manifest(excluded.path)["overrides"] == []
    # Stage II uses labels, not captions: overrides are ordinary labelled samples there.
    stage_two = services.create_snapshot(dataset, "train", "II", k=3, build=False)
    assert override.pk in stage_two.sample_ids and stage_two.override_ids == []


def test_a_pending_snapshot_keeps_its_overrides_for_the_gpu_task(settings, tmp_path, monkeypatch):
    dataset, override = with_override(settings)
    pending = services.create_snapshot(dataset, "train", "I", build=False)
    assert pending.override_ids == [override.pk]
    services.build_snapshot(pending)
    assert read_manifest(pending.path)["overrides"] == [override.pk]


def test_the_launch_records_the_choice_and_the_run_page_says_how_many_overrides(admin_client_role, settings, tmp_path):
    dataset, override = with_override(settings)
    assert LaunchForm().fields["train_on_overrides"].initial is True
    payload = {"name": "with", "stage": "I", "dataset": dataset.pk, "base_model_path": base_folder(tmp_path)}
    default = admin_client_role.post("/api/training/runs/", payload, content_type="application/json")
    assert default.status_code == 201, default.content
    assert default.json()["train_on_overrides"] is True
    run = TrainingRun.objects.get(pk=default.json()["id"])
    assert run.snapshot.override_ids == [override.pk] and run.snapshot.rows == 3
    page = admin_client_role.get(f"/training/runs/{run.pk}/").content.decode()
    assert "Expert overrides: the snapshot contains 1 caption(s)" in page

    without = admin_client_role.post("/api/training/runs/", dict(payload, name="without", train_on_overrides=False),
                                     content_type="application/json").json()
    run = TrainingRun.objects.get(pk=without["id"])
    assert not run.train_on_overrides and run.snapshot.rows == 2 and override.pk not in run.snapshot.sample_ids
    assert "Expert overrides: left out of this run" in admin_client_role.get(f"/training/runs/{run.pk}/").content.decode()


def test_the_launch_form_passes_the_choice(admin_client_role, settings, tmp_path):
    dataset, override = with_override(settings)
    form = {"name": "f", "lineage": "L", "stage": "I", "engine": "trl", "dataset": dataset.pk, "split": "train",
            "k": 6, "base_model_path": base_folder(tmp_path), "dve": "on", "hyperparameters": "", "reward_settings": ""}
    assert admin_client_role.post("/training/launch/", dict(form, train_on_overrides="on")).status_code == 302
    assert admin_client_role.post("/training/launch/", dict(form, name="g")).status_code == 302  # unticked
    runs = {r.name: r for r in TrainingRun.objects.select_related("snapshot")}
    assert runs["f"].train_on_overrides and runs["f"].snapshot.rows == 3
    assert not runs["g"].train_on_overrides and runs["g"].snapshot.rows == 2
    assert "Train on expert overrides" in admin_client_role.get("/training/launch/").content.decode()
