"""Pages of the review tool: the queue, the sample review page, drafting runs, field statistics."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotations import drafting_services, review_selectors, review_services
from annotations.filters import SampleFilter
from annotations.models import Dataset, FieldFrequencyAnalysis, Sample
from annotations.schema import FIELD_GUIDELINES, FIELDS, LESION_TYPE_GROUPS, LESION_TYPES, split_lesion_types
from webapp import audit
from webapp.models import AccessEvent
from webapp.params import int_or_none, is_whole_number
from webapp.roles import ADMIN, has_role, role_required


def _chosen_dataset(request: HttpRequest, raw: str | None) -> tuple[Dataset | None, bool]:
    """The dataset a ``?dataset=`` names, and whether the value was bad (then the page says so and shows all)."""
    if not raw:
        return None, False
    dataset = Dataset.objects.filter(pk=int_or_none(raw)).first()
    if dataset is None:
        messages.error(request, f"No dataset has the id {raw[:40]!r}: showing every dataset. Pick one from the list.")
    return dataset, dataset is None


@role_required()
def queue(request: HttpRequest) -> HttpResponse:
    dataset, bad = _chosen_dataset(request, request.GET.get("dataset"))
    context = {"counts": review_selectors.queue_counts(dataset), "datasets": Dataset.objects.all(),
               "dataset": dataset, "waiting": review_selectors.waiting_for(request.user, dataset),
               "recent": review_selectors.recent_actions(request.user, limit=5)}
    if has_role(request.user, ADMIN):
        context["runs"] = [(run, drafting_services.run_progress(run))
                           for run in review_selectors.drafting_runs(dataset)[:20]]
        # The bulk-accept list takes the samples page's filters (label, skin type, split...).
        waiting = SampleFilter(request.GET, queryset=review_selectors.needs_expert_with_drafts(dataset))
        waiting.form.fields.pop("dataset", None)
        waiting.form.fields.pop("state", None)
        context["bulk_filter"] = waiting
        context["needs_expert"] = waiting.qs.select_related("dataset")[:200]
        audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [s.pk for s in context["needs_expert"]])
    return render(request, "annotations/review_queue.html", context, status=400 if bad else 200)


@role_required()
@require_http_methods(["GET", "POST"])
def next_sample(request: HttpRequest) -> HttpResponse:
    """POST claims the next sample (or gives back your live claim). GET only offers the button: a link
    preview or prefetch must never take a sample out of the queue."""
    dataset, bad = _chosen_dataset(request, request.POST.get("dataset") or request.GET.get("dataset"))
    if request.method == "GET" or bad:  # a bad dataset claims nothing: the page says so and offers the choice
        return render(request, "annotations/review_next.html", {
            "dataset": dataset, "datasets": Dataset.objects.all(),
            "waiting": review_selectors.waiting_for(request.user, dataset)}, status=400 if bad else 200)
    sample = review_services.claim_next(request.user, dataset=dataset)
    if sample is None:
        messages.info(request, f"Nothing is waiting for review in {dataset.name} right now." if dataset
                      else "Nothing is waiting for review right now.")
        return redirect(reverse("review-queue") + (f"?dataset={dataset.pk}" if dataset else ""))
    audit.record(request, AccessEvent.Action.REVIEW_CLAIM, sample)
    # The chosen dataset travels with the reviewer, so "Next" on the sample page stays in it.
    return redirect(reverse("review-sample", args=[sample.pk]) + (f"?dataset={dataset.pk}" if dataset else ""))


@role_required()
def review_sample(request: HttpRequest, sample_id: int) -> HttpResponse:
    sample = get_object_or_404(Sample.objects.select_related("dataset", "claimed_by"), pk=sample_id)
    detail = review_selectors.review_detail(sample, is_admin=has_role(request.user, ADMIN))
    caption = detail["caption"] or {}
    cited = (detail["recheck"] or {}).get("cited", {})
    fields = [{"name": f, "label": f.replace("_", " "), "help": FIELD_GUIDELINES[f], "value": caption.get(f, ""),
               "cited": cited.get(f, [])} for f in FIELDS]
    known, unknown = split_lesion_types(caption.get("lesion_type", ""))
    # The lesion-type chips: the vocabulary in its two groups; the first nine carry the digit that toggles them.
    chips = {group: [{"term": t, "on": t in known, "key": LESION_TYPES.index(t) + 1 if LESION_TYPES.index(t) < 9
                      else None} for t in terms] for group, terms in LESION_TYPE_GROUPS.items()}
    dataset = Dataset.objects.filter(pk=int_or_none(request.GET.get("dataset"))).first()
    # Editable when it waits for review and nobody else holds it; the page's first heartbeat takes the claim.
    mine = detail["reviewable"] and (detail["claimed_by"] is None or detail["claimed_by"] == request.user)
    audit.record(request, AccessEvent.Action.SAMPLE_VIEW, sample)
    return render(request, "annotations/review_sample.html", {
        **detail, "fields": fields, "reject_reasons": review_services.REJECT_REASONS, "mine": mine,
        "chips": chips, "unknown_types": unknown, "next_dataset": dataset,
        "waiting": review_selectors.waiting_for(request.user, dataset),
        "config": json.dumps({"sampleId": sample.pk, "version": sample.caption_version, "mine": mine,
                              "fields": list(FIELDS), "leaseSeconds": int(review_services.LEASE.total_seconds()),
                              "csrf": get_token(request), "nextUrl": reverse("review-next"),
                              "lesionTypes": list(LESION_TYPES), "selectedTypes": known + unknown}),
    })


@role_required()
def recent(request: HttpRequest) -> HttpResponse:
    """My recent reviews: the reviewer's last 20 actions with links, and undo of the last one."""
    return render(request, "annotations/review_recent.html", {
        "rows": review_selectors.recent_actions(request.user),
        "window_minutes": int(review_selectors.UNDO_WINDOW.total_seconds() // 60)})


@role_required()
@require_POST
def undo(request: HttpRequest) -> HttpResponse:
    event_id = int_or_none(request.POST.get("event"))
    try:
        result = review_services.undo(request.user, event_id or 0)
    except review_services.ReviewError as exc:
        messages.error(request, str(exc))
        return redirect("review-recent")
    audit.record(request, AccessEvent.Action.REVIEW_UNDO, result["sample"], undo=event_id)
    messages.success(request, result["message"])
    return redirect("review-sample", sample_id=result["sample"].pk)


@role_required(ADMIN)
@require_POST
def reopen(request: HttpRequest, sample_id: int) -> HttpResponse:
    sample = get_object_or_404(Sample, pk=sample_id)
    try:
        review_services.reopen(request.user, sample, request.POST.get("note", ""))
    except review_services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        audit.record(request, AccessEvent.Action.REVIEW_REOPEN, sample)
        messages.success(request, f"Sample #{sample.pk} is back in the review queue.")
    return redirect("review-sample", sample_id=sample.pk)


@role_required(ADMIN)
@require_POST
def start_run(request: HttpRequest) -> HttpResponse:
    dataset = get_object_or_404(Dataset, pk=int_or_none(request.POST.get("dataset")))
    try:
        run = drafting_services.create_run(dataset, user=request.user, split=request.POST.get("split", ""))
    except drafting_services.DraftingRejected as exc:
        messages.error(request, str(exc))
        return redirect("review-queue")
    audit.record_drafting(request, AccessEvent.Action.DRAFTING_RUN_CREATE, run, run.jobs.count())
    return redirect("drafting-run", run_id=run.pk)


@role_required(ADMIN)
@require_POST
def bulk_accept(request: HttpRequest) -> HttpResponse:
    """Two steps: the ticked samples first come back as a preview (thumbnail, label, caption, verdict and
    the count); only the preview's "Accept N" button (``confirm=1``) commits."""
    ids = [int(i) for i in request.POST.getlist("sample") if is_whole_number(i)]
    if not ids:
        messages.error(request, "Tick at least one sample to accept.")
        return redirect("review-queue")
    if request.POST.get("confirm") != "1":
        rows = review_selectors.bulk_accept_preview(ids)
        audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [r["sample"].pk for r in rows])
        return render(request, "annotations/review_bulk_preview.html", {
            "rows": rows, "eligible": [r for r in rows if r["eligible"]],
            "left_alone": [r for r in rows if not r["eligible"]]})
    result = review_services.bulk_accept(request.user, ids)
    audit.record_samples(request, AccessEvent.Action.REVIEW_BULK_ACCEPT, ids, **result)
    messages.success(request, f"Accepted {result['accepted']} machine draft(s); skipped {result['skipped']} "
                              "(no consistent draft, edited, claimed, or no longer waiting).")
    return redirect("review-queue")


@role_required(ADMIN)
@require_POST
def draw_audit(request: HttpRequest) -> HttpResponse:
    dataset = get_object_or_404(Dataset, pk=int_or_none(request.POST.get("dataset")))
    try:
        count = int(request.POST.get("count", "0"))
    except ValueError:
        count = 0
    if count < 1:
        messages.error(request, "Say how many accepted samples to draw for audit (a whole number, at least 1).")
    else:
        n = review_services.draw_audit(request.user, dataset, count)
        audit.record(request, AccessEvent.Action.REVIEW_AUDIT_DRAW, dataset, requested=count, drawn=n)
        messages.success(request, f"Drew {n} auto-accepted sample(s) of {dataset.name} for audit.")
    return redirect("review-queue")


@role_required(ADMIN)
def field_stats(request: HttpRequest) -> HttpResponse:
    dataset = Dataset.objects.filter(pk=int_or_none(request.GET.get("dataset"))).first()
    if request.method == "POST":
        review_services.analyse_field_frequency(dataset, request.user)
        return redirect(request.get_full_path())
    analysis = FieldFrequencyAnalysis.objects.filter(dataset=dataset).first()
    rows = []
    if analysis is not None:
        top_filled = max(analysis.filled.values()) or 1
        top_cited = max(analysis.cited.values()) or 1
        rows = sorted(({"field": f, "filled": analysis.filled[f], "cited": analysis.cited[f],
                        "weight": analysis.weights[f], "filled_pct": 100 * analysis.filled[f] / top_filled,
                        "cited_pct": 100 * analysis.cited[f] / top_cited} for f in FIELDS),
                      key=lambda r: -r["weight"])
    return render(request, "annotations/field_stats.html", {
        "analysis": analysis, "rows": rows, "edits": review_selectors.field_edit_stats(dataset),
        "datasets": Dataset.objects.all(), "dataset": dataset})
