"""Report pages: leaderboard (Table 2), ablation (Table 3), run reports with plots, the per-sample
browser with overrules, exports (CSV/JSON), run comparison and reward validation. Thin: reads go
through selectors, writes through services."""

from __future__ import annotations


from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from evaluation import metrics as metrics_core
from evaluation import plots, reward_validation_services, selectors, services
from evaluation.baselines import BASELINES
from evaluation.forms import AttentionForm, OverruleForm, RewardValidationForm, RunForm, SampleFilterForm
from evaluation.models import EvalItem, EvalRun, RewardValidation, RewardValidationJob
from webapp import audit
from webapp.csv_export import SafeWriter
from webapp.models import AccessEvent
from webapp.params import int_or_none
from webapp.roles import ADMIN, DERMATOLOGIST, has_role, role_required

K_DEFAULT = 6


def _svg(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-cache"
    return response


@role_required()
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "evaluation/index.html", {
        "board": selectors.leaderboard_table(K_DEFAULT),
        "runs": EvalRun.objects.select_related("dataset")[:100],
    })


@role_required()
def ablation(request: HttpRequest) -> HttpResponse:
    return render(request, "evaluation/ablation.html", {"table": selectors.ablation(K_DEFAULT)})


@role_required()
def leaderboard_csv(request: HttpRequest) -> HttpResponse:
    board = selectors.leaderboard(K_DEFAULT)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="leaderboard.csv"'
    audit.record(request, AccessEvent.Action.EVAL_EXPORT, export="leaderboard.csv")
    writer = SafeWriter(response)
    writer.writerow(["model", "test_set", "run_id", "n"] + [f"top{j}" for j in range(1, board["k"] + 1)]
                    + ["below_baseline", "safety_critical_rate", "training_samples_evaluated"])
    for row in board["rows"]:
        for ts, cell in zip(board["test_sets"], row["cells"]):
            if cell["run"] is not None:
                rate = cell["run"].metrics.get("safety_critical_rate")
                writer.writerow([row["model"], ts, cell["run"].id, cell["run"].metrics.get("n")]
                                + [f"{100 * v:.2f}" if v is not None else "" for v in cell["top_k"]]
                                + [cell["below_text"], f"{100 * rate:.2f}" if rate is not None else "",
                                   cell["overlap"]])
    # The image-blind baselines of each test set (from the run named in run_id).
    for row in board["baseline_rows"]:
        for ts, cell in zip(board["test_sets"], row["cells"]):
            if cell["run"] is not None:
                writer.writerow([f"baseline: {BASELINES[row['key']].lower()}", ts, cell["run"].id,
                                 cell["run"].metrics.get("n")]
                                + [f"{100 * v:.2f}" if v is not None else "" for v in cell["top_k"]] + ["", "", ""])
    return response



@role_required(ADMIN)
def run_new(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.create_run(**form.run_kwargs(), user=request.user)
        except services.OverlapNotConfirmed as exc:
            # Nothing started: the warning sits at the top and beside the box that confirms it.
            form.add_error(None, str(exc))
            form.add_error("confirm_overlap", f"Tick this to evaluate the {exc.overlap.count} training sample(s) anyway.")
        except services.EvalError as exc:
            form.add_error(None, str(exc))
        else:
            audit.record(request, AccessEvent.Action.EVAL_RUN_CREATE, run, samples=run.items.count())
            messages.success(request, f"Run {run.name} started with {run.items.count()} samples.")
            return redirect("eval-run", run.id)
    return render(request, "evaluation/run_new.html", {"form": form})


@role_required()
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(EvalRun.objects.select_related("dataset"), pk=run_id)
    m = run.metrics or {}
    ranks = []
    for rank, counts in enumerate(m.get("category_counts") or [], start=1):
        ranks.append({"rank": rank, "counts": [counts.get(key, 0) for key in metrics_core.COUNT_KEYS]})
    top = []
    for j, value in enumerate(m.get("top_k") or []):
        ci = (m.get("top_k_ci95") or [None] * (j + 1))[j]
        top.append({"k": j + 1, "mean": value, "std": m["top_k_std"][j], "ci": ci})
    others = EvalRun.objects.filter(status=EvalRun.Status.DONE).exclude(id=run.id).filter(test_set=run.test_set)
    progress = selectors.progress(run, is_admin=has_role(request.user, ADMIN))
    return render(request, "evaluation/run_detail.html", {
        "run": run, "m": m, "top": top, "ranks": ranks, "count_keys": metrics_core.COUNT_KEYS,
        "progress": progress, "progress_json": progress, "others": others,
        "baselines": selectors.baseline_report(run), "verdict_counts": selectors.verdict_counts(run) if m else {},
        "finished_statuses": ",".join(s for s in EvalRun.Status.values if s not in EvalRun.ACTIVE_STATUSES),
    })


@role_required()
def run_progress(request: HttpRequest, run_id: int) -> JsonResponse:
    return JsonResponse(selectors.progress(get_object_or_404(EvalRun, pk=run_id),
                                           is_admin=has_role(request.user, ADMIN)))


@role_required(ADMIN)
@require_POST
def run_resume(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(EvalRun, pk=run_id)
    refusal = services.resume_refusal(run)
    if refusal:
        messages.info(request, refusal)
    else:
        with transaction.atomic():
            services.start_run(run)
        messages.success(request, "Resumed: only what is not stored yet is asked again.")
    return redirect("eval-run", run.id)


@role_required()
def run_metrics_json(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(EvalRun, pk=run_id)
    response = JsonResponse({"run": run.id, "name": run.name, "model": run.model_name, "test_set": run.test_set,
                             "metrics": run.metrics}, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="run-{run.id}-metrics.json"'
    audit.record(request, AccessEvent.Action.EVAL_EXPORT, run, export="metrics.json")
    return response


@role_required()
def run_items_csv(request: HttpRequest, run_id: int) -> HttpResponse:
    """One row per prediction: the judge's category per repeat, the overrule that counts (its author
    and time), every dermatologist's standing verdict, and the category that counts."""
    run = get_object_or_404(EvalRun, pk=run_id)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="run-{run.id}-predictions.csv"'
    audit.record(request, AccessEvent.Action.EVAL_EXPORT, run, export="predictions.csv")
    writer = SafeWriter(response)
    writer.writerow(["id", "reference", "skin_type", "rank", "prediction"]
                    + [f"judge_repeat_{r}" for r in range(run.judge_repeats)]
                    + ["overrule", "overrule_by", "overrule_at", "dermatologist_verdicts", "category"])
    items = run.items.select_related("run").prefetch_related("judgements", "overrules__user").order_by("position", "id")
    for item in items:
        for row in selectors.item_detail(item):
            over = row["overrule"]
            verdicts = [v["category"] for v in row["verdicts"]]
            writer.writerow([item.external_id, item.reference, item.skin_type or "", row["rank"], row["name"]]
                            + verdicts + [""] * (run.judge_repeats - len(verdicts))
                            + [over.category if over else "", _username(over), over.created_at.isoformat() if over else "",
                               "; ".join(f"{_username(o)}={o.category}" for o in row["standing"]),
                               row["category"] or ""])
    return response


def _username(overrule) -> str:
    return overrule.user.get_username() if overrule is not None and overrule.user is not None else ""


@role_required()
def run_overrules_json(request: HttpRequest, run_id: int) -> HttpResponse:
    """The append-only log of dermatologists' verdicts and withdrawals on a run."""
    run = get_object_or_404(EvalRun, pk=run_id)
    response = JsonResponse({"run": run.id, "overrules": selectors.overrule_log(run)}, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="run-{run.id}-overrules.json"'
    audit.record(request, AccessEvent.Action.EVAL_EXPORT, run, export="overrules.json")
    return response


@role_required()
def run_plot(request: HttpRequest, run_id: int, kind: str) -> HttpResponse:
    run = get_object_or_404(EvalRun, pk=run_id)
    m = run.metrics or {}
    if kind == "topk":
        series = [(run.model_name, m.get("top_k") or [])]
        for other_id in request.GET.getlist("with"):
            other = EvalRun.objects.filter(pk=int_or_none(other_id)).first()
            if other and other.metrics:
                series.append((other.model_name, other.metrics.get("top_k") or []))
        stored = m.get("baselines") if isinstance(m.get("baselines"), dict) else {}
        blind = [(f"{title.lower()} (image-blind)", (stored.get(key) or {}).get("top_k") or [])
                 for key, title in BASELINES.items() if (stored.get(key) or {}).get("top_k")]
        return _svg(plots.topk_curves(series, baselines=blind))
    if kind == "categories":
        return _svg(plots.category_bars(m.get("category_shares") or []))
    if kind == "skintypes":
        groups = (m.get("skin_types") or {}).get("groups") or {}
        return _svg(plots.skin_type_bars(groups, [k for k in (1, 3, run.k) if k <= run.k]))
    return HttpResponse(status=404)


def _filtered(request: HttpRequest, run: EvalRun, **forced: Any) -> tuple[SampleFilterForm, Any, list[str]]:
    """The browser's filter form, the matching items and the problems to show (bad values named)."""
    form = SampleFilterForm(request.GET, verdicts=selectors.verdict_choices(), labels=selectors.run_labels(run))
    form.is_valid()  # the errors are shown; the valid filters still apply
    items = selectors.browse_items(run, **{**form.filters(), **forced})
    return form, items, form.problems()


def _page(request: HttpRequest, items: Any, per_page: int, problems: list[str]) -> Any:
    paginator = Paginator(items, per_page)
    raw = request.GET.get("page", "")
    number = int_or_none(raw)
    if raw and (number is None or number < 1):
        problems.append(f"“{raw}” is not a page number; use 1, 2, … (showing page 1).")
    number = number if number is not None and number >= 1 else 1
    if number > paginator.num_pages:
        problems.append(f"There is no page {number}: the list has {paginator.num_pages} page(s); showing the last.")
    return paginator.get_page(number)


@role_required()
def sample_browser(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(EvalRun, pk=run_id)
    form, items, problems = _filtered(request, run)
    page = _page(request, items, 48, problems)
    audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [i.sample_id for i in page.object_list], run)
    return render(request, "evaluation/sample_browser.html", {
        "run": run, "page": page, "form": form, "problems": problems, "filters": form.filters(),
        "counts": selectors.verdict_counts(run), "legend": selectors.verdict_choices()[:-1],
    }, status=400 if problems else 200)


@role_required()
def safety_gallery(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(EvalRun, pk=run_id)
    form, items, problems = _filtered(request, run, safety=True)
    page = _page(request, items, 48, problems)
    audit.record_samples(request, AccessEvent.Action.SAMPLE_LIST, [i.sample_id for i in page.object_list], run)
    return render(request, "evaluation/safety_gallery.html", {
        "run": run, "page": page, "cards": selectors.safety_cards(run, page.object_list), "problems": problems,
        "form": form,
    }, status=400 if problems else 200)


@role_required()
def confusions(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(EvalRun, pk=run_id)
    credited = request.GET.get("credited", "")
    problems = []
    if credited not in ("", "0", "1"):
        problems.append(f"“{credited}” is not a valid value for “credited”; use 1 (include subclass and parent "
                        "credit) or leave it empty.")
    rows = selectors.confusions(run, include_credited=credited == "1")
    page = _page(request, rows, 50, problems)
    return render(request, "evaluation/confusions.html", {
        "run": run, "page": page, "credited": credited == "1", "problems": problems, "total": len(rows),
        "judged": run.items.exclude(top1_category="").count(),
    }, status=400 if problems else 200)


def _can_overrule(request: HttpRequest) -> bool:
    from webapp.roles import has_role

    return has_role(request.user, DERMATOLOGIST, ADMIN)


@role_required()
def item_detail(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(EvalItem.objects.select_related("run", "sample"), pk=item_id)
    rows = selectors.item_detail(item, request.user)
    neighbours = item.run.items.order_by("position", "id")
    next_item = neighbours.filter(position__gt=item.position).first()
    prev_item = neighbours.filter(position__lt=item.position).order_by("-position").first()
    audit.record(request, AccessEvent.Action.SAMPLE_VIEW, item, sample_id=item.sample_id)
    return render(request, "evaluation/item_detail.html", {
        "item": item, "run": item.run, "rows": rows, "form": OverruleForm(), "can_overrule": _can_overrule(request),
        "categories": [c for c, _ in OverruleForm.base_fields["category"].choices if c],
        "next_item": next_item, "prev_item": prev_item,
    })


@role_required(DERMATOLOGIST, ADMIN)
@require_POST
def item_overrule(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(EvalItem.objects.select_related("run"), pk=item_id)
    form = OverruleForm(request.POST)
    if form.is_valid():
        try:
            if request.POST.get("withdraw") or request.POST.get("remove"):
                services.withdraw_overrule(item, form.cleaned_data["rank"], request.user, form.cleaned_data["note"])
                audit.record(request, AccessEvent.Action.OVERRULE_WITHDRAW, item, sample_id=item.sample_id,
                             rank=form.cleaned_data["rank"])
                messages.success(request, f"Withdrew your verdict for rank {form.cleaned_data['rank']}.")
            else:
                services.overrule(item, form.cleaned_data["rank"], form.cleaned_data["category"], request.user,
                                  form.cleaned_data["note"])
                audit.record(request, AccessEvent.Action.OVERRULE, item, sample_id=item.sample_id,
                             rank=form.cleaned_data["rank"], category=form.cleaned_data["category"])
                messages.success(request, f"Verdict for rank {form.cleaned_data['rank']} saved; metrics recomputed.")
        except services.EvalError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "The verdict was not saved: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("eval-item", item.id)


@role_required()
def compare(request: HttpRequest) -> HttpResponse:
    runs = EvalRun.objects.filter(status=EvalRun.Status.DONE)
    a = runs.filter(pk=int_or_none(request.GET.get("a"))).first()
    b = runs.filter(pk=int_or_none(request.GET.get("b"))).first()
    result = None
    if a and b:
        k = min(a.k, b.k)
        result = metrics_core.compare_runs(selectors.sample_results(a), selectors.sample_results(b), k=k)
    return render(request, "evaluation/compare.html", {"runs": runs, "a": a, "b": b, "result": result})


@role_required()
def reward_validation(request: HttpRequest) -> HttpResponse:
    study = request.GET.get("study", "default")
    rows = selectors.reward_validation(study)
    x = [r.caption_reward for r in rows]
    y = [r.diagnostic_accuracy for r in rows]
    context = {"rows": rows, "study": study, "pearson": metrics_core.pearson(x, y) if len(rows) > 1 else None,
               "spearman": metrics_core.spearman(x, y) if len(rows) > 1 else None}
    if request.GET.get("format") == "svg":
        return _svg(plots.reward_scatter([(r.model_name, r.caption_reward, r.diagnostic_accuracy) for r in rows],
                                         context["pearson"], context["spearman"]))
    if request.GET.get("format") == "json":
        return JsonResponse({"study": study, "pearson": context["pearson"], "spearman": context["spearman"],
                             "models": [{"model": r.model_name, "caption_reward": r.caption_reward,
                                         "diagnostic_accuracy": r.diagnostic_accuracy, "n": r.n} for r in rows]})
    return _reward_page(request, context, RewardValidationForm(initial={"study": study}))


def _reward_page(request: HttpRequest, context: dict, form: RewardValidationForm, status: int = 200) -> HttpResponse:
    is_admin = has_role(request.user, ADMIN)
    jobs = [{"job": job, "progress": selectors.reward_job_progress(job, is_admin=is_admin)}
            for job in RewardValidationJob.objects.all()[:10]]
    studies = sorted(set(RewardValidation.objects.values_list("study", flat=True)) | {context["study"]})
    return render(request, "evaluation/reward_validation.html", {**context, "form": form, "jobs": jobs,
                                                                  "studies": studies}, status=status)


@role_required(ADMIN)
@require_POST
def reward_validation_start(request: HttpRequest) -> HttpResponse:
    form = RewardValidationForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                if data["summary"]:
                    stored = reward_validation_services.store_summary(data["study"], data["lines"])
                    messages.success(request, f"Stored {len(stored)} model(s) in study “{data['study']}”.")
                else:
                    job = reward_validation_services.start_job(study=data["study"], k=data["k"], lines=data["lines"],
                                                               filename=data["file"].name, user=request.user)
                    messages.success(request, f"Reward validation {job.id} started: {job.total} caption(s); "
                                     "progress below.")
        except services.EvalError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect(f"{reverse('eval-reward-validation')}?study={quote(data['study'])}")
    study = form.data.get("study") or "default"
    rows = selectors.reward_validation(study)
    return _reward_page(request, {"rows": rows, "study": study, "pearson": None, "spearman": None}, form, status=400)


@role_required()
def reward_validation_job(request: HttpRequest, job_id: int) -> JsonResponse:
    job = get_object_or_404(RewardValidationJob, pk=job_id)
    return JsonResponse(selectors.reward_job_progress(job, is_admin=has_role(request.user, ADMIN)))


# --------------------------------------------------------------------------------------------------
# Attention attribution (section 4.4)


def _analyses(request: HttpRequest):
    from evaluation.models import AttentionAnalysis

    done = AttentionAnalysis.objects.filter(status=AttentionAnalysis.Status.DONE)
    chosen = [done.filter(pk=int_or_none(request.GET.get(key))).first() for key in ("a", "b")]
    return done, [a for a in chosen if a is not None]


@role_required()
def attention(request: HttpRequest) -> HttpResponse:
    return _attention_page(request, AttentionForm(initial={"split": "test"}))


@role_required(ADMIN)
@require_POST
def attention_start(request: HttpRequest) -> HttpResponse:
    from evaluation import attention_services

    form = AttentionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                analysis = attention_services.create_analysis(
                    name=data["name"], checkpoint=data["checkpoint"], dataset=data["dataset"], split=data["split"],
                    sample_size=data["sample_size"], seed=data["seed"], layers=data["layers"],
                    max_new_tokens=data["max_new_tokens"], user=request.user)
        except services.EvalError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Attention analysis “{analysis.name}” queued on the gpu queue; progress below.")
            return redirect("eval-attention")
    return _attention_page(request, form, status=400)


@role_required()
def attention_progress(request: HttpRequest, analysis_id: int) -> JsonResponse:
    from evaluation.models import AttentionAnalysis

    analysis = get_object_or_404(AttentionAnalysis, pk=analysis_id)
    return JsonResponse(selectors.attention_progress(analysis, is_admin=has_role(request.user, ADMIN)))


def _attention_page(request: HttpRequest, form: AttentionForm, status: int = 200) -> HttpResponse:
    from evaluation.attention import HIST_LABELS
    from evaluation.models import AttentionAnalysis

    done, chosen = _analyses(request)
    rows = []
    if chosen:
        by_sample = [{m["sample_id"]: m for m in a.maps} for a in chosen]
        common = [sid for sid in by_sample[0] if all(sid in b for b in by_sample)]
        rows = [{"sample_id": sid, "maps": [dict(b[sid], analysis_id=a.id) for a, b in zip(chosen, by_sample)]}
                for sid in common[:24]]
    hist = [{"label": label, "shares": [a.histogram["shares"][i] for a in chosen]} for i, label in enumerate(HIST_LABELS)]
    is_admin = has_role(request.user, ADMIN)
    others = [{"analysis": a, "progress": selectors.attention_progress(a, is_admin=is_admin)}
              for a in AttentionAnalysis.objects.exclude(status=AttentionAnalysis.Status.DONE)[:20]]
    problems = [f"There is no finished analysis {request.GET.get(key)!r} (model {key.upper()}); pick one from the list."
                for key in ("a", "b") if request.GET.get(key) and not done.filter(
                    pk=int_or_none(request.GET.get(key))).exists()]
    return render(request, "evaluation/attention.html", {
        "analyses": done, "others": others, "form": form, "problems": problems,
        "chosen": chosen, "rows": rows, "hist": hist if chosen else [], "query": request.GET.urlencode(),
        "selects": [("a", request.GET.get("a", "")), ("b", request.GET.get("b", ""))],
    }, status=status if status != 200 else (400 if problems else 200))


@role_required()
def attention_plot(request: HttpRequest) -> HttpResponse:
    from evaluation.attention import HIST_LABELS

    _, chosen = _analyses(request)
    return _svg(plots.attention_histograms([(a.name, a.histogram["shares"]) for a in chosen], HIST_LABELS))


@role_required()
def attention_map(request: HttpRequest, analysis_id: int, sample_id: int) -> HttpResponse:
    from annotations.files import protected_file
    from evaluation.models import AttentionAnalysis

    analysis = get_object_or_404(AttentionAnalysis, pk=analysis_id)
    entry = next((m for m in analysis.maps if m["sample_id"] == sample_id), None)
    if entry is None:
        return HttpResponse(status=404)
    response = protected_file(entry["file"], "image/png")
    audit.record(request, AccessEvent.Action.IMAGE_VIEW, analysis, sample_id=sample_id, image="attention-map")
    return response
