"""Reads for datasets and samples."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, JSONField, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from annotations.imaging import IDENTIFYING_REFUSAL
from annotations.models import CaptionDraft, Dataset, DraftingRun, DraftJob, Sample


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.annotate(
        sample_count=Count("samples"),
        image_count=Count("samples", filter=~Q(samples__image="")),
        excluded_count=Count("samples", filter=Q(samples__exclude_from_eval=True)),
        needs_expert_count=Count("samples", filter=Q(samples__state=Sample.State.NEEDS_EXPERT)),
        draft_failed_count=Count("samples", filter=Q(samples__state=Sample.State.DRAFT_FAILED)),
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


# ---- drafting runs: the run page's table, counts, throughput and ETA (also its live progress JSON) -------------

Job = DraftJob.State
# Throughput is measured over this much recent time: long enough to smooth a batch of retries, short enough
# that an ETA follows a slowed-down endpoint within minutes.
THROUGHPUT_WINDOW = timedelta(minutes=5)
# A job that ended by doing its work. Cancelled jobs end without work (a cancel ends thousands at once), so
# they would make the rate jump.
WORKED = (Job.AUTO_ACCEPTED, Job.NEEDS_EXPERT, Job.FAILED)
RUN_JOBS_PER_PAGE = 50


def duration_text(seconds: float | None) -> str:
    """ "under a minute", "about 7 min", "about 2 h 05 min"."""
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


def drafting_run_overview(run: DraftingRun, *, now: datetime | None = None) -> dict[str, Any]:
    """Job counts per state, attempts, tokens, throughput and ETA of ``run``, in one query.

    Throughput is samples finished per minute over the last ``THROUGHPUT_WINDOW`` (never before the run was
    created) while the run is active, and over the whole run once it has ended; the ETA is the samples still
    pending or running at that rate (none until a first sample finished in the window)."""
    now = now or timezone.now()
    active = run.state in DraftingRun.ACTIVE
    since = max(now - THROUGHPUT_WINDOW, run.created_at)
    agg = DraftJob.objects.filter(run=run).aggregate(
        total=Count("id"),
        **{f"state_{state}": Count("id", filter=Q(state=state)) for state in Job.values},
        worked_recently=Count("id", filter=Q(state__in=WORKED, updated_at__gte=since)),
        unsent=Count("id", filter=Q(state=Job.PENDING, enqueued_at__isnull=True)),
        attempts=Sum("attempts"), prompt_tokens=Sum("prompt_tokens"), completion_tokens=Sum("completion_tokens"),
    )
    counts = {state: agg[f"state_{state}"] for state in Job.values}
    total = agg["total"]
    remaining = counts[Job.PENDING] + counts[Job.RUNNING]
    worked = sum(counts[s] for s in WORKED)
    if active:
        span_s, finished_in_span, basis = (now - since).total_seconds(), agg["worked_recently"], "last 5 min"
    else:
        span_s = ((run.finished_at or now) - run.created_at).total_seconds()
        finished_in_span, basis = worked, "whole run"
    # Under 10 s of history a rate is noise (one sample in 2 s would read as 30/min).
    per_minute = finished_in_span * 60 / span_s if span_s >= 10 and finished_in_span else None
    eta_s = remaining * 60 / per_minute if active and per_minute and remaining else None
    progress = {
        "total": total, "done": total - remaining, "accepted": counts[Job.AUTO_ACCEPTED],
        "needs_expert": counts[Job.NEEDS_EXPERT], "failed": counts[Job.FAILED], "cancelled": counts[Job.CANCELLED],
        "pending": counts[Job.PENDING], "running": counts[Job.RUNNING], "attempts": agg["attempts"] or 0,
        "prompt_tokens": agg["prompt_tokens"] or 0, "completion_tokens": agg["completion_tokens"] or 0,
    }
    progress["percent"] = round(100 * progress["done"] / total, 1) if total else 0.0
    progress["summary"] = (f"{progress['done']}/{total} done · {progress['accepted']} accepted · "
                           f"{progress['needs_expert']} need an expert · {progress['failed']} failed · "
                           f"{progress['attempts']} attempts · {progress['prompt_tokens']}+"
                           f"{progress['completion_tokens']} tokens")
    if active and per_minute is None:
        eta_text = "after the first samples finish"
    elif active:
        eta_text = duration_text(eta_s) if eta_s else "any moment"
    else:
        eta_text = ""
    return {
        "active": active, "counts": counts, "progress": progress, "unsent": agg["unsent"],
        "throughput": {"per_minute": round(per_minute, 2) if per_minute else None, "basis": basis,
                       "text": f"{per_minute:.1f}" if per_minute else "—"},
        "eta_s": round(eta_s) if eta_s else None, "eta_text": eta_text,
        "elapsed_text": duration_text(((run.finished_at if not active and run.finished_at else now)
                                       - run.created_at).total_seconds()),
        "elapsed_label": "since it started" if active else "from start to end",
        "failed_message": "" if run.state not in (DraftingRun.State.FAILED, DraftingRun.State.PARTIALLY_FAILED)
        else (f"{progress['failed']} of {total} sample{'s' if total != 1 else ''} failed to draft; see the reasons "
              "below, fix the cause (often the LLM endpoint), then resume."),
        "can_cancel": active, "can_resume": bool(counts[Job.FAILED] or counts[Job.CANCELLED])
        or run.state == DraftingRun.State.CANCELLED,
    }


def drafting_run_jobs(run: DraftingRun, state: str = "") -> QuerySet[DraftJob]:
    """The run's jobs in id order (stable while the run moves), with their sample and what their last attempt
    said (for :func:`job_reason`), optionally of one state."""
    last = CaptionDraft.objects.filter(job=OuterRef("pk")).order_by("-attempt")
    qs = DraftJob.objects.filter(run=run).select_related("sample").annotate(
        last_caption_error=Subquery(last.values("caption_error")[:1]),
        last_category=Subquery(last.values("judge_category")[:1]),
        last_consistent=Subquery(last.values("consistent")[:1]),
        last_diagnoses=Subquery(last.values("diagnoses")[:1], output_field=JSONField()),
    ).order_by("id")
    return qs.filter(state=state) if state else qs


def job_reason(job: DraftJob) -> str:
    """Why the job stands where it does, in words: its error, else what its last attempt's check said. Not yet
    redacted: pages pass it through ``public_error``, the API through ``redact.error_for``."""
    if job.error:
        return job.error
    attempts = job.attempts
    if not attempts or getattr(job, "last_consistent", None):
        return ""
    if getattr(job, "last_caption_error", ""):
        return f"attempt {attempts}: {job.last_caption_error}"
    category = getattr(job, "last_category", "") or "no verdict"
    diagnoses = getattr(job, "last_diagnoses", None) or []
    top = f"; inferred {diagnoses[0]}" if diagnoses and isinstance(diagnoses[0], str) else ""
    return f"attempt {attempts}: diagnosis check {category.replace('_', ' ')}{top}"


def job_token(job: DraftJob) -> str:
    """What the live page knows a row by: a row whose token is unchanged needs no resending."""
    return f"{job.pk}.{job.state}.{job.attempts}"


_NUMBERS = re.compile(r"\d+")


def drafting_error_groups(run: DraftingRun, *, limit: int = 10) -> list[dict[str, Any]]:
    """The failed jobs' errors, the same error once with how many samples it hit, most frequent first.

    Texts that differ only in numbers ("sample 12", "sample 13"; a port or a retry count) are one group, shown
    by the text of its first sample. At most ``limit`` groups; the rest are counted in a last entry."""
    rows = (DraftJob.objects.filter(run=run, state=Job.FAILED).values("error")
            .annotate(n=Count("id"), first=Min("sample_id")).order_by("-n", "first")[:500])
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        text = row["error"] or "(no reason recorded)"
        group = groups.setdefault(_NUMBERS.sub("#", text), {"error": text, "count": 0, "sample_id": row["first"]})
        group["count"] += row["n"]
        if row["first"] < group["sample_id"]:
            group["error"], group["sample_id"] = text, row["first"]
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["sample_id"]))
    shown = ordered[:limit]
    if len(ordered) > limit:
        shown.append({"error": f"{len(ordered) - limit} other errors", "count": sum(g["count"] for g in ordered[limit:]),
                      "sample_id": None})
    return shown


def pick_page(paginator: Paginator, number: int | None) -> tuple[Page, str]:
    """The page asked for, or the nearest one with a sentence saying so (a filter or a finishing run may have
    shortened the list since the link was made)."""
    if number is None or number <= paginator.num_pages:
        return paginator.page(number or 1), ""
    last = paginator.num_pages
    return paginator.page(last), (f"Page: there is no page {number}; the list has {last} page{'s' if last != 1 else ''}"
                                  f", so page {last} is shown.")


@dataclass
class RunStatus:
    """Everything the drafting run page and its progress JSON show."""

    run: DraftingRun
    overview: dict[str, Any]
    page: Page
    errors: list[dict[str, Any]] = field(default_factory=list)
    state: str = ""
    page_notice: str = ""


def drafting_run_status(run: DraftingRun, *, state: str = "", page: int | None = None,
                        per_page: int = RUN_JOBS_PER_PAGE, now: datetime | None = None) -> RunStatus:
    """The run's overview, its error groups and one page of its jobs (of ``state`` when given): three queries
    (the page's count is taken from the overview's counts, its ids are a subquery of its rows' query)."""
    overview = drafting_run_overview(run, now=now)
    ids = DraftJob.objects.filter(run=run, **({"state": state} if state else {})).order_by("id").values("id")
    paginator = Paginator(ids, per_page)
    paginator.count = overview["counts"][state] if state else overview["progress"]["total"]  # no COUNT query
    chosen, notice = pick_page(paginator, page)
    # The page's ids are picked in a subquery first: with OFFSET, PostgreSQL would otherwise compute the
    # last-attempt subqueries for every row it skips (page 300 of a 20,000-sample run: 4x slower).
    chosen.object_list = list(drafting_run_jobs(run).filter(id__in=chosen.object_list))
    for job in chosen.object_list:
        job.reason = job_reason(job)
        job.token = job_token(job)
    errors = drafting_error_groups(run) if overview["progress"]["failed"] else []
    return RunStatus(run=run, overview=overview, page=chosen, errors=errors, state=state, page_notice=notice)
