"""Training pages (admins): run list, launch, run page with charts and log, cancel, compare."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.utils import timezone
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from training import plots, selectors, services
from training.engines import default_hyperparameters
from training.forms import LaunchForm
from training.metrics import CHARTED
from training.models import TrainingRun
from training.runner import log_path, log_tail
from webapp import audit
from webapp.roles import ADMIN, role_required


def _svg(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-cache"
    return response


@role_required(ADMIN)
def run_list(request: HttpRequest) -> HttpResponse:
    return render(request, "training/run_list.html", {"runs": selectors.run_list()[:200],
                                                      "snapshots": selectors.snapshot_list()[:50]})


@role_required(ADMIN)
def launch(request: HttpRequest) -> HttpResponse:
    form = LaunchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        started = timezone.now()  # a snapshot created after this is this launch's (create_snapshot reuses one)
        try:
            with transaction.atomic():
                snapshot = services.create_snapshot(data["dataset"], data["split"], data["stage"], k=data["k"],
                                                    user=request.user, build=False,
                                                    include_overrides=data["train_on_overrides"])
                run = services.launch_run(
                    name=data["name"], stage=data["stage"], snapshot=snapshot, engine=data["engine"],
                    base_model_path=data["base_model_path"].strip(), init_checkpoint=data["init_checkpoint"],
                    lineage=data["lineage"], dve=data["dve"], dve_k=data["dve_k"], k=data["k"],
                    hyperparameters=data["hyperparameters"], reward_settings=data["reward_settings"],
                    verl_options=data["verl_options"], train_on_overrides=data["train_on_overrides"],
                    user=request.user)
        except services.TrainingError as exc:
            form.add_error(None, str(exc))
        else:
            audit.record_launch(request, run, snapshot, snapshot_created=snapshot.created_at >= started)
            messages.success(request, f"Run {run.name} queued on the GPU worker.")
            return redirect("training-run", run_id=run.pk)
    return render(request, "training/launch.html", {
        "form": form, "defaults": {stage: default_hyperparameters(stage) for stage in ("I", "II")}}, status=400 if form.errors else 200)


@role_required(ADMIN)
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("snapshot__dataset", "init_checkpoint__run"), pk=run_id)
    return render(request, "training/run_detail.html", {
        "run": run, "latest": selectors.latest_metrics(run), "charted": CHARTED,
        "points": selectors.metric_points(run)[-20:], "checkpoints": run.checkpoints.all(),
        "lineage": selectors.lineage(run), "log": log_tail(run), "has_log": log_path(run).exists(),
    })


@role_required(ADMIN)
def run_chart(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=run_id)
    return _svg(plots.run_chart(selectors.metric_points(run), title=run.name))


@role_required(ADMIN)
def run_log(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=run_id)
    path = log_path(run)
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


@require_POST
@role_required(ADMIN)
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = services.request_cancel(get_object_or_404(TrainingRun, pk=run_id))
    if run.state == TrainingRun.State.CANCELLED:
        messages.info(request, "Run cancelled before it started.")
    elif run.cancel_requested and run.state == TrainingRun.State.RUNNING:
        messages.info(request, "Stopping the training process…")
    else:
        messages.warning(request, f"The run is already {run.state}.")
    return redirect("training-run", run_id=run.pk)


def _compared(request: HttpRequest) -> list[TrainingRun]:
    ids = [int(i) for i in request.GET.getlist("runs") if i.isdigit()]
    return list(TrainingRun.objects.filter(pk__in=ids).order_by("pk"))


@role_required(ADMIN)
def compare(request: HttpRequest) -> HttpResponse:
    runs = _compared(request)
    keys = sorted({key for run in runs for key in run.hyperparameters if key != "verl"})
    rows = [{"run": run, "latest": selectors.latest_metrics(run),
             "hp": [run.hyperparameters.get(key, "") for key in keys]} for run in runs]
    return render(request, "training/compare.html", {
        "all_runs": selectors.run_list()[:200], "rows": rows, "keys": keys, "charted": CHARTED,
        "selected": [run.pk for run in runs], "query": request.GET.urlencode()})


@role_required(ADMIN)
def compare_chart(request: HttpRequest) -> HttpResponse:
    metric = request.GET.get("metric", "reward_mean")
    metric = metric if metric in CHARTED else "reward_mean"
    series = [(f"#{run.pk} {run.name}", selectors.metric_points(run)) for run in _compared(request)]
    return _svg(plots.compare_chart(series, metric))
