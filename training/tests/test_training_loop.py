"""Training closes the loop (issue 13, item 4), without a worker: the progress JSON the run page follows,
rollout samples, the constant-reward warning, where a run runs, checkpoint download and evaluation, the tiny
CPU model choice on the launch form."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from evaluation.models import EvalRun
from training import runner, selectors, services
from training.metrics import device_line, metric_line
from training.models import RolloutSample, TrainingRun
from training.tests.loop_helpers import loop_dataset, recorded_run, saved_checkpoint
from training.zipstream import zip_folder
from webapp.models import AccessEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _training_dir(settings, tmp_path):
    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    settings.DATA_DIR = tmp_path / "data"


def steps(run: TrainingRun, rewards: list[tuple[float, float]], start: int = 1) -> None:
    """Feed the supervisor's metric reader the lines the TRL engine prints, one (mean, std) per step."""
    runner._store_metrics(run, [metric_line(start + i, {"reward": mean, "reward_std": std, "loss": 0.1})
                                for i, (mean, std) in enumerate(rewards)])


def rollout_line(step: int, rewards: list[float]) -> str:
    return json.dumps({"step": step, "samples": [
        {"prompt": "describe the skin", "completion": f'{{"color": "pink {i}"}}', "reference": "psoriasis",
         "reward": r, "sample_id": 7} for i, r in enumerate(rewards)]})


# ---- progress JSON -----------------------------------------------------------------------------------------

def test_progress_json_carries_state_metrics_log_rollouts_and_device(admin_client_role):
    run = recorded_run(loop_dataset())
    steps(run, [(0.2, 0.1), (0.4, 0.2), (0.5, 0.1)])
    runner._store_metrics(run, [device_line("cuda:0", "NVIDIA H200", host="gpu-1")])
    runner._store_rollouts(run, [rollout_line(1, [0.1, 0.3]), rollout_line(3, [0.5, 0.0, 1.0]), "{torn"])
    Path(run.run_dir, "train.log").write_text("loading model\nSKINFLOW_METRICS {...}\nstep 3 done\n")

    answer = admin_client_role.get(f"/api/training/runs/{run.pk}/progress/")
    assert answer.status_code == 200
    data = answer.json()
    assert data["state"] == "running" and data["step"] == 3 and data["total"] == 10 and data["percent"] == 30.0
    assert data["device"] == "cuda:0 (NVIDIA H200)"
    assert [p["step"] for p in data["points"]] == [1, 2, 3] and data["cursor"] == 3
    assert data["latest"]["reward_mean"] == 0.5
    assert "step 3 done" in data["log"]
    assert [g["step"] for g in data["rollouts"]] == [3, 1]  # latest first
    assert data["rollouts"][0]["rewards"] == [0.5, 0.0, 1.0]
    assert data["rollouts"][0]["samples"][2]["completion"] == '{"color": "pink 2"}'
    assert data["warning"] == ""

    # A cursor gives only what is new; a bad one says what it wants.
    steps(run, [(0.6, 0.1)], start=4)
    newer = admin_client_role.get(f"/api/training/runs/{run.pk}/progress/?after=3").json()
    assert [p["step"] for p in newer["points"]] == [4] and newer["cursor"] == 4
    assert admin_client_role.get(f"/api/training/runs/{run.pk}/progress/?after=x").status_code == 400


def test_progress_needs_the_admin_role(client, dermatologist, admin_user):
    run = recorded_run(loop_dataset())
    assert client.get(f"/api/training/runs/{run.pk}/progress/").status_code in (401, 403)
    client.force_login(dermatologist)
    assert client.get(f"/api/training/runs/{run.pk}/progress/").status_code == 403


def test_run_page_is_live_without_a_meta_refresh(admin_client_role):
    run = recorded_run(loop_dataset(), worker_host="gpu-1", device="cpu")
    steps(run, [(0.2, 0.1)])
    runner._store_rollouts(run, [rollout_line(1, [0.25, 0.75])])
    html = admin_client_role.get(f"/training/runs/{run.pk}/").content.decode()
    assert 'http-equiv="refresh"' not in html
    assert f'data-live-url="/api/training/runs/{run.pk}/progress/"' in html
    assert "training/run_live.js" in html
    assert "Runs on <b data-live-text=\"device\">cpu</b>" in html and "gpu-1" in html
    assert "step 1 · rewards 0.250, 0.750" in html  # rollouts of the latest step, expanded
    assert 'id="cancel-form"' in html


def test_rollouts_are_bounded_per_step_and_a_reread_line_adds_nothing():
    run = recorded_run(loop_dataset())
    line = rollout_line(1, [0.1] * 20)
    runner._store_rollouts(run, [line])
    runner._store_rollouts(run, [line])
    assert RolloutSample.objects.filter(run=run).count() == 8


# ---- constant reward ---------------------------------------------------------------------------------------

def test_a_reward_that_is_always_zero_raises_the_warning_on_the_page_and_the_list(admin_client_role):
    run = recorded_run(loop_dataset(), name="flat")
    steps(run, [(0.0, 0.0)] * 4)
    run.refresh_from_db()
    assert run.reward_warning == ""  # 4 of the default 5 steps: not yet
    steps(run, [(0.0, 0.0)], start=5)
    run.refresh_from_db()
    assert "constant (0) for the last 5 logged steps" in run.reward_warning
    assert "reward endpoint" in run.reward_warning and "group size" in run.reward_warning
    page = admin_client_role.get(f"/training/runs/{run.pk}/").content.decode()
    assert "Constant reward — no learning." in page and 'id="reward-warning" class="warn-box" data-live-show="warning">' in page
    listing = admin_client_role.get("/training/").content.decode()
    assert "constant reward" in listing
    assert admin_client_role.get(f"/api/training/runs/{run.pk}/progress/").json()["warning"] == run.reward_warning

    # A step whose group rewards differ clears it: learning resumed.
    steps(run, [(0.3, 0.2)], start=6)
    run.refresh_from_db()
    assert run.reward_warning == ""


def test_a_varying_reward_raises_no_warning(admin_client_role):
    run = recorded_run(loop_dataset(), name="moving")
    steps(run, [(0.1, 0.05), (0.2, 0.1), (0.0, 0.0), (0.3, 0.2), (0.25, 0.1), (0.4, 0.3)])
    run.refresh_from_db()
    assert run.reward_warning == ""
    assert "constant reward" not in admin_client_role.get("/training/").content.decode()


def test_the_number_of_steps_is_a_setting(settings):
    settings.SKINFLOW_TRAINING_CONSTANT_REWARD_STEPS = 3
    run = recorded_run(loop_dataset())
    steps(run, [(0.7, 0.0)] * 3)
    run.refresh_from_db()
    assert "for the last 3 logged steps" in run.reward_warning



def test_a_run_shorter_than_the_window_is_judged_on_all_its_steps():
    # The 4-step smoke test never logs 5 steps: its constant reward is still named once all 4 are in.
    run = recorded_run(loop_dataset(), name="smoke")
    TrainingRun.objects.filter(pk=run.pk).update(hyperparameters={"max_steps": 4})
    run.refresh_from_db()
    steps(run, [(0.0, 0.0)] * 3)
    run.refresh_from_db()
    assert run.reward_warning == ""
    steps(run, [(0.0, 0.0)], start=4)
    run.refresh_from_db()
    assert "for the last 4 logged steps" in run.reward_warning


# ---- checkpoints -------------------------------------------------------------------------------------------

def test_checkpoint_download_is_a_streamed_zip_with_config_json_and_is_audited(client, admin_user):
    run = recorded_run(loop_dataset(), name="Stage one", state="succeeded")
    checkpoint = saved_checkpoint(run)
    (Path(checkpoint.path) / "stolen").symlink_to("/etc/passwd")  # a link never leaves the folder
    client.force_login(admin_user)
    page = client.get(f"/training/checkpoints/{checkpoint.pk}/")
    assert page.status_code == 200 and b"Download zip" in page.content and b"Evaluate this checkpoint" in page.content
    answer = client.get(f"/training/checkpoints/{checkpoint.pk}/download.zip")
    assert answer.status_code == 200 and answer.streaming and answer["Content-Type"] == "application/zip"
    assert f"stage-one-{run.pk}-step-2.zip" in answer["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    assert archive.testzip() is None
    names = archive.namelist()
    prefix = f"stage-one-{run.pk}-step-2/"
    assert sorted(names) == [prefix + "config.json", prefix + "model.safetensors", prefix + "tokenizer.json"]
    assert json.loads(archive.read(prefix + "config.json")) == {"model_type": "qwen2_5_vl"}
    assert archive.read(prefix + "model.safetensors") == bytes(range(256)) * 4096
    event = AccessEvent.objects.get(action="checkpoint.download")
    assert event.username == "boss" and event.object_id == str(checkpoint.pk)


def test_checkpoint_pages_refuse_dermatologists_and_anonymous_users(client, dermatologist):
    checkpoint = saved_checkpoint(recorded_run(loop_dataset(), state="succeeded"))
    for url in (f"/training/checkpoints/{checkpoint.pk}/", f"/training/checkpoints/{checkpoint.pk}/download.zip"):
        anonymous = client.get(url)
        assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert client.post(f"/training/checkpoints/{checkpoint.pk}/evaluate/").status_code == 302
    client.force_login(dermatologist)
    assert client.get(f"/training/checkpoints/{checkpoint.pk}/").status_code == 403
    assert client.get(f"/training/checkpoints/{checkpoint.pk}/download.zip").status_code == 403
    assert client.post(f"/training/checkpoints/{checkpoint.pk}/evaluate/").status_code == 403
    assert not AccessEvent.objects.filter(action="checkpoint.download").exists()
    assert not EvalRun.objects.exists()


def test_a_checkpoint_path_outside_the_training_folder_is_not_served(admin_client_role, tmp_path):
    run = recorded_run(loop_dataset(), state="succeeded")
    checkpoint = saved_checkpoint(run)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    checkpoint.path = str(Path(services.training_root()) / ".." / "elsewhere")
    checkpoint.save()
    answer = admin_client_role.get(f"/training/checkpoints/{checkpoint.pk}/download.zip")
    assert answer.status_code == 404 and b"outside the training folder" in answer.content
    page = admin_client_role.get(f"/training/checkpoints/{checkpoint.pk}/")
    assert page.status_code == 200 and b"outside the training folder" in page.content


def test_zip_of_a_big_folder_is_streamed_in_chunks(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "big.safetensors").write_bytes(b"\x01" * (5 << 20))
    (tmp_path / "config.json").write_text("{}")
    chunks = list(zip_folder(tmp_path))
    assert len(chunks) >= 5 and max(len(c) for c in chunks) <= (1 << 20) + 4096  # never the whole file at once
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.read("sub/big.safetensors") == b"\x01" * (5 << 20)


def test_evaluate_this_checkpoint_creates_a_local_run_on_the_test_split(admin_client_role):
    dataset = loop_dataset()
    stage_one = recorded_run(dataset, name="s1", state="succeeded", lineage="tiny")
    first = saved_checkpoint(stage_one)
    stage_two = recorded_run(dataset, name="s2", stage="II", state="succeeded", lineage="tiny", init_checkpoint=first)
    checkpoint = saved_checkpoint(stage_two, step=4)

    page = admin_client_role.get(f"/training/checkpoints/{checkpoint.pk}/").content.decode()
    assert f'<option value="{dataset.pk}" selected>' in page and '<option value="test" selected>' in page
    answer = admin_client_role.post(f"/training/checkpoints/{checkpoint.pk}/evaluate/",
                                    {"dataset": dataset.pk, "split": "test", "k": 3, "judge_repeats": 1})
    run = EvalRun.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/evaluation/runs/{run.pk}/"
    assert run.kind == "local" and run.checkpoint == checkpoint.path and run.split == "test" and run.k == 3
    assert run.dataset == dataset and run.items.count() == 2 and run.uses_dve is True and run.uses_stage1 is True
    assert AccessEvent.objects.filter(action=AccessEvent.Action.EVAL_RUN_CREATE, object_id=str(run.pk)).exists()
    listed = admin_client_role.get(f"/training/checkpoints/{checkpoint.pk}/").content.decode()
    assert f"/evaluation/runs/{run.pk}/" in listed

    # What the evaluation report needs to show the lineage, from the path the EvalRun carries.
    lineage = selectors.lineage_for_checkpoint_path(run.checkpoint)
    assert [r["name"] for r in lineage["runs"]] == ["s1", "s2"]
    assert lineage["runs"][1]["started_from"]["id"] == first.pk and lineage["checkpoint"]["step"] == 4
    assert selectors.lineage_for_checkpoint_path("/nowhere") is None
    assert run.lineage["training_run"] == f"#{stage_two.pk} s2" and run.lineage["step"] == 4
    assert run.lineage["checkpoint_url"] == f"/training/checkpoints/{checkpoint.pk}/"
    assert [p["name"] for p in run.lineage["parents"]] == [f"#{stage_one.pk} s1"]
    report = admin_client_role.get(f"/evaluation/runs/{run.pk}/").content.decode()
    assert f"/training/checkpoints/{checkpoint.pk}/" in report  # the report links back to the checkpoint


def test_evaluating_the_training_split_needs_a_confirmation(admin_client_role):
    dataset = loop_dataset()
    checkpoint = saved_checkpoint(recorded_run(dataset, state="succeeded"))
    form = {"dataset": dataset.pk, "split": "train", "k": 6, "judge_repeats": 1}
    refused = admin_client_role.post(f"/training/checkpoints/{checkpoint.pk}/evaluate/", form)
    assert refused.status_code == 400 and b"Evaluate training data anyway" in refused.content
    assert not EvalRun.objects.exists()
    confirmed = admin_client_role.post(f"/training/checkpoints/{checkpoint.pk}/evaluate/", {**form, "confirm_overlap": "on"})
    assert confirmed.status_code == 302 and EvalRun.objects.get().overlap["confirmed"] is True


def test_evaluate_with_an_empty_test_split_says_so(admin_client_role):
    dataset = loop_dataset(test=0)
    checkpoint = saved_checkpoint(recorded_run(dataset, state="succeeded"))
    answer = admin_client_role.post(f"/training/checkpoints/{checkpoint.pk}/evaluate/",
                                    {"dataset": dataset.pk, "split": "test", "k": 6, "judge_repeats": 1})
    assert answer.status_code == 400 and b"the test set is empty" in answer.content
    assert not EvalRun.objects.exists()


def test_evaluate_through_the_api(admin_client_role):
    dataset = loop_dataset()
    checkpoint = saved_checkpoint(recorded_run(dataset, state="succeeded"))
    answer = admin_client_role.post(f"/api/training/checkpoints/{checkpoint.pk}/evaluate/", {}, content_type="application/json")
    assert answer.status_code == 201, answer.content
    run = EvalRun.objects.get(pk=answer.json()["id"])
    assert run.kind == "local" and run.checkpoint == checkpoint.path and run.split == "test" and run.k == 6


# ---- the tiny CPU model ------------------------------------------------------------------------------------

def test_launch_form_offers_the_tiny_cpu_model_with_small_defaults(admin_client_role, settings):
    dataset = loop_dataset()
    page = admin_client_role.get("/training/launch/").content.decode()
    assert "Tiny CPU model (smoke test)" in page and 'id="smoke-defaults"' in page
    answer = admin_client_role.post("/training/launch/", {
        "name": "smoke", "lineage": "smoke", "stage": "I", "engine": "trl", "dataset": dataset.pk, "split": "train",
        "k": 6, "base_model": "tiny", "base_model_path": "", "train_on_overrides": "on", "dve": "on",
        "hyperparameters": '{"max_steps": 3}'})
    run = TrainingRun.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/training/runs/{run.pk}/"
    assert run.tiny_model and Path(run.base_model_path).parent == Path(settings.DATA_DIR).resolve() / "models"
    assert Path(run.base_model_path).name.startswith("tiny-qwen2.5-vl-")
    assert run.hyperparameters["max_steps"] == 3  # what the admin set wins
    assert run.hyperparameters["group_size"] == 4 and run.hyperparameters["batch_size"] == 2

    # A folder as well is a contradiction the form names.
    again = admin_client_role.post("/training/launch/", {
        "name": "x", "lineage": "x", "stage": "I", "engine": "trl", "dataset": dataset.pk, "split": "train", "k": 6,
        "base_model": "tiny", "base_model_path": "/models/qwen", "dve": "on"})
    assert again.status_code == 400 and b"Leave the folder empty when training the tiny CPU model" in again.content
    verl = admin_client_role.post("/api/training/runs/", {
        "name": "v", "stage": "I", "engine": "verl", "dataset": dataset.pk, "tiny_model": True, "dve": False},
        content_type="application/json")
    assert verl.status_code == 400 and "'trl' engine" in verl.json()["detail"]


def test_the_tiny_model_is_built_once_even_by_two_workers_at_once(tmp_path, monkeypatch):
    from training import tiny_vlm

    built = []

    def fake_build(path, **kw):  # the real one takes half a minute; what matters here is the folder dance
        built.append(path)
        Path(path).mkdir(parents=True)
        (Path(path) / "config.json").write_text("{}")
        threading.Event().wait(0.2)
        return path

    monkeypatch.setattr(tiny_vlm, "save_tiny_base", fake_build)
    monkeypatch.setattr(tiny_vlm, "smoke_examples", lambda: [])
    results = []
    threads = [threading.Thread(target=lambda: results.append(tiny_vlm.ensure_smoke_model(tmp_path))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and (results[0] / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [results[0].name]  # no scratch folder left
    assert tiny_vlm.ensure_smoke_model(tmp_path) == results[0] and len(built) == 2
