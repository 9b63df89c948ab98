"""Training pages (admins): run list, launch, run page with charts and log, cancel, compare."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.utils import timezone
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from training import plots, selectors, services
from training.engines import default_hyperparameters
from training.forms import EvaluateCheckpointForm, LaunchForm
from training.metrics import CHARTED
from training.models import Checkpoint, TrainingRun
from training.runner import log_path
from training.zipstream import folder_files, zip_folder
from webapp import audit
from webapp.models import AccessEvent
from webapp.params import is_whole_number
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
                    tiny_model=form.tiny_model, user=request.user)
        except services.TrainingError as exc:
            form.add_error(None, str(exc))
        else:
            audit.record_launch(request, run, snapshot, snapshot_created=snapshot.created_at >= started)
            messages.success(request, f"Run {run.name} queued for the training worker (Celery's gpu queue); "
                                      "the page follows it live.")
            return redirect("training-run", run_id=run.pk)
    return render(request, "training/launch.html", {
        "form": form, "defaults": {stage: default_hyperparameters(stage) for stage in ("I", "II")},
        "smoke": services.SMOKE_HYPERPARAMETERS}, status=400 if form.errors else 200)


@role_required(ADMIN)
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("snapshot__dataset", "init_checkpoint__run"), pk=run_id)
    progress = selectors.progress(run)
    return render(request, "training/run_detail.html", {
        "run": run, "progress": progress, "latest": progress["latest"], "charted": CHARTED,
        "points": [(p["step"], p) for p in progress["points"]], "checkpoints": run.checkpoints.all(),
        "lineage": selectors.lineage(run), "log": progress["log"], "has_log": log_path(run).exists(),
        "rollouts": progress["rollouts"],
    })


@role_required(ADMIN)
def checkpoint_detail(request: HttpRequest, checkpoint_id: int) -> HttpResponse:
    checkpoint = selectors.checkpoint_detail(checkpoint_id)
    if checkpoint is None:
        raise Http404("no such checkpoint")
    form = EvaluateCheckpointForm(checkpoint, request.POST or None)
    return _checkpoint_page(request, checkpoint, form)


def _checkpoint_page(request: HttpRequest, checkpoint: Checkpoint, form: EvaluateCheckpointForm,
                     status: int = 200) -> HttpResponse:
    try:
        folder = services.checkpoint_folder(checkpoint)
        files, problem = folder_files(folder), ""
    except services.TrainingError as exc:
        files, problem = [], str(exc)
    return render(request, "training/checkpoint.html", {
        "checkpoint": checkpoint, "run": checkpoint.run, "lineage": selectors.lineage(checkpoint.run),
        "files": [(name, size) for name, _, size in files], "total_size": sum(size for _, _, size in files),
        "problem": problem, "form": form, "evaluations": selectors.evaluations_of(checkpoint)}, status=status)


@role_required(ADMIN)
def checkpoint_download(request: HttpRequest, checkpoint_id: int) -> HttpResponse:
    checkpoint = get_object_or_404(Checkpoint.objects.select_related("run"), pk=checkpoint_id)
    try:
        folder = services.checkpoint_folder(checkpoint)
    except services.TrainingError as exc:
        return HttpResponse(f"{exc}\n", status=404, content_type="text/plain; charset=utf-8")
    name = f"{slugify(checkpoint.run.name) or 'run'}-{checkpoint.run_id}-step-{checkpoint.step}"
    audit.record(request, AccessEvent.Action.CHECKPOINT_DOWNLOAD, checkpoint, run=checkpoint.run_id,
                 step=checkpoint.step, path=checkpoint.path)
    response = StreamingHttpResponse(zip_folder(folder, prefix=name), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@role_required(ADMIN)
def checkpoint_evaluate(request: HttpRequest, checkpoint_id: int) -> HttpResponse:
    checkpoint = selectors.checkpoint_detail(checkpoint_id)
    if checkpoint is None:
        raise Http404("no such checkpoint")
    form = EvaluateCheckpointForm(checkpoint, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            run = services.evaluate_checkpoint(checkpoint, dataset=data["dataset"], split=data["split"],
                                               sample_size=data["sample_size"], k=data["k"],
                                               judge_repeats=data["judge_repeats"],
                                               confirm_overlap=data["confirm_overlap"], user=request.user)
        except services.TrainingError as exc:
            form.add_error(None, str(exc))
        else:
            audit.record(request, AccessEvent.Action.EVAL_RUN_CREATE, run, samples=run.items.count(),
                         checkpoint=checkpoint.pk)
            messages.success(request, f"Evaluation {run.name} started on {run.items.count()} samples.")
            return redirect("eval-run", run.id)
    return _checkpoint_page(request, checkpoint, form, status=400)


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
    ids = [int(i) for i in request.GET.getlist("runs") if is_whole_number(i)]
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
