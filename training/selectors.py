"""Reads for the training pages and API."""

from __future__ import annotations

from django.db.models import QuerySet

from training.models import Checkpoint, DatasetSnapshot, MetricPoint, TrainingRun


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
