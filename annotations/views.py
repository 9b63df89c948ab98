"""Pages: datasets, samples with filters and thumbnails, protected image files, admin upload."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from annotations import selectors, services
from annotations.files import protected_file
from annotations.filters import SampleFilter
from annotations.forms import UploadForm
from annotations.import_report import ImportRejected
from annotations.models import Dataset, Sample
from webapp import audit
from webapp.models import AccessEvent
from webapp.roles import ADMIN, role_required


@role_required()
def dataset_list(request: HttpRequest) -> HttpResponse:
    return render(request, "annotations/dataset_list.html", {"datasets": selectors.dataset_list()})


@role_required()
def sample_list(request: HttpRequest, dataset_id: int) -> HttpResponse:
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    filterset = SampleFilter(request.GET, queryset=selectors.sample_queryset().filter(dataset=dataset))
    filterset.form.fields.pop("dataset", None)
    labels = selectors.dataset_labels(dataset)
    # On the page, a dropdown of this dataset's labels (with counts) beats typing a label from memory.
    filterset.form.fields["label"] = forms.ChoiceField(
        required=False, label="Label", choices=[("", "any")] + [(name, f"{name} ({n})") for name, n in labels])
    page = Paginator(filterset.qs, 48).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [s.pk for s in page.object_list], dataset)
    return render(request, "annotations/sample_list.html", {
        "dataset": dataset, "filter": filterset, "page": page, "query": query.urlencode(),
        "labels": labels,
    })


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
