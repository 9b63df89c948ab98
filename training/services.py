"""Writes for training: snapshots, launching and cancelling runs, failing runs whose worker died."""

from __future__ import annotations

import json
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from annotations.models import Dataset, FieldFrequencyAnalysis, Sample
from annotations.selectors import eligible_samples
from training import export
from training.engines import EngineError, validate_run_choices
from training.engines.spec import (check_engine_path, validate_hyperparameters, validate_verl_batch,
                                   validate_verl_options)
from training.models import Checkpoint, DatasetSnapshot, Stage, TrainingRun
from webapp.params import is_whole_number

DVE_CONFIG_KEY = "skinflow_dve"  # training.dve.patch.CONFIG_KEY, without importing torch in the web process
ACCEPTED_STATES = Sample.ACCEPTED_STATES
_PURPOSE = {Stage.CAPTION: "stage1", Stage.DIAGNOSIS: "stage2"}
logger = logging.getLogger(__name__)


class TrainingError(ValueError):
    """A request the training module refuses, with a message for the admin."""


def training_root() -> Path:
    """Where snapshots and run folders live: ``SKINFLOW_TRAINING_DIR`` (env or setting), else DATA_DIR/training."""
    configured = os.environ.get("SKINFLOW_TRAINING_DIR") or getattr(settings, "SKINFLOW_TRAINING_DIR", None)
    return Path(configured or Path(settings.DATA_DIR) / "training").resolve()


def smoke_models_root() -> Path:
    """Where the tiny smoke-test base model is built: DATA_DIR/models."""
    return (Path(settings.DATA_DIR) / "models").resolve()


def smoke_model_path(dve: bool = True) -> Path:
    """The folder the "Tiny CPU model (smoke test)" choice trains from (built by the worker on first use)."""
    from training.tiny_vlm import smoke_model_dir

    return smoke_model_dir(smoke_models_root(), dve=dve)


SMOKE_BUILD_TIMEOUT_S = 900
# The tiny model is 64 wide: a second torch thread only waits on the first, and on a busy 2-core machine the
# spinning threads made 20 warm-start steps take 36 s instead of 5 s. Its build and its runs use one thread.
SMOKE_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def ensure_smoke_model(models_root: str | Path, log: Any = None, *, dve: bool = True) -> Path:
    """Build the tiny base model under ``models_root`` once (atomic: see training.tiny_vlm.ensure_smoke_model),
    in a child process whose output goes to ``log`` (a binary file), so torch stays out of the worker.
    Raises :class:`TrainingError` when the build fails."""
    import subprocess
    import sys

    from training.tiny_vlm import smoke_model_dir

    target = smoke_model_dir(models_root, dve=dve)
    if (target / "config.json").is_file():
        return target
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, **SMOKE_THREADS,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH", "")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "training.tiny_vlm", str(models_root), *([] if dve else ["--plain"])],
                              cwd=root, env=env,
                              stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=SMOKE_BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise TrainingError(f"building the tiny CPU model took over {SMOKE_BUILD_TIMEOUT_S} s; see the log") from None
    if done.returncode != 0 or not (target / "config.json").is_file():
        raise TrainingError(f"building the tiny CPU model failed (exit status {done.returncode}); see the log")
    return target


# The smoke test's defaults, under whatever the launch sets explicitly: 4 steps of 2 prompts x G=4 completions
# of at most 96 tokens, a checkpoint after step 2, and a learning rate a tiny random model notices.
SMOKE_HYPERPARAMETERS: dict[str, Any] = {"max_steps": 4, "batch_size": 2, "group_size": 4, "max_response_length": 96,
                                         "save_steps": 2, "lr": 1e-4, "temperature": 0.7, "warmup_ratio": 0.0}


def constant_reward_steps() -> int:
    """How many logged steps in a row with a constant reward raise the run's warning
    (``SKINFLOW_TRAINING_CONSTANT_REWARD_STEPS``, default 5)."""
    return max(2, int(os.environ.get("SKINFLOW_TRAINING_CONSTANT_REWARD_STEPS") or getattr(
        settings, "SKINFLOW_TRAINING_CONSTANT_REWARD_STEPS", 5)))


def reward_plateau(points: list[Mapping[str, float]], steps: int) -> str:
    """The warning for the last ``steps`` metric points, or "" when the reward moved.

    GRPO's advantage is a completion's reward minus its group's mean, over the group's std: a reward with no
    spread inside the groups (std 0) gives every completion advantage 0, so nothing is learnt however long
    the run goes. Constant means: the reward's std is 0 at every one of those steps (or, where the engine
    logs no std, the mean did not move at all)."""
    last = [p for p in points if "reward_mean" in p][-steps:]
    if len(last) < steps:
        return ""
    if all("reward_std" in p for p in last):
        constant = all(abs(p["reward_std"]) < 1e-9 for p in last)
    else:
        constant = max(p["reward_mean"] for p in last) - min(p["reward_mean"] for p in last) < 1e-9
    if not constant:
        return ""
    value = last[-1]["reward_mean"]
    return (f"The reward has been constant ({value:.4g}) for the last {steps} logged steps: every completion of a "
            "group gets the same reward, so GRPO's advantage is 0 and the model learns nothing. Check the reward "
            "endpoint (is the judge/scorer LLM reachable? see the log), the scorer's answers in the rollout samples "
            "below (all 0 often means the model never answers in the expected format), and the group size "
            "(G of at least 4 gives a group a chance to differ).")


def note_reward_plateau(run: TrainingRun) -> str:
    """Re-check the run's constant-reward warning from its stored metrics (the supervisor, as steps arrive)."""
    from training.models import MetricPoint

    steps = constant_reward_steps()
    planned = (run.hyperparameters or {}).get("max_steps")
    if isinstance(planned, int) and planned > 0:
        # A run shorter than the window (the 4-step smoke test) is judged on all of its steps, or it never is.
        steps = min(steps, max(2, planned))
    recent = list(MetricPoint.objects.filter(run=run).order_by("-step").values_list("values", flat=True)[:steps])
    warning = reward_plateau(list(reversed(recent)), steps)
    TrainingRun.objects.filter(pk=run.pk).exclude(reward_warning=warning).update(reward_warning=warning)
    return warning


def heartbeat_timeout_s() -> float:
    """A running run whose heartbeat is older than this is considered orphaned (its worker died)."""
    return float(os.environ.get("SKINFLOW_TRAINING_HEARTBEAT_TIMEOUT_S") or getattr(
        settings, "SKINFLOW_TRAINING_HEARTBEAT_TIMEOUT_S", 120))


# ---- snapshots -------------------------------------------------------------------------------------------

def _record(sample: Sample, media: Path) -> export.ExportRecord:
    return export.ExportRecord(sample_id=sample.pk, image_path=media / sample.image, label=sample.label,
                               caption=sample.caption, split=sample.split, checksum=sample.checksum,
                               review_state=sample.state, identifying=sample.identifying_content)


def _records(dataset: Dataset, split: str, stage: str, *, include_overrides: bool = True) -> list[export.ExportRecord]:
    """The samples a snapshot of ``stage`` may hold, by the review rules (rejections and their reasons,
    overrides, qc exclusions) that :func:`annotations.selectors.eligible_samples` applies."""
    samples = eligible_samples(_PURPOSE[stage], dataset=dataset, split=split, include_overrides=include_overrides)
    media = Path(settings.MEDIA_ROOT)
    return [_record(s, media) for s in samples]


def _override_ids(records: list[export.ExportRecord], stage: str) -> list[int]:
    """The Stage I rows whose caption is an expert override (Stage II rows do not use captions)."""
    if stage != Stage.CAPTION:
        return []
    return [r.sample_id for r in records if r.caption and r.review_state == Sample.State.EXPERT_OVERRIDE]


def _free_folder(dataset: Dataset, split: str, stage: str, k: int) -> tuple[int, Path]:
    """The next version and its folder. A folder without a row (a concurrent export, or one whose
    transaction rolled back) keeps its version: the highest of the database and the disk, plus one."""
    parent = training_root() / "snapshots" / f"dataset-{dataset.pk}"
    prefix = f"{split}-stage{stage}-k{k}-v"
    on_disk = [int(p.name[len(prefix):]) for p in parent.glob(prefix + "*") if is_whole_number(p.name[len(prefix):])]
    version = max([DatasetSnapshot.objects.filter(dataset=dataset, split=split, stage=stage, k=k)
                   .aggregate(v=Max("version"))["v"] or 0, *on_disk]) + 1
    return version, parent / f"{prefix}{version}"


def create_snapshot(dataset: Dataset, split: str, stage: str, *, k: int = 6, user: Any = None,
                    build: bool = True, include_overrides: bool = True) -> DatasetSnapshot:
    """Export ``split`` of ``dataset`` for ``stage``; the same content gives back the same snapshot.

    The content hash is worked out from the samples' stored image checksums, so deciding to reuse a
    snapshot reads no image. With ``build=False`` (the launch page and API) a new snapshot is only
    recorded, ``pending``: the gpu task writes its files (:func:`build_snapshot`) before training.

    ``include_overrides=False`` leaves out the Stage I captions experts accepted against the LLM re-check
    (``expert_override``); the snapshot (and its manifest) lists the overrides it holds in ``override_ids``.

    Raises :class:`TrainingError` when there is nothing to train on (e.g. no accepted captions).
    """
    if stage not in Stage.values:
        raise TrainingError(f"unknown stage {stage!r}")
    k = int(k) if stage == Stage.DIAGNOSIS else 6
    records = _records(dataset, split, stage, include_overrides=include_overrides)
    overrides = _override_ids(records, stage)
    try:
        stubs = export.build_rows(records, stage, k=k, read_images=False)
    except export.ExportError as exc:
        raise TrainingError(f"{dataset.name} / {split}: {exc}") from None
    digest = export.content_hash(stubs)
    existing = (DatasetSnapshot.objects.filter(dataset=dataset, split=split, stage=stage, k=k, content_hash=digest)
                .exclude(state=DatasetSnapshot.State.FAILED).first())
    if existing is not None:
        return existing
    rows = None
    for _ in range(3):
        version, folder = _free_folder(dataset, split, stage, k)
        if folder.exists():
            continue
        if build:
            try:
                rows = rows or export.build_rows(records, stage, k=k)
                manifest = export.write_snapshot(folder, rows, stage=stage, k=k, split=split, overrides=overrides)
            except export.ExportError as exc:
                if folder.exists():
                    continue  # taken by a concurrent export
                raise TrainingError(f"{dataset.name} / {split}: {exc}") from None
            fields = {"content_hash": manifest.content_hash, "sample_ids": list(manifest.sample_ids),
                      "rows": manifest.rows, "state": DatasetSnapshot.State.READY}
        else:
            fields = {"content_hash": digest, "sample_ids": [r["extra_info"]["sample_id"] for r in stubs],
                      "rows": len(stubs), "state": DatasetSnapshot.State.PENDING}
        fields["override_ids"] = overrides
        try:
            with transaction.atomic():
                return DatasetSnapshot.objects.create(dataset=dataset, split=split, stage=stage, k=k, version=version,
                                                      path=str(folder), created_by=user, **fields)
        except IntegrityError:
            continue
    raise TrainingError("could not allocate a snapshot version; try again")


def build_snapshot(snapshot: DatasetSnapshot, run_in: Callable[[Callable[[], str]], str] | None = None) -> DatasetSnapshot:
    """Write the files of a ``pending`` snapshot (the gpu task, before training); a ready one is left as is.

    ``run_in`` runs the file work (reading and re-encoding every image) and returns its result; the
    supervisor passes one that keeps the run's heartbeat going meanwhile. No database access happens there.
    """
    if snapshot.state == DatasetSnapshot.State.READY:
        return snapshot
    if snapshot.state == DatasetSnapshot.State.FAILED:
        raise TrainingError(f"snapshot {snapshot} could not be built: {snapshot.error}")
    media = Path(settings.MEDIA_ROOT)
    samples = Sample.objects.filter(pk__in=snapshot.sample_ids).order_by("pk")
    records = [_record(s, media) for s in samples]
    folder = Path(snapshot.path)

    def write() -> str:
        if not folder.exists():
            try:
                rows = export.build_rows(records, snapshot.stage, k=snapshot.k)
                return export.write_snapshot(folder, rows, stage=snapshot.stage, k=snapshot.k, split=snapshot.split,
                                             overrides=snapshot.override_ids).content_hash
            except export.ExportError:
                if not folder.exists():
                    raise
        return export.read_manifest(folder)["content_hash"]  # written by a concurrent task

    try:
        digest = (run_in or (lambda job: job()))(write)
        if digest != snapshot.content_hash:
            raise export.ExportError("the images or samples changed after the snapshot was recorded "
                                     "(stale Sample.checksum?); launch the run again")
    except export.ExportError as exc:
        DatasetSnapshot.objects.filter(pk=snapshot.pk).update(state=DatasetSnapshot.State.FAILED, error=str(exc))
        raise TrainingError(f"snapshot {snapshot}: {exc}") from None
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(state=DatasetSnapshot.State.READY)
    snapshot.state = DatasetSnapshot.State.READY
    return snapshot


# ---- runs ------------------------------------------------------------------------------------------------

def started_from_tiny_model(checkpoint: Checkpoint) -> bool:
    """Whether the chain of runs behind ``checkpoint`` began on the tiny CPU model (the smoke test)."""
    run, seen = checkpoint.run, set()
    while run is not None and run.pk not in seen:  # a chain, never a cycle; ``seen`` guards a corrupt one
        if run.tiny_model:
            return True
        seen.add(run.pk)
        run = run.init_checkpoint.run if run.init_checkpoint_id else None
    return False


def stage_one_checkpoint(lineage: str) -> Checkpoint | None:
    """The final checkpoint of the latest succeeded Stage I run of ``lineage``."""
    return (Checkpoint.objects.filter(is_final=True, run__stage=Stage.CAPTION, run__lineage=lineage,
                                      run__state=TrainingRun.State.SUCCEEDED)
            .select_related("run").order_by("-run__finished_at", "-pk").first())


def _default_field_weights(dataset: Dataset) -> dict[str, float] | None:
    analysis = (FieldFrequencyAnalysis.objects.filter(dataset=dataset).first()
                or FieldFrequencyAnalysis.objects.filter(dataset__isnull=True).first())
    return dict(analysis.weights) if analysis else None


def _reward_settings(stage: str, k: int, given: Mapping[str, Any] | None, dataset: Dataset) -> dict[str, Any]:
    from training.rewards import CAPTION_SCORERS, caption_field_weights, position_weights

    given = dict(given or {})
    unknown = set(given) - {"position_weights", "field_weights", "caption_scorer"}
    if unknown:
        raise TrainingError(f"unknown reward setting(s): {', '.join(sorted(unknown))}")
    if given.get("position_weights") is not None and not _numbers(given["position_weights"], list):
        raise TrainingError("position_weights must be a list of numbers, one per position")
    if given.get("field_weights") is not None and not _numbers(given["field_weights"], dict):
        # A string would be read as a path by caption_field_weights: never from a request.
        raise TrainingError("field_weights must be an object mapping caption fields to numbers")
    try:
        if stage == Stage.DIAGNOSIS:
            return {"position_weights": list(position_weights(given.get("position_weights"), k))}
        scorer = given.get("caption_scorer") or "llm"
        if scorer not in CAPTION_SCORERS:
            raise TrainingError(f"caption_scorer must be one of {', '.join(CAPTION_SCORERS)}, got {scorer!r}")
        weights = given.get("field_weights") or _default_field_weights(dataset)
        return {"field_weights": caption_field_weights(weights), "caption_scorer": scorer}
    except (TypeError, ValueError) as exc:
        raise TrainingError(str(exc)) from None


def _numbers(value: Any, kind: type) -> bool:
    """``value`` is a ``kind`` (list or dict) whose values are all numbers (not booleans)."""
    if not isinstance(value, kind):
        return False
    values = value.values() if isinstance(value, dict) else value
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def launch_run(
    *,
    name: str,
    stage: str,
    snapshot: DatasetSnapshot,
    engine: str = TrainingRun.Engine.TRL,
    base_model_path: str = "",
    init_checkpoint: Checkpoint | None = None,
    lineage: str = "default",
    dve: bool = True,
    dve_k: int | None = None,
    k: int = 6,
    hyperparameters: Mapping[str, Any] | None = None,
    reward_settings: Mapping[str, Any] | None = None,
    verl_options: Mapping[str, Any] | None = None,
    train_on_overrides: bool = True,
    tiny_model: bool = False,
    user: Any = None,
) -> TrainingRun:
    """Validate and queue a run; the gpu worker picks it up once the transaction commits.

    Stage II without a starting point starts from the final checkpoint of the lineage's latest
    succeeded Stage I run; with none available it is refused.

    ``tiny_model`` (the smoke test) starts from the tiny random Qwen2.5-VL that the worker builds once in
    DATA_DIR/models, with :data:`SMOKE_HYPERPARAMETERS` under the given hyperparameters, so that the whole
    loop runs on a CPU worker in about a minute per stage.
    """
    if tiny_model:
        if base_model_path or init_checkpoint is not None:
            raise TrainingError("the tiny CPU model is a base model of its own: leave the base model folder and "
                                "the checkpoint empty, or choose a server folder instead")
        base_model_path = str(smoke_model_path(dve))  # the variant that matches the run's DVE choice
        hyperparameters = {**SMOKE_HYPERPARAMETERS, **dict(hyperparameters or {})}
    if stage not in Stage.values:
        raise TrainingError(f"unknown stage {stage!r}")
    if snapshot.stage != stage:
        raise TrainingError(f"snapshot {snapshot} is a Stage {snapshot.stage} export; this is a Stage {stage} run")
    if stage == Stage.DIAGNOSIS and snapshot.k != k:
        raise TrainingError(f"the snapshot's prompts ask for top-{snapshot.k}; the run has K={k}")
    if base_model_path and init_checkpoint:
        raise TrainingError("give either a base model path or an earlier checkpoint, not both")
    if not base_model_path and init_checkpoint is None:
        if stage == Stage.CAPTION:
            raise TrainingError("Stage I needs a base model path (a Hugging Face folder) or an earlier checkpoint")
        init_checkpoint = stage_one_checkpoint(lineage)
        if init_checkpoint is None:
            raise TrainingError(
                f"Stage II starts from a finished Stage I checkpoint, and lineage {lineage!r} has none: "
                "run Stage I first, or choose a checkpoint or base model explicitly")
    if not tiny_model and init_checkpoint is not None and started_from_tiny_model(init_checkpoint):
        # Stage II of a smoke test: the tiny model's checkpoint keeps the smoke defaults (the paper's defaults
        # would run for hours on the CPU), under whatever the launch sets explicitly.
        hyperparameters = {**SMOKE_HYPERPARAMETERS, **dict(hyperparameters or {})}
    if base_model_path:
        try:  # verl's Hydra config would resolve ${oc.env:...} in it; checked again when the config is built
            check_engine_path(base_model_path, "base model path")
        except EngineError as exc:
            raise TrainingError(str(exc)) from None
    if tiny_model and engine != TrainingRun.Engine.TRL:
        raise TrainingError("the tiny CPU model is a smoke test for the 'trl' engine (one machine); choose 'trl'")
    if base_model_path and not tiny_model and not (Path(base_model_path) / "config.json").is_file():
        raise TrainingError(f"{base_model_path} is not a Hugging Face model folder (no config.json there)")
    try:
        validate_run_choices(engine, dve)
        hp = validate_hyperparameters(stage, hyperparameters)
        options = validate_verl_options(verl_options) if engine == TrainingRun.Engine.VERL else {}
        if engine == TrainingRun.Engine.VERL:
            validate_verl_batch(hp, options)
    except EngineError as exc:
        raise TrainingError(str(exc)) from None
    if verl_options and engine != TrainingRun.Engine.VERL:
        raise TrainingError("verl options are only for verl runs")
    if not tiny_model:  # the tiny model's variant always matches the run's DVE choice (built later, maybe)
        _check_start_dve(stage, engine, dve, base_model_path, init_checkpoint)
    if engine == TrainingRun.Engine.VERL and snapshot.rows < hp["batch_size"]:
        raise TrainingError(f"verl drops incomplete batches: the snapshot has {snapshot.rows} rows, fewer than "
                            f"batch_size {hp['batch_size']}, so nothing would train")
    rewards = _reward_settings(stage, k, reward_settings, snapshot.dataset)
    run = TrainingRun.objects.create(
        name=name, lineage=lineage, stage=stage, engine=engine, base_model_path=base_model_path,
        init_checkpoint=init_checkpoint, dve=dve, dve_k=dve_k, k=k, hyperparameters={**hp, "verl": options},
        reward_settings=rewards, snapshot=snapshot, train_on_overrides=train_on_overrides, tiny_model=tiny_model,
        created_by=user)
    transaction.on_commit(lambda: enqueue_run(run.pk))
    return run


def start_dve(base_model_path: str = "", init_checkpoint: Checkpoint | None = None) -> bool:
    """Whether the model a run starts from carries the DVE patch (``config.skinflow_dve``)."""
    if init_checkpoint is not None:
        return bool(init_checkpoint.run.dve)
    try:
        config = json.loads((Path(base_model_path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get(DVE_CONFIG_KEY) is not None


def _check_start_dve(stage: str, engine: str, dve: bool, base_model_path: str, init_checkpoint: Checkpoint | None) -> None:
    """The run's DVE flag must fit its starting model: verl and DVE-off runs cannot load FDLinear weights,
    and Stage II must not add fresh (untrained) FDLinear layers to a model trained without them."""
    patched = start_dve(base_model_path, init_checkpoint)
    source = f"checkpoint {init_checkpoint}" if init_checkpoint is not None else base_model_path
    if patched and engine == TrainingRun.Engine.VERL:
        raise TrainingError(f"the starting model ({source}) carries DVE (FDLinear) layers, which verl cannot load; "
                            "use the 'trl' engine")
    if patched and not dve:
        raise TrainingError(f"the starting model ({source}) carries DVE (FDLinear) layers; turn DVE on for this run")
    if dve and not patched and (stage == Stage.DIAGNOSIS or init_checkpoint is not None):
        raise TrainingError(f"the starting model ({source}) was trained without DVE; this run would add untrained "
                            "FDLinear layers. Turn DVE off, or start from a DVE model")


BROKER_DOWN = "queued; the task queue is unreachable right now, the run starts when it is back"


def enqueue_run(run_id: int) -> bool:
    """Hand the run to the gpu queue. A broker that is down leaves it queued with a note; the reaper
    (:func:`reap_stale_runs`) sends it once the broker is back. True if it was sent."""
    from training.tasks import run_training

    try:
        run_training.delay(run_id)
    except Exception as exc:  # noqa: BLE001 - any broker error: the reaper retries, the user sees a note
        logger.warning("training run %s: could not reach the task queue (%s); the reaper will retry", run_id, exc)
        TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.QUEUED).update(error=BROKER_DOWN)
        return False
    TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.QUEUED).update(
        enqueued_at=timezone.now(), error="")
    return True


def requeue_after_s() -> float:
    """A queued run sent this long ago and still not picked up is sent again (the broker may have lost it,
    e.g. Redis restarted without persistence); a duplicate finds the run claimed and leaves it."""
    return float(os.environ.get("SKINFLOW_TRAINING_REQUEUE_AFTER_S") or getattr(
        settings, "SKINFLOW_TRAINING_REQUEUE_AFTER_S", 600))


def request_cancel(run: TrainingRun) -> TrainingRun:
    """Cancel a queued run at once; ask a running one to stop (its supervisor kills the process)."""
    now = timezone.now()
    if TrainingRun.objects.filter(pk=run.pk, state=TrainingRun.State.QUEUED).update(
            state=TrainingRun.State.CANCELLED, finished_at=now, cancel_requested=True):
        return TrainingRun.objects.get(pk=run.pk)
    TrainingRun.objects.filter(pk=run.pk, state=TrainingRun.State.RUNNING).update(cancel_requested=True)
    return TrainingRun.objects.get(pk=run.pk)


def fail_orphaned(run_id: int, reason: str) -> bool:
    """Mark a running run failed (its log stays on disk); True if this call did it."""
    return bool(TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.RUNNING).update(
        state=TrainingRun.State.FAILED, error=reason, finished_at=timezone.now()))


def queued_timeout_s() -> float:
    """A run still queued after this long never reached a gpu worker (``SKINFLOW_TRAINING_QUEUED_TIMEOUT_S``)."""
    return float(os.environ.get("SKINFLOW_TRAINING_QUEUED_TIMEOUT_S") or getattr(
        settings, "SKINFLOW_TRAINING_QUEUED_TIMEOUT_S", 7 * 24 * 3600))


def register_checkpoints(run: TrainingRun, folder: str | Path) -> None:
    """Record the checkpoints the engine listed in ``checkpoints.jsonl`` (idempotent; a torn last line,
    e.g. after a SIGKILL, is skipped)."""
    listing = Path(folder) / "checkpoints.jsonl"
    if not listing.exists():
        return
    for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            step, path, final = int(entry["step"]), str(entry["path"]), bool(entry.get("final"))
        except (ValueError, TypeError, KeyError):
            continue
        Checkpoint.objects.update_or_create(run=run, step=step, defaults={"path": path, "is_final": final})


def fail_orphaned_run(run: TrainingRun, reason: str) -> bool:
    """:func:`fail_orphaned`, keeping the checkpoints the engine had listed."""
    if run.run_dir:
        register_checkpoints(run, run.run_dir)
    return fail_orphaned(run.pk, reason)


def reap_stale_runs() -> int:
    """Fail every running run whose heartbeat stopped (its gpu worker died and nothing else will), and every
    run still queued after :func:`queued_timeout_s` (no worker ever took it)."""
    cutoff = timezone.now() - timedelta(seconds=heartbeat_timeout_s())
    stale = TrainingRun.objects.filter(state=TrainingRun.State.RUNNING, heartbeat_at__lt=cutoff)
    count = sum(fail_orphaned_run(run, "the GPU worker stopped sending heartbeats (killed or lost) mid-run; the log is kept")
                for run in stale)
    waited = timezone.now() - timedelta(seconds=queued_timeout_s())
    count += TrainingRun.objects.filter(state=TrainingRun.State.QUEUED, created_at__lt=waited).update(
        state=TrainingRun.State.FAILED, finished_at=timezone.now(),
        error=f"no gpu worker picked the run up within {queued_timeout_s():.0f} s (is a worker on the 'gpu' queue running?)")
    resend = timezone.now() - timedelta(seconds=requeue_after_s())
    for run_id in TrainingRun.objects.filter(state=TrainingRun.State.QUEUED).filter(
            Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=resend)).values_list("id", flat=True):
        count += enqueue_run(run_id)
    return count


# ---- checkpoints -----------------------------------------------------------------------------------------

def checkpoint_folder(checkpoint: Checkpoint) -> Path:
    """The checkpoint's Hugging Face folder, refused unless it is a model folder inside the training root:
    the path comes from a file the engine wrote, and a download must never read anything else."""
    root = training_root()
    folder = Path(checkpoint.path).resolve()
    if root not in folder.parents:  # strictly inside: the root itself would zip every run
        raise TrainingError(f"the checkpoint folder {checkpoint.path} lies outside the training folder {root}; "
                            "it cannot be downloaded from here")
    if not (folder / "config.json").is_file():
        raise TrainingError(f"the checkpoint folder {checkpoint.path} is gone or holds no config.json "
                            "(deleted or moved on the server?)")
    return folder


def evaluate_checkpoint(checkpoint: Checkpoint, *, dataset: Dataset | None = None, split: str = "test",
                        sample_size: int | None = None, k: int | None = None, judge_repeats: int = 3,
                        confirm_overlap: bool = False, user: Any = None) -> Any:
    """Start a local-checkpoint evaluation run (``evaluation`` kind ``local``) of ``checkpoint``.

    Defaults: the dataset of the run's snapshot, its test split, the run's K (Stage II) or 6. The run carries
    the checkpoint's lineage (shown on its report), the DVE and Stage I flags for the ablation table, and the
    sample ids of every snapshot that trained it, so that evaluating training data is refused unless
    ``confirm_overlap``. The evaluation app's judge endpoint judges it, as for any run. Raises
    :class:`TrainingError` with the evaluation app's reason (``OverlapNotConfirmed`` stays that subclass)."""
    from evaluation import services as evaluation

    from training.selectors import evaluation_lineage, lineage

    run = checkpoint.run
    checkpoint_folder(checkpoint)
    chain = lineage(run)
    dataset = dataset or run.snapshot.dataset
    k = k or (run.k if run.stage == Stage.DIAGNOSIS else 6)
    label = f"{run.name} step {checkpoint.step}{' (final)' if checkpoint.is_final else ''}"
    trained_on = sorted({int(i) for r in chain for i in (r.snapshot.sample_ids or [])})
    try:
        return evaluation.create_run(
            name=f"{label} on {dataset.name} {split or 'all'}", model_name=f"{run.lineage}/{label}"[:200],
            dataset=dataset, kind="local", checkpoint=checkpoint.path, split=split, sample_size=sample_size, k=k,
            judge_repeats=judge_repeats, uses_dve=run.dve, uses_stage1=any(r.stage == Stage.CAPTION for r in chain),
            training_sample_ids=trained_on, confirm_overlap=confirm_overlap,
            lineage=evaluation_lineage(checkpoint), user=user)
    except evaluation.OverlapNotConfirmed as exc:
        raise CheckpointOverlap(str(exc)) from None
    except evaluation.EvalError as exc:
        raise TrainingError(str(exc)) from None


class CheckpointOverlap(TrainingError):
    """The chosen test set holds samples that trained the checkpoint; confirm to evaluate it anyway."""
