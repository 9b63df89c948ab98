"""The training pages: admins only, launch form, run page with charts and log, cancel, compare."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import services
from training.models import MetricPoint, TrainingRun
from training.runner import log_path
from training.tests.test_training_services import base_folder, dataset_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _training_dir(settings, tmp_path):
    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")


def test_pages_need_the_admin_role(derm_client, settings):
    from django.test import Client

    dataset_with(settings)
    assert Client().get("/training/").status_code == 302  # login first
    for url in ("/training/", "/training/launch/", "/training/compare/"):
        assert derm_client.get(url).status_code == 403


def test_launch_form_exports_and_queues(admin_client_role, settings, tmp_path, django_capture_on_commit_callbacks):
    dataset = dataset_with(settings)
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client_role.post("/training/launch/", {
            "name": "first", "lineage": "L", "stage": "I", "engine": "trl", "dataset": dataset.pk, "split": "train",
            "k": 6, "base_model_path": base_folder(tmp_path), "dve": "on", "dve_k": 4,
            "hyperparameters": '{"max_steps": 3, "group_size": 2}', "reward_settings": ""})
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/training/runs/{run.pk}/"
    assert run.hyperparameters["max_steps"] == 3 and run.dve and run.dve_k == 4
    assert run.snapshot.rows == 2 and len(callbacks) == 1



def test_the_launch_form_chooses_the_stage_one_caption_scorer(admin_client_role, settings, tmp_path):
    dataset = dataset_with(settings)
    form = {"name": "fields", "lineage": "L", "stage": "I", "engine": "trl", "dataset": dataset.pk, "split": "train",
            "k": 6, "base_model_path": base_folder(tmp_path), "hyperparameters": "", "reward_settings": "",
            "caption_scorer": "fields"}
    assert "Stage I caption scorer" in admin_client_role.get("/training/launch/").content.decode()
    assert admin_client_role.post("/training/launch/", form).status_code == 302
    run = TrainingRun.objects.get(name="fields")
    assert run.reward_settings["caption_scorer"] == "fields"
    assert "caption_scorer" in admin_client_role.get(f"/training/runs/{run.pk}/").content.decode()
    refused = admin_client_role.post("/training/launch/", {**form, "name": "bad", "caption_scorer": "gpt"})
    assert refused.status_code == 400 and "Select a valid choice" in refused.content.decode()


def test_launch_form_shows_why_a_run_is_refused(admin_client_role, settings):
    dataset = dataset_with(settings)
    response = admin_client_role.post("/training/launch/", {
        "name": "s2", "lineage": "none", "stage": "II", "engine": "trl", "dataset": dataset.pk, "split": "train",
        "k": 6, "dve": "on", "hyperparameters": "", "reward_settings": ""})
    assert response.status_code == 400
    assert "finished Stage I checkpoint" in response.content.decode()
    assert not TrainingRun.objects.exists()
    response = admin_client_role.post("/training/launch/", {
        "name": "v", "lineage": "x", "stage": "I", "engine": "verl", "dataset": dataset.pk, "split": "train",
        "k": 6, "dve": "on", "base_model_path": "/tmp", "hyperparameters": "", "reward_settings": ""})
    assert "FDLinear" in response.content.decode() and not TrainingRun.objects.exists()


def test_run_page_shows_metrics_log_and_cancel(admin_client_role, settings):
    snapshot = services.create_snapshot(dataset_with(settings), "train", "I")
    run = TrainingRun.objects.create(name="watch me", stage="I", snapshot=snapshot, state="running",
                                     run_dir=str(Path(settings.SKINFLOW_TRAINING_DIR) / "runs" / "run-x"))
    for step, reward in ((1, 0.2), (2, 0.4)):
        MetricPoint.objects.create(run=run, step=step, values={"reward_mean": reward, "kl": 0.01 * step})
    log_path(run).parent.mkdir(parents=True)
    log_path(run).write_text("model loaded\nstep 2 done\n")
    html = admin_client_role.get(f"/training/runs/{run.pk}/").content.decode()
    assert "watch me" in html and "0.4" in html and "step 2 done" in html and "Cancel run" in html
    assert f'action="/training/runs/{run.pk}/cancel/"' in html
    chart = admin_client_role.get(f"/training/runs/{run.pk}/chart.svg")
    assert chart.status_code == 200 and b"<svg" in chart.content
    assert admin_client_role.get(f"/training/runs/{run.pk}/log").content.decode().startswith("model loaded")
    response = admin_client_role.post(f"/training/runs/{run.pk}/cancel/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.cancel_requested


def test_compare_page(admin_client_role, settings):
    snapshot = services.create_snapshot(dataset_with(settings), "train", "I")
    runs = [TrainingRun.objects.create(name=f"run {i}", stage="I", snapshot=snapshot, state="succeeded",
                                       hyperparameters={"lr": 1e-6 * (i + 1)}) for i in range(2)]
    for run in runs:
        MetricPoint.objects.create(run=run, step=1, values={"reward_mean": 0.3})
    query = "&".join(f"runs={r.pk}" for r in runs)
    html = admin_client_role.get(f"/training/compare/?{query}").content.decode()
    assert "run 0" in html and "run 1" in html and "0.000002" in html and "0.000001" in html
    chart = admin_client_role.get(f"/training/compare/chart.svg?{query}&metric=kl")
    assert chart.status_code == 200 and b"<svg" in chart.content


def test_api_launch_metrics_and_cancel(admin_client_role, settings, tmp_path):
    dataset = dataset_with(settings)
    payload = {"name": "api", "stage": "I", "dataset": dataset.pk, "base_model_path": base_folder(tmp_path),
               "hyperparameters": {"max_steps": 2}}
    response = admin_client_role.post("/api/training/runs/", payload, content_type="application/json")
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    MetricPoint.objects.create(run_id=run_id, step=1, values={"reward_mean": 0.5})
    assert admin_client_role.get(f"/api/training/runs/{run_id}/metrics/").json() == [{"step": 1, "reward_mean": 0.5}]
    assert admin_client_role.post(f"/api/training/runs/{run_id}/cancel/").json()["state"] == "cancelled"
    refused = admin_client_role.post("/api/training/runs/", dict(payload, stage="II", base_model_path=""),
                                     content_type="application/json")
    assert refused.status_code == 400 and "Stage I" in refused.json()["detail"]


def test_charts_take_run_names_with_dollars():
    from training import plots

    points = [(1, {"reward_mean": 0.5}), (2, {"reward_mean": 0.6})]
    name = r"lr $\oops{1e-6}$ run"  # not valid mathtext
    assert b"<svg" in plots.run_chart(points, title=name)
    assert b"<svg" in plots.compare_chart([(f"#1 {name}", points), ("#2 costs $5 and $6", points)])


def test_api_takes_verl_options_and_only_finished_checkpoints(admin_client_role, settings, tmp_path):
    from django.utils import timezone

    from training.models import Checkpoint

    settings.SKINFLOW_ALLOWED_RAY_HOSTS = "head:8265"  # a private in-cluster name: listed (webapp/egress.py)
    dataset = dataset_with(settings, captions=8, plain=0)
    payload = {"name": "api", "stage": "I", "engine": "verl", "dve": False, "dataset": dataset.pk,
               "base_model_path": base_folder(tmp_path), "verl_options": {"ray_address": "http://head:8265", "nnodes": 2}}
    response = admin_client_role.post("/api/training/runs/", payload, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["hyperparameters"]["verl"] == {"ray_address": "http://head:8265", "nnodes": 2}
    refused = admin_client_role.post("/api/training/runs/", dict(payload, verl_options={"extra_overrides": ["x=1"]}),
                                     content_type="application/json")
    assert refused.status_code == 400 and "unknown verl option" in refused.json()["detail"]
    # A checkpoint of a failed run is not a starting point (the form does not offer it either).
    snapshot = services.create_snapshot(dataset, "train", "I")
    failed = TrainingRun.objects.create(name="f", stage="I", snapshot=snapshot, dve=False, state="failed")
    bad = Checkpoint.objects.create(run=failed, step=3, path=str(tmp_path), is_final=True)
    good_run = TrainingRun.objects.create(name="g", stage="I", snapshot=snapshot, dve=False, state="succeeded",
                                          finished_at=timezone.now())
    good = Checkpoint.objects.create(run=good_run, step=3, path=str(tmp_path), is_final=True)
    trl = {"name": "c", "stage": "I", "dataset": dataset.pk, "dve": False}
    response = admin_client_role.post("/api/training/runs/", dict(trl, init_checkpoint=bad.pk), content_type="application/json")
    assert response.status_code == 400 and "init_checkpoint" in response.json()
    response = admin_client_role.post("/api/training/runs/", dict(trl, init_checkpoint=good.pk), content_type="application/json")
    assert response.status_code == 201, response.content


def test_launch_form_passes_verl_options(admin_client_role, settings, tmp_path):
    dataset = dataset_with(settings, captions=8, plain=0)
    response = admin_client_role.post("/training/launch/", {
        "name": "v", "lineage": "L", "stage": "I", "engine": "verl", "dataset": dataset.pk, "split": "train",
        "k": 6, "base_model_path": base_folder(tmp_path), "hyperparameters": "", "reward_settings": "",
        "verl_options": '{"n_gpus_per_node": 4, "rollout": "sglang"}'})
    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert run.hyperparameters["verl"] == {"n_gpus_per_node": 4, "rollout": "sglang"}
