"""Pages: datasets, samples with filters and thumbnails, protected image files, admin upload, and a drafting
run's page (its samples, live; served at /review/runs/<id>/)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from annotations import drafting_services, selectors, services
from annotations.files import protected_file
from annotations.filters import SampleFilter, filter_errors
from annotations.forms import PageQuery, RunJobsQuery, UploadForm
from annotations.import_report import ImportRejected
from annotations.models import Dataset, DraftingRun, DraftJob, Sample
from webapp import audit
from webapp.models import AccessEvent
from webapp.roles import ADMIN, role_required


@role_required()
def dataset_list(request: HttpRequest) -> HttpResponse:
    return render(request, "annotations/dataset_list.html", {"datasets": selectors.dataset_list()})


SAMPLES_PER_PAGE = 48


@role_required()
def sample_list(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """The dataset's samples as thumbnails (each opens the sample's review page), filtered and paged. A filter
    value the page does not know is named above the grid with the values it takes (status 400); the other
    filters still apply."""
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    filterset = SampleFilter(request.GET, queryset=selectors.sample_queryset().filter(dataset=dataset))
    filterset.form.fields.pop("dataset", None)
    labels = selectors.dataset_labels(dataset)
    # On the page, a dropdown of this dataset's labels (with counts) beats typing a label from memory.
    filterset.form.fields["label"] = forms.ChoiceField(
        required=False, label="Label", choices=[("", "any")] + [(name, f"{name} ({n})") for name, n in labels],
        error_messages={"invalid_choice": f"“%(value)s” is not a label of this dataset: pick one of its "
                                          f"{len(labels)} labels from the list, or use “Label contains”."})
    paging = PageQuery(request.GET)
    errors = filter_errors(filterset.form) + filter_errors(paging)
    page, notice = selectors.pick_page(Paginator(filterset.qs, SAMPLES_PER_PAGE), paging.cleaned_data.get("page"))
    errors += [notice] if notice else []
    audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [s.pk for s in page.object_list], dataset)
    return render(request, "annotations/sample_list.html", {
        "dataset": dataset, "filter": filterset, "page": page, "labels": labels, "errors": errors,
    }, status=400 if errors else 200)


@role_required()
def sample_image(request: HttpRequest, sample_id: int) -> FileResponse:
    sample = get_object_or_404(Sample, pk=sample_id)
    response = protected_file(sample.image)
    audit.record(request, AccessEvent.Action.IMAGE_VIEW, sample)
    return response


@role_required()
def sample_thumbnail(request: HttpRequest, sample_id: int) -> FileResponse:
    sample = get_object_or_404(Sample, pk=sample_id)
    path = services.ensure_thumbnail(sample)
    if path is None:
        raise Http404("This sample has no image, or its file is missing on the server.")
    response = protected_file(sample.thumbnail, "image/jpeg")
    audit.record(request, AccessEvent.Action.THUMBNAIL_VIEW, sample)
    return response


@role_required(ADMIN)
def upload(request: HttpRequest) -> HttpResponse:
    result, error = None, None
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = services.import_upload(
                data["dataset"], archive=data.get("archive"), images=data.get("images") or [],
                label=data.get("label") or "", skip_bad_rows=data["skip_bad_rows"], user=request.user,
            )
        except ImportRejected as exc:
            error = str(exc)
        else:
            audit.record_import(request, data["dataset"], result)
    status = 400 if (error or (result and not result.committed) or form.errors) else 200
    dataset = Dataset.objects.filter(name=" ".join((form.data.get("dataset") or "").split())).first()
    return render(request, "annotations/upload.html",
                  {"form": form, "result": result, "error": error, "dataset": dataset}, status=status)


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def drafting_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """A drafting run: counts, throughput and ETA, the grouped errors, and a table of its samples filtered by
    state and paged; live through webapp/static/webapp/live.js (annotations/drafting_api.py). POST cancels or
    resumes."""
    run = get_object_or_404(DraftingRun.objects.select_related("dataset"), pk=run_id)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "cancel":
            drafting_services.cancel_run(run)
        elif action == "resume":
            requeued = drafting_services.resume_run(run)
            audit.record_drafting(request, AccessEvent.Action.DRAFTING_RESUME, run, requeued)
        else:
            messages.error(request, f"“{action or ''}” is not something a run can do: use cancel or resume.")
        return redirect(request.get_full_path())
    query = RunJobsQuery(request.GET)
    errors = filter_errors(query)  # validates; the values that were valid still apply
    status = selectors.drafting_run_status(run, state=query.cleaned_data.get("state", ""),
                                           page=query.cleaned_data.get("page"))
    errors += [status.page_notice] if status.page_notice else []
    audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [j.sample_id for j in status.page.object_list], run)
    chips = [{"state": "", "label": "all", "count": status.overview["progress"]["total"]}] + [
        {"state": value, "label": label, "count": status.overview["counts"][value]}
        for value, label in DraftJob.State.choices]
    return render(request, "annotations/drafting_run.html", {
        "run": run, "status": status, "overview": status.overview, "progress": status.overview["progress"],
        "page": status.page, "chips": chips, "errors": errors,
    }, status=400 if errors else 200)

