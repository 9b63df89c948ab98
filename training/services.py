"""Writes for training: snapshots, launching and cancelling runs, failing runs whose worker died."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from annotations.models import Dataset, FieldFrequencyAnalysis, Sample
from training import export
from training.engines import EngineError, validate_run_choices
from training.engines.spec import validate_hyperparameters
from training.models import Checkpoint, DatasetSnapshot, Stage, TrainingRun

ACCEPTED_STATES = (Sample.State.AUTO_ACCEPTED, Sample.State.EXPERT_ACCEPTED)


class TrainingError(ValueError):
    """A request the training module refuses, with a message for the admin."""


def training_root() -> Path:
    """Where snapshots and run folders live: ``SKINFLOW_TRAINING_DIR`` (env or setting), else DATA_DIR/training."""
    configured = os.environ.get("SKINFLOW_TRAINING_DIR") or getattr(settings, "SKINFLOW_TRAINING_DIR", None)
    return Path(configured or Path(settings.DATA_DIR) / "training").resolve()


def heartbeat_timeout_s() -> float:
    """A running run whose heartbeat is older than this is considered orphaned (its worker died)."""
    return float(os.environ.get("SKINFLOW_TRAINING_HEARTBEAT_TIMEOUT_S") or getattr(
        settings, "SKINFLOW_TRAINING_HEARTBEAT_TIMEOUT_S", 120))


# ---- snapshots -------------------------------------------------------------------------------------------

def _records(dataset: Dataset, split: str, stage: str) -> list[export.ExportRecord]:
    samples = Sample.objects.filter(dataset=dataset, split=split).exclude(image="")
    if stage == Stage.CAPTION:
        samples = samples.filter(state__in=ACCEPTED_STATES, caption__isnull=False)
    else:
        # Rows flagged as wrongly labelled would teach a wrong diagnosis.
        samples = samples.filter(exclude_from_eval=False)
    media = Path(settings.MEDIA_ROOT)
    return [export.ExportRecord(sample_id=s.pk, image_path=media / s.image, label=s.label, caption=s.caption, split=s.split)
            for s in samples.order_by("pk")]


def create_snapshot(dataset: Dataset, split: str, stage: str, *, k: int = 6, user: Any = None) -> DatasetSnapshot:
    """Export ``split`` of ``dataset`` for ``stage``; the same content gives back the same snapshot.

    Raises :class:`TrainingError` when there is nothing to train on (e.g. no accepted captions).
    """
    if stage not in Stage.values:
        raise TrainingError(f"unknown stage {stage!r}")
    k = int(k) if stage == Stage.DIAGNOSIS else 6
    try:
        rows = export.build_rows(_records(dataset, split, stage), stage, k=k)
    except export.ExportError as exc:
        raise TrainingError(f"{dataset.name} / {split}: {exc}") from None
    digest = export.content_hash(rows)
    existing = DatasetSnapshot.objects.filter(dataset=dataset, split=split, stage=stage, k=k, content_hash=digest).first()
    if existing is not None:
        return existing
    for _ in range(3):
        version = (DatasetSnapshot.objects.filter(dataset=dataset, split=split, stage=stage, k=k)
                   .aggregate(v=Max("version"))["v"] or 0) + 1
        folder = training_root() / "snapshots" / f"dataset-{dataset.pk}" / f"{split}-stage{stage}-k{k}-v{version}"
        if folder.exists():
            continue  # written by a concurrent export that has not committed its row yet
        try:
            manifest = export.write_snapshot(folder, rows, stage=stage, k=k, split=split)
        except export.ExportError:
            continue
        try:
            with transaction.atomic():
                return DatasetSnapshot.objects.create(
                    dataset=dataset, split=split, stage=stage, k=k, version=version, content_hash=manifest.content_hash,
                    sample_ids=list(manifest.sample_ids), rows=manifest.rows, path=str(folder), created_by=user)
        except IntegrityError:
            continue
    raise TrainingError("could not allocate a snapshot version; try again")


# ---- runs ------------------------------------------------------------------------------------------------

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
    from training.rewards import caption_field_weights, position_weights

    given = dict(given or {})
    unknown = set(given) - {"position_weights", "field_weights"}
    if unknown:
        raise TrainingError(f"unknown reward setting(s): {', '.join(sorted(unknown))}")
    try:
        if stage == Stage.DIAGNOSIS:
            return {"position_weights": list(position_weights(given.get("position_weights"), k))}
        weights = given.get("field_weights") or _default_field_weights(dataset)
        return {"field_weights": caption_field_weights(weights)}
    except ValueError as exc:
        raise TrainingError(str(exc)) from None


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
    user: Any = None,
) -> TrainingRun:
    """Validate and queue a run; the gpu worker picks it up once the transaction commits.

    Stage II without a starting point starts from the final checkpoint of the lineage's latest
    succeeded Stage I run; with none available it is refused.
    """
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
    if base_model_path and not (Path(base_model_path) / "config.json").is_file():
        raise TrainingError(f"{base_model_path} is not a Hugging Face model folder (no config.json there)")
    try:
        validate_run_choices(engine, dve)
        hp = validate_hyperparameters(stage, hyperparameters)
    except EngineError as exc:
        raise TrainingError(str(exc)) from None
    rewards = _reward_settings(stage, k, reward_settings, snapshot.dataset)
    run = TrainingRun.objects.create(
        name=name, lineage=lineage, stage=stage, engine=engine, base_model_path=base_model_path,
        init_checkpoint=init_checkpoint, dve=dve, dve_k=dve_k, k=k, hyperparameters={**hp, "verl": dict(verl_options or {})},
        reward_settings=rewards, snapshot=snapshot, created_by=user)
    transaction.on_commit(lambda: enqueue_run(run.pk))
    return run


def enqueue_run(run_id: int) -> None:
    from training.tasks import run_training

    run_training.delay(run_id)


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


def reap_stale_runs() -> int:
    """Fail every running run whose heartbeat stopped: its gpu worker died and nothing else will."""
    cutoff = timezone.now() - timedelta(seconds=heartbeat_timeout_s())
    stale = TrainingRun.objects.filter(state=TrainingRun.State.RUNNING, heartbeat_at__lt=cutoff)
    return sum(fail_orphaned(pk, "the GPU worker stopped sending heartbeats (killed or lost) mid-run; the log is kept")
               for pk in stale.values_list("pk", flat=True))
