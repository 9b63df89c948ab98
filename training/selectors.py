"""Reads for the training pages and API."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from training.models import Checkpoint, DatasetSnapshot, MetricPoint, RolloutSample, TrainingRun

PROGRESS_POINTS = 20      # metric points the progress JSON carries without a cursor (the run page's table)
PROGRESS_ROLLOUT_STEPS = 5  # logged steps of rollout samples it carries (latest first)


def run_list() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("snapshot__dataset", "init_checkpoint__run").order_by("-created_at")


def snapshot_list() -> QuerySet[DatasetSnapshot]:
    return DatasetSnapshot.objects.select_related("dataset").order_by("-created_at")


def metric_points(run: TrainingRun) -> list[tuple[int, dict]]:
    return list(MetricPoint.objects.filter(run=run).order_by("step").values_list("step", "values"))


def latest_metrics(run: TrainingRun) -> dict:
    point = MetricPoint.objects.filter(run=run).order_by("-step").first()
    return {"step": point.step, **point.values} if point else {}


def lineage(run: TrainingRun) -> list[TrainingRun]:
    """The run and the runs it descends from, oldest first."""
    chain = [run]
    while chain[-1].init_checkpoint_id and len(chain) < 50:
        chain.append(chain[-1].init_checkpoint.run)
    return list(reversed(chain))


def finished_checkpoints() -> QuerySet[Checkpoint]:
    return Checkpoint.objects.filter(run__state=TrainingRun.State.SUCCEEDED).select_related("run").order_by("-created_at")


def rollout_steps(run: TrainingRun, steps: int = PROGRESS_ROLLOUT_STEPS) -> list[dict[str, Any]]:
    """The rollout samples of the last ``steps`` logged steps, latest step first, each with its samples."""
    recent = list(RolloutSample.objects.filter(run=run).order_by("-step").values_list("step", flat=True)
                  .distinct()[:steps])
    grouped: dict[int, list[dict[str, Any]]] = {step: [] for step in recent}
    for sample in RolloutSample.objects.filter(run=run, step__in=recent).order_by("step", "position"):
        grouped[sample.step].append({"position": sample.position, "sample_id": sample.sample_id,
                                     "prompt": sample.prompt, "completion": sample.completion,
                                     "reference": sample.reference, "reward": sample.reward})
    return [{"step": step, "samples": grouped[step],
             "rewards": [s["reward"] for s in grouped[step]]} for step in recent]


def _checkpoint_row(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"id": checkpoint.pk, "step": checkpoint.step, "path": checkpoint.path, "is_final": checkpoint.is_final,
            "url": reverse("training-checkpoint", args=[checkpoint.pk])}


def progress(run: TrainingRun, *, after: int | None = None, last: int = PROGRESS_POINTS,
             log_chars: int = 4000) -> dict[str, Any]:
    """What the run page shows while the run goes on, as one JSON-ready dict.

    ``points`` are the metric points after step ``after`` (a cursor: pass the previous answer's ``cursor``)
    or, without it, the last ``last`` ones; ``rollouts`` the latest steps' samples, ``log`` the log's tail.
    """
    from training.runner import log_tail

    run.refresh_from_db()
    points = MetricPoint.objects.filter(run=run)
    if after is not None:
        chosen = list(points.filter(step__gt=after).order_by("step").values_list("step", "values")[:1000])
    else:
        chosen = list(reversed(points.order_by("-step").values_list("step", "values")[:last]))
    latest = latest_metrics(run)
    total = int(run.hyperparameters.get("max_steps") or 0)
    step = int(latest.get("step") or 0)
    return {
        "id": run.pk, "name": run.name, "state": run.state, "is_terminal": run.is_terminal,
        "cancel_requested": run.cancel_requested, "stopping": run.cancel_requested and not run.is_terminal,
        "error": run.error, "device": run.device, "worker_host": run.worker_host, "engine": run.engine,
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "heartbeat_clock": timezone.localtime(run.heartbeat_at).strftime("%H:%M:%S") if run.heartbeat_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "step": step, "total": total, "percent": round(100 * step / total, 1) if total else 0,
        "latest": latest, "points": [{"step": s, **v} for s, v in chosen],
        "cursor": chosen[-1][0] if chosen else after,
        "log": log_tail(run, log_chars), "rollouts": rollout_steps(run),
        "warning": run.reward_warning, "checkpoints": [_checkpoint_row(c) for c in run.checkpoints.all()],
        "chart_url": reverse("training-run-chart", args=[run.pk]) + f"?v={step}-{run.state}",
    }


def checkpoint_detail(checkpoint_id: int) -> Checkpoint | None:
    return Checkpoint.objects.select_related("run__snapshot__dataset", "run__init_checkpoint__run").filter(
        pk=checkpoint_id).first()


def evaluations_of(checkpoint: Checkpoint) -> list[Any]:
    """Evaluation runs of this checkpoint's folder (local-checkpoint runs), newest first."""
    from evaluation.models import EvalRun

    return list(EvalRun.objects.filter(kind=EvalRun.Kind.LOCAL, checkpoint=checkpoint.path).order_by("-created_at"))


def lineage_for_checkpoint_path(path: str) -> dict[str, Any] | None:
    """How a checkpoint folder came to be, for an evaluation report (``EvalRun.checkpoint`` holds the path).

    None when no training run registered that folder. Otherwise::

        {"checkpoint": {id, step, path, is_final, url},
         "runs": [{id, name, stage, engine, dve, state, lineage, url, started_from}, ...],  # oldest first
         "base_model": "<folder the first run started from>", "tiny_model": bool}

    ``started_from`` is the checkpoint (``{id, step, url}``) a run started from, or None for the first run.
    """
    checkpoint = (Checkpoint.objects.select_related("run").filter(path=path).order_by("-pk").first())
    if checkpoint is None:
        return None
    chain = lineage(checkpoint.run)
    runs = [{"id": r.pk, "name": r.name, "stage": r.stage, "engine": r.engine, "dve": r.dve, "state": r.state,
             "lineage": r.lineage, "url": reverse("training-run", args=[r.pk]),
             "started_from": ({"id": r.init_checkpoint.pk, "step": r.init_checkpoint.step,
                               "url": reverse("training-checkpoint", args=[r.init_checkpoint.pk])}
                              if r.init_checkpoint_id else None)} for r in chain]
    return {"checkpoint": _checkpoint_row(checkpoint), "runs": runs, "base_model": chain[0].base_model_path,
            "tiny_model": chain[0].tiny_model}


def evaluation_lineage(checkpoint: Checkpoint) -> dict[str, Any]:
    """The lineage an evaluation run of ``checkpoint`` stores (``EvalRun.lineage``) and its report shows:
    the run and step, the checkpoint's page, the base model, the snapshot it trained on, the earlier runs
    (oldest first) as ``parents``, and the full chain as ``runs`` (see :func:`lineage_for_checkpoint_path`)."""
    run = checkpoint.run
    chain = lineage(run)
    return {
        "training_run": f"#{run.pk} {run.name}", "training_run_url": reverse("training-run", args=[run.pk]),
        "stage": run.stage, "step": checkpoint.step, "final": checkpoint.is_final,
        "checkpoint": checkpoint.path, "checkpoint_url": reverse("training-checkpoint", args=[checkpoint.pk]),
        "base_model": ("tiny CPU model (smoke test): " if chain[0].tiny_model else "") + chain[0].base_model_path,
        "snapshot": str(run.snapshot), "dve": run.dve,
        "parents": [{"name": f"#{r.pk} {r.name}", "url": reverse("training-run", args=[r.pk]), "stage": r.stage,
                     "snapshot": str(r.snapshot)} for r in chain[:-1]],
        "runs": (lineage_for_checkpoint_path(checkpoint.path) or {}).get("runs", []),
    }
