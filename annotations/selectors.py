"""Reads for datasets and samples."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from annotations.models import Dataset, Sample


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.annotate(
        sample_count=Count("samples"),
        image_count=Count("samples", filter=~Q(samples__image="")),
        excluded_count=Count("samples", filter=Q(samples__exclude_from_eval=True)),
    ).order_by("name")


def dataset_labels(dataset: Dataset) -> list[tuple[str, int]]:
    rows = (Sample.objects.filter(dataset=dataset).values("label").annotate(n=Count("id")).order_by("label"))
    return [(r["label"], r["n"]) for r in rows]


def sample_queryset() -> QuerySet[Sample]:
    return Sample.objects.select_related("dataset").order_by("id")
