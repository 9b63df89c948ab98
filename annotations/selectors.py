"""Reads for datasets and samples."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from annotations.imaging import IDENTIFYING_REFUSAL
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


# ---- the review rules for snapshot and evaluation-sample selection ------------------------------------------

Reason = Sample.RejectionReason
PURPOSES = ("stage1", "stage2", "evaluation", "drafting")
# A photo a reviewer marked as showing identifying content leaves the tool for none of them: every purpose
# either exports it or sends it to an LLM endpoint (drafting and evaluation), which may be hosted elsewhere.
IDENTIFYING_REMOVES = frozenset(PURPOSES)

# What a rejection removes the sample from, by its reason. A suspected wrong label poisons everything that
# trusts the label (evaluation, both training stages); an unusable image poisons everything, drafting too.
# "other" is treated like an unusable image: the reviewer named no specific fault, so nothing about the
# sample can be vouched for, and the strictest rule is the safe default (an admin can reopen it).
REJECTION_REMOVES: dict[str, frozenset[str]] = {
    Reason.LABEL_SUSPECTED_WRONG: frozenset({"stage1", "stage2", "evaluation"}),
    Reason.UNUSABLE_IMAGE: frozenset(PURPOSES),
    Reason.OTHER: frozenset(PURPOSES),
}


def _not_removed_by_rejection(purpose: str) -> Q:
    """Excludes the rejected samples whose reason removes them from ``purpose``. A rejected sample with no
    (or an unknown) reason counts as removed from everything."""
    reasons = [r for r, removes in REJECTION_REMOVES.items() if purpose in removes]
    if len(reasons) == len(REJECTION_REMOVES):
        return ~Q(state=Sample.State.REJECTED)
    kept = set(REJECTION_REMOVES) - set(reasons)
    return ~Q(state=Sample.State.REJECTED) | Q(rejection_reason__in=kept)


def identifying(prefix: str = "") -> Q:
    """The rows whose sample is marked as showing identifying content (``prefix`` e.g. ``"sample__"`` from a
    job or item). The one rule, used by :func:`eligible_samples` when work is created and by the doors
    (:func:`identifying_refusal`) for work created before the mark was set."""
    return Q(**{f"{prefix}identifying_content": True})


def identifying_refusal(sample: Sample | None, what: str = "") -> str:
    """Why ``sample``'s photo may not leave the tool now ("" when it may): the per-object twin of
    :func:`identifying`, asked at the doors of queued drafting jobs, evaluation items and pending snapshots,
    which were created before a reviewer set the mark. The text names the mark and how to undo it."""
    if sample is None or not sample.identifying_content:
        return ""
    return (f"{what or f'the image of sample {sample.pk}'} is {IDENTIFYING_REFUSAL} (a reviewer can clear the "
            "mark on the review page if it was set by mistake)")


def eligible_samples(purpose: str, *, dataset: Dataset | None = None, split: str = "",
                     include_overrides: bool = True, need_image: bool = True) -> QuerySet[Sample]:
    """The one place that applies the review rules (states, rejections and their reasons, overrides,
    qc exclusions, identifying content) to what training snapshots and evaluation runs may use, ordered by id.

    A sample a reviewer marked as showing identifying content (face, tattoo, jewellery, a name in the
    picture) is left out of every purpose (``IDENTIFYING_REMOVES``): exports, and drafting and evaluation,
    which send the photo to an LLM endpoint.

    * ``"stage1"``: samples with an accepted caption (auto-accepted, expert-accepted, and expert overrides
      unless ``include_overrides=False``) and an image.
    * ``"stage2"``: every labelled sample with an image, captioned or not, except rejected ones and rows the
      source flags as wrongly labelled (``exclude_from_eval``): they would teach a wrong diagnosis.
    * ``"evaluation"``: not rejected, not ``exclude_from_eval``; with an image unless ``need_image=False``
      (predictions made elsewhere and imported need none).
    * ``"drafting"``: samples with an image whose rejection (if any) leaves the image usable; the caller
      adds the states it drafts.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
    qs = Sample.objects.filter(_not_removed_by_rejection(purpose))
    if purpose in IDENTIFYING_REMOVES:
        qs = qs.exclude(identifying())
    if dataset is not None:
        qs = qs.filter(dataset=dataset)
    if split:
        qs = qs.filter(split=split)
    if need_image or purpose != "evaluation":
        qs = qs.exclude(image="")
    if purpose == "stage1":
        states = [s for s in Sample.ACCEPTED_STATES if include_overrides or s != Sample.State.EXPERT_OVERRIDE]
        qs = qs.filter(state__in=states, caption__isnull=False)
    elif purpose in ("stage2", "evaluation"):
        qs = qs.filter(exclude_from_eval=False)
    return qs.order_by("id")
