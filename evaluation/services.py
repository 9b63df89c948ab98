"""Writes of the evaluation app: creating runs, inference, judging, imports, overrules, metrics.

Resumability: every model answer is stored on its ``EvalItem`` the moment it arrives, and every
judged (item, repeat) becomes a ``Judgement`` row the moment it is judged. A task that starts again
(Celery redelivers it after a worker dies: acks_late) asks only for what is not stored yet, so no
answered model or judge call is paid twice. The LLM response cache is a second line of defence,
not the mechanism.
"""

from __future__ import annotations

import logging
import random
import threading
from contextlib import contextmanager
from datetime import timedelta
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from annotations.imaging import model_ready_image
from annotations.models import Dataset, Sample
from annotations.selectors import eligible_samples, identifying_refusal
from evaluation import baselines as baselines_core
from evaluation import metrics as metrics_core
from evaluation.diagnosis import diagnosis_prompt, parse_diagnosis
from evaluation.judge import CATEGORIES, ClinicalJudge
from evaluation.judging import JudgeJob, judge_jobs, judge_offline_list, verdict_dict
from evaluation.models import EvalItem, EvalRun, Judgement, Overrule, RewardValidation
from webapp import reaper
from webapp.gateway import CallRecorder

logger = logging.getLogger(__name__)

DIAGNOSER_ROLE = "diagnoser"


class EvalError(ValueError):
    """A request the evaluation app cannot carry out; the message says what to change."""


class OverlapNotConfirmed(EvalError):
    """The test set holds training data and the caller did not confirm evaluating it anyway."""

    def __init__(self, overlap: Any) -> None:
        self.overlap = overlap
        super().__init__(f"{overlap.note()} Choose the test split, or confirm that you want to evaluate "
                         "training data anyway (the report will carry this warning).")


# --------------------------------------------------------------------------------------------------
# Test sets and runs


def select_test_samples(
    dataset: Dataset, *, split: str = "", sample_size: int | None = None, seed: int = 0, need_image: bool = True
) -> list[Sample]:
    """The test set: a split (or all), by the review rules (no rejected or qc-excluded rows: see
    :func:`annotations.selectors.eligible_samples`), optionally a seeded random sample.

    The sample is drawn from the ids in ascending order with ``random.Random(seed)``, so the same
    dataset, split, size and seed always give the same samples (and two runs can be compared
    sample by sample).
    """
    samples = list(eligible_samples("evaluation", dataset=dataset, split=split, need_image=need_image))
    if sample_size is not None and sample_size < len(samples):
        chosen = sorted(random.Random(seed).sample(range(len(samples)), sample_size))
        samples = [samples[i] for i in chosen]
    return samples


def create_run(
    *,
    name: str,
    model_name: str,
    dataset: Dataset,
    test_set: str = "",
    kind: str = EvalRun.Kind.ENDPOINT,
    base_url: str = "",
    endpoint_model: str = "",
    api_key_env: str = "",
    checkpoint: str = "",
    split: str = "test",
    sample_size: int | None = None,
    seed: int = 0,
    k: int = 6,
    prompt: str = "",
    judge_repeats: int = 3,
    max_concurrency: int = 8,
    uses_dve: bool | None = None,
    uses_stage1: bool | None = None,
    price_prompt_per_mtok: float = 0.0,
    price_completion_per_mtok: float = 0.0,
    fresh_answers: bool = False,
    user: Any = None,
    start: bool = True,
    confirm_overlap: bool = False,
    training_sample_ids: Iterable[int] | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> EvalRun:
    """Create a run with one item per test sample, and (with ``start``) enqueue it after commit.

    A test set that holds training data (:mod:`evaluation.overlap`: the train split, or the
    ``training_sample_ids`` of the snapshots that trained the evaluated checkpoint, which the training
    app passes in) is refused with :class:`OverlapNotConfirmed` unless ``confirm_overlap``; a confirmed
    overlap is stored on the run (``overlap``) and shown on its report. ``lineage`` (a JSON object the
    training app builds for a local checkpoint) is stored as given and shown on the report.
    """
    if k < 1:
        raise EvalError("K must be at least 1")
    if judge_repeats < 1:
        raise EvalError("the number of judge repeats must be at least 1")
    if kind == EvalRun.Kind.ENDPOINT and not (base_url and endpoint_model):
        raise EvalError("an endpoint run needs a base URL and a model id")
    if kind == EvalRun.Kind.LOCAL and not checkpoint:
        raise EvalError("a local run needs a checkpoint folder")
    samples = select_test_samples(dataset, split=split, sample_size=sample_size, seed=seed,
                                  need_image=kind != EvalRun.Kind.IMPORTED)
    if not samples:
        raise EvalError(f"the test set is empty: {dataset.name} has no images in split {split or 'any'!r} "
                        "that are not excluded from evaluation")
    from evaluation.overlap import find_overlap

    overlap = find_overlap(samples, training_sample_ids)
    if overlap.any and not confirm_overlap:
        raise OverlapNotConfirmed(overlap)
    with transaction.atomic():
        run = EvalRun.objects.create(
            overlap=overlap.as_dict(confirmed=confirm_overlap), lineage=dict(lineage or {}),
            name=name, model_name=model_name, kind=kind, base_url=base_url, endpoint_model=endpoint_model,
            api_key_env=api_key_env, checkpoint=checkpoint, max_concurrency=max_concurrency, dataset=dataset,
            test_set=test_set or dataset.name, split=split, sample_size=sample_size, seed=seed, k=k,
            prompt=prompt or diagnosis_prompt(k), judge_repeats=judge_repeats, uses_dve=uses_dve,
            uses_stage1=uses_stage1, price_prompt_per_mtok=price_prompt_per_mtok,
            price_completion_per_mtok=price_completion_per_mtok, fresh_answers=fresh_answers, created_by=user,
        )
        EvalItem.objects.bulk_create(
            EvalItem(run=run, sample=s, position=i, external_id=s.external_id, reference=s.label,
                     skin_type=s.fitzpatrick)
            for i, s in enumerate(samples)
        )
        if start:
            start_run(run)
    return run


STALE_AFTER = timedelta(minutes=15)
STALL_S_DEFAULT = 120.0
QUEUE_UNREACHABLE = ("Queued; will start when the task queue is reachable (the broker refused the task; it is "
                     "handed over again automatically).")


def resume_refusal(run: EvalRun) -> str:
    """Why ``run`` cannot be resumed now ("" when it can). A run whose worker is still busy is not
    resumed: a second task beside it would pay for the calls in flight twice."""
    from evaluation.selectors import last_activity

    if run.status == EvalRun.Status.DONE:
        return "This run is finished."
    # A pending run that was never queued (driven from the command line) or whose enqueue failed
    # has no task that a resume could double.
    queued = run.enqueued_at is not None or run.started_at is not None
    if run.status in EvalRun.ACTIVE_STATUSES and queued and run.error != QUEUE_UNREACHABLE:
        last = last_activity(run)
        if last is not None and timezone.now() - last < STALE_AFTER:
            return ("This run is still queued or working (progress within the last 15 minutes); resume it only "
                    "if it fails or stops making progress.")
    return ""


def start_run(run: EvalRun, *, on_enqueued: Callable[[bool], None] | None = None) -> None:
    """Queue the next step of ``run`` once the current transaction commits (also "resume").

    The run goes back to ``pending`` (queued) unless it is done. A broker that refuses the task does
    not fail the caller's request: the run stays ``pending`` with :data:`QUEUE_UNREACHABLE` as its
    message and ``reap_stalled_runs`` hands it over again later. ``on_enqueued`` learns whether the
    broker took the task.
    """
    from evaluation import tasks

    EvalRun.objects.filter(id=run.id).exclude(status=EvalRun.Status.DONE).update(
        status=EvalRun.Status.PENDING, error="", enqueued_at=timezone.now())
    if run.kind == EvalRun.Kind.IMPORTED or not EvalItem.objects.filter(run=run, inferred=False).exists():
        task = tasks.judge_run
    elif run.kind == EvalRun.Kind.LOCAL:
        task = tasks.local_infer_run
    else:
        task = tasks.infer_run

    def enqueue() -> None:
        ok = enqueue_task(task, run.id)
        if not ok:
            EvalRun.objects.filter(id=run.id, status=EvalRun.Status.PENDING).update(error=QUEUE_UNREACHABLE)
        if on_enqueued is not None:
            on_enqueued(ok)

    transaction.on_commit(enqueue)


def enqueue_task(task: Any, run_id: int) -> bool:
    """``task.delay(run_id)``; False (logged) when the broker cannot be reached: the caller's page or the
    worker that finished a step must not fail because Redis is down."""
    try:
        task.delay(run_id)
    except Exception:  # noqa: BLE001 - kombu/redis raise many types; every one means "not queued"
        if task.app.conf.task_always_eager:  # tests run the task inside delay(): its errors are not the broker's
            raise
        logger.warning("evaluation run %s: could not enqueue %s; the reaper retries", run_id,
                       getattr(task, "name", task), exc_info=True)
        return False
    return True


def stall_deadline_s() -> float:
    return float(getattr(settings, "SKINFLOW_EVAL_STALL_S", STALL_S_DEFAULT))


def reap_stalled_runs() -> int:
    """Hand runs that stopped moving back to the task queue; returns how many the broker took.

    A run is stalled when it is ``pending``/``inferring``/``judging``, was handed to the queue, and
    nothing happened for ``SKINFLOW_EVAL_STALL_S`` seconds (no answer, judgement, start or enqueue):
    its task was lost (broker restarted, enqueue failed, worker died after acknowledging). Every
    worker runs this, so each run is claimed with a conditional UPDATE on ``enqueued_at``: of two
    reapers only one enqueues it, and the fresh ``enqueued_at`` keeps the next round off it. The task
    resumes (only what is not stored is asked), so a re-enqueue never pays an answered call twice.
    Runs driven from the command line (never enqueued) are left alone.
    """
    from evaluation.selectors import stalled_runs

    now = timezone.now()
    taken: list[bool] = []
    stalled = list(stalled_runs(now - timedelta(seconds=stall_deadline_s())).filter(_nobody_on_it()))
    # A run whose worker died is lost now, not after the stall deadline: its task went down with it.
    orphaned = list(EvalRun.objects.filter(status__in=EvalRun.ACTIVE_STATUSES, enqueued_at__isnull=False)
                    .exclude(worker="").filter(_nobody_on_it()).exclude(id__in=[r.id for r in stalled]))
    for run in stalled + orphaned:
        claimed = EvalRun.objects.filter(id=run.id, enqueued_at=run.enqueued_at,
                                         status__in=EvalRun.ACTIVE_STATUSES).update(enqueued_at=now, worker="")
        if claimed != 1:  # another worker's reaper took it, or it moved meanwhile
            continue
        logger.info("evaluation run %s %s; enqueuing it again", run.id,
                    f"stalled since {run.activity}" if hasattr(run, "activity") else f"lost its worker {run.worker}")
        start_run(run, on_enqueued=taken.append)  # not in a transaction: enqueues right away
    return sum(taken)


_here = reaper.LocalClaims()


def _nobody_on_it() -> Q:
    """Runs no live worker is working on: no worker, or a worker that stopped beating, or this very
    process when none of its threads runs the run any more (a task that died after claiming it). A slow
    model (minutes per answer) on a live worker is never given a second task beside it, which would pay
    for the calls in flight twice. Other workers are judged only once this process's own heartbeat has
    been fresh long enough to tell a dead worker from a database outage."""
    me = reaper.worker_name()
    busy_here = _here.held()
    free = Q(worker="") | (Q(worker=me) & ~Q(id__in=busy_here))
    if reaper.judging_ok():
        free |= ~Q(worker=me) & ~Q(worker__in=reaper.live_workers())
    return free


@contextmanager
def working_on(run_id: int) -> Iterator[bool]:
    """Claim ``run_id`` for this worker for the length of a task; yields False when another live worker
    (or another thread here) already works on it, and the task should then leave it alone."""
    if not _here.take(run_id):
        yield False
        return
    try:
        took = EvalRun.objects.filter(_nobody_on_it(), id=run_id).update(worker=reaper.worker_name())
        yield bool(took)
    finally:
        _here.release(run_id)
        EvalRun.objects.filter(id=run_id, worker=reaper.worker_name()).update(worker="")


# --------------------------------------------------------------------------------------------------
# Inference


class _TokenRecorder(CallRecorder):
    """A CallRecorder that also adds up the tokens of paid (non-cached) calls."""

    def __init__(self, purpose: str) -> None:
        super().__init__(purpose)
        self._sum_lock = threading.Lock()
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def __call__(self, record: Any) -> None:
        super().__call__(record)
        if record.ok and not record.cached:
            with self._sum_lock:
                self.prompt_tokens += record.prompt_tokens
                self.completion_tokens += record.completion_tokens

    def take_tokens(self) -> tuple[int, int]:
        with self._sum_lock:
            taken = (self.prompt_tokens, self.completion_tokens)
            self.prompt_tokens = self.completion_tokens = 0
        return taken


def _model_gateway(run: EvalRun, recorder: CallRecorder):
    from webapp.llm import EndpointConfig, LLMGateway, SQLiteCache

    config = EndpointConfig(role=DIAGNOSER_ROLE, base_url=run.base_url, model=run.endpoint_model,
                            api_key_env=run.api_key_env, max_concurrency=max(1, run.max_concurrency),
                            timeout_s=300.0)
    cache = SQLiteCache(settings.SKINFLOW_LLM_CACHE) if settings.SKINFLOW_LLM_CACHE else None
    return LLMGateway({DIAGNOSER_ROLE: config}, cache=cache, on_call=recorder)


def store_answer(item_id: int, run_k: int, text: str, prompt_tokens: int, completion_tokens: int,
                 *, forget: Callable[[], None] | None = None) -> bool:
    """Store the model's answer on its item; returns whether it parsed.

    A malformed answer is stored (it counts as invalid in this run) but ``forget`` drops it from the
    LLM response cache, so no later run is served the same bad answer: only good answers stay cached.
    """
    parsed = parse_diagnosis(text, run_k)
    if not parsed.ok and forget is not None:
        forget()
    # Conditional update: a second worker on the same run never overwrites a stored answer.
    EvalItem.objects.filter(id=item_id, inferred=False).update(
        inferred=True, raw_answer=text, parse_ok=parsed.ok, parse_error=parsed.error,
        predictions=parsed.diseases, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        inference_error="", answered_at=timezone.now(),
    )
    return parsed.ok


def progress_bar(total: int, initial: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="call")


def infer_pending(run_id: int, *, progress: bool = False) -> int:
    """Ask the model under test for every item without a stored answer; returns how many failed.

    Failures do not end the run here: the answers that arrived are judged next, and
    :func:`finish_run` decides the end state from what is stored.
    """
    from webapp.llm import LLMError, user_message

    run = EvalRun.objects.get(id=run_id)
    mark_working(run, EvalRun.Status.INFERRING)
    todo = list(EvalItem.objects.filter(run=run, inferred=False).select_related("sample"))
    total = EvalItem.objects.filter(run=run).count()
    bar = progress_bar(total, total - len(todo), f"run {run.id} inference", progress)
    recorder = _TokenRecorder(f"eval-run:{run.id}:model")
    gateway = _model_gateway(run, recorder)
    media = Path(settings.MEDIA_ROOT)
    failures = 0

    def ask(item: EvalItem):
        if item.sample is None or not item.sample.image:
            raise EvalError(f"item {item.external_id} has no image")
        # The items were loaded when the run started, and a run can last hours: re-read the mark just before
        # the photo would leave, so one a reviewer set meanwhile still stops it.
        if not item.sample.identifying_content and Sample.objects.filter(
                pk=item.sample_id, identifying_content=True).exists():
            item.sample.identifying_content = True
        # A photo marked as identifying after the run was created is not sent: the item fails with the reason
        # (a missing answer, so the run ends partially_failed and its metrics say how many samples they
        # cover), rather than being dropped, which would quietly shrink the test set the run was created with.
        refusal = identifying_refusal(item.sample, what=f"the image of item {item.external_id}")
        if refusal:
            raise EvalError(refusal)
        # The door before an LLM request: an image still carrying metadata is refused (NotScrubbed, a
        # ValueError: the item fails with "run manage.py scrub_media"), TIFF/BMP go as PNG.
        image = model_ready_image((media / item.sample.image).read_bytes(),
                                  what=f"the image of item {item.external_id}")
        message = user_message(run.prompt, [image])
        return gateway.chat(DIAGNOSER_ROLE, [message], temperature=0.0, cache_salt=run.cache_salt)

    try:
        with ThreadPoolExecutor(max_workers=max(1, run.max_concurrency), thread_name_prefix="infer") as pool:
            futures: dict[Future, EvalItem] = {pool.submit(ask, item): item for item in todo}
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    item = futures.pop(future)
                    error = future.exception()
                    if error is None:
                        result = future.result()
                        store_answer(item.id, run.k, result.text, result.prompt_tokens, result.completion_tokens,
                                     forget=lambda key=result.cache_key: gateway.forget(key))
                    else:
                        if not isinstance(error, (LLMError, EvalError, OSError, ValueError)):
                            raise error
                        failures += 1
                        EvalItem.objects.filter(id=item.id).update(inference_error=str(error)[:2000])
                    if bar is not None:
                        bar.update(1)
                recorder.flush()
    finally:
        gateway.close()
        recorder.flush()
        if bar is not None:
            bar.close()
    if failures:
        note_failures(run, f"{failures} of {total} model calls failed (see the items); judging the answers that "
                           "arrived")
    return failures


def mark_working(run: EvalRun, status: str) -> None:
    """A worker starts a step: say so, unless the run is already done (a redelivered task must not
    make a finished run look busy; it finds nothing to do and finishes again)."""
    EvalRun.objects.filter(id=run.id).exclude(status=EvalRun.Status.DONE).update(
        status=status, started_at=run.started_at or timezone.now())


def note_failures(run: EvalRun, message: str) -> None:
    """Say on the run page what went wrong so far, while the run goes on."""
    EvalRun.objects.filter(id=run.id).exclude(status=EvalRun.Status.DONE).update(error=message[:2000])


def fail_run(run: EvalRun, message: str) -> None:
    """End ``run`` as failed after an unexpected error. A run another task already finished keeps
    ``done``: its stored results are complete whatever this task tripped over."""
    EvalRun.objects.filter(id=run.id).exclude(status=EvalRun.Status.DONE).update(
        status=EvalRun.Status.FAILED, error=message, finished_at=timezone.now())


def finish_run(run_id: int) -> str:
    """Decide how ``run`` ends from what is stored, and record it; returns the status.

    ``done`` only when every item has an answer and every answer all its judge repeats;
    ``partially_failed`` when some items are fully judged (the metrics cover those) and others are
    missing an answer or a judgement; ``failed`` when nothing is usable. The run row is locked
    while counting, so two tasks finishing the same run at once (a redelivery beside a resume) both
    decide from the same stored rows, one after the other, and neither can say ``done`` early.
    """
    from evaluation.selectors import completion

    with transaction.atomic():
        run = EvalRun.objects.select_for_update().get(id=run_id)
        c = completion(run)
        missing_answers = c["items"] - c["inferred"]
        missing_judgements = c["judgements_total"] - c["judgements"]
        if c["items"] and not missing_answers and not missing_judgements:
            recompute_metrics(run)
            status, error = EvalRun.Status.DONE, ""
        else:
            problems = []
            if missing_answers:
                problems.append(f"{missing_answers} of {c['items']} model calls failed (see the items)")
            if missing_judgements:
                problems.append(f"{missing_judgements} of {c['judgements_total']} judge calls failed")
            if not c["items"]:
                problems.append("the run has no samples")
            if c["fully_judged"]:
                recompute_metrics(run)
                status = EvalRun.Status.PARTIALLY_FAILED
                problems.append(f"the metrics cover the {c['fully_judged']} of {c['items']} samples judged so far")
            else:
                EvalRun.objects.filter(id=run.id).update(metrics={})
                status = EvalRun.Status.FAILED
            error = "; ".join(problems) + ("; resume the run to retry them" if c["items"] else "")
        EvalRun.objects.filter(id=run.id).update(status=status, error=error, finished_at=timezone.now())
    return status


# --------------------------------------------------------------------------------------------------
# Judging


def _judge_for_run(recorder: CallRecorder) -> ClinicalJudge:
    from webapp.gateway import build_gateway

    return ClinicalJudge(gateway=build_gateway(recorder))


def pending_judge_jobs(run: EvalRun) -> list[JudgeJob]:
    """(item, repeat) pairs of ``run`` that have an answer and no stored judgement yet."""
    done = set(Judgement.objects.filter(item__run=run).values_list("item_id", "repeat"))
    jobs = []
    for item_id, reference, predictions in (
        EvalItem.objects.filter(run=run, inferred=True).order_by("position", "id")
        .values_list("id", "reference", "predictions")
    ):
        preds = tuple(predictions[: run.k])
        for repeat in range(run.judge_repeats):
            if (item_id, repeat) not in done:
                jobs.append(JudgeJob(key=item_id, reference=reference, predictions=preds, repeat=repeat))
    return jobs


def judge_pending(run_id: int, *, judge: ClinicalJudge | None = None, concurrency: int | None = None,
                  progress: bool = False) -> int:
    """Judge every answered item for every repeat not stored yet, then finish the run
    (:func:`finish_run`: metrics and the end state, from what is stored).

    Returns how many (item, repeat) jobs failed in this call (the run is then not ``done`` and can be
    resumed).
    """
    from webapp.llm import LLMError
    from evaluation.judge import JudgeError

    run = EvalRun.objects.get(id=run_id)
    mark_working(run, EvalRun.Status.JUDGING)
    jobs = pending_judge_jobs(run)
    if not jobs:  # nothing to ask (all stored, or no answers at all): no judge endpoint needed
        finish_run(run.id)
        return 0
    total = EvalItem.objects.filter(run=run, inferred=True).count() * run.judge_repeats
    recorder = _TokenRecorder(f"eval-run:{run.id}:judge")
    own_judge = judge is None
    if judge is None:
        judge = _judge_for_run(recorder)
    elif judge.gateway is not None and judge.gateway.on_call is None:
        judge.gateway.on_call = recorder
    if concurrency is None:
        concurrency = judge.gateway.endpoint(judge.role).max_concurrency if judge.gateway is not None else 4
    bar = progress_bar(total, total - len(jobs), f"run {run.id} judging", progress)
    failures = 0
    try:
        for outcome in judge_jobs(judge, jobs, concurrency=concurrency):
            if outcome.error is not None:
                if not isinstance(outcome.error, (LLMError, JudgeError)):
                    raise outcome.error
                failures += 1
                logger.warning("run %s: judging item %s repeat %s failed: %s", run.id, outcome.job.key,
                               outcome.job.repeat, outcome.error)
            else:
                try:
                    Judgement.objects.create(item_id=outcome.job.key, repeat=outcome.job.repeat,
                                             verdicts=[verdict_dict(v) for v in outcome.verdicts])
                except IntegrityError:  # another worker stored it first: same content, keep theirs
                    pass
            if bar is not None:
                bar.update(1)
            _flush_tokens(run, recorder)
    finally:
        if own_judge and judge.gateway is not None:
            judge.gateway.close()
        _flush_tokens(run, recorder)
        if bar is not None:
            bar.close()
    finish_run(run.id)
    return failures


def _flush_tokens(run: EvalRun, recorder: _TokenRecorder) -> None:
    prompt, completion = recorder.take_tokens()
    if prompt or completion:
        EvalRun.objects.filter(id=run.id).update(judge_prompt_tokens=F("judge_prompt_tokens") + prompt,
                                                 judge_completion_tokens=F("judge_completion_tokens") + completion)
    recorder.flush()


# --------------------------------------------------------------------------------------------------
# Metrics and overrules


def recompute_metrics(run: EvalRun, changed_items: list[int] | None = None) -> dict[str, Any]:
    """Compute and store ``run``'s metrics from the stored verdicts (overrules applied), with the
    image-blind baselines on the same samples (``metrics["baselines"]``, see :func:`run_baselines`),
    and the per-item verdicts (of ``changed_items`` only, when the caller knows which changed)."""
    from evaluation import selectors

    samples = selectors.sample_results(run)
    report = metrics_core.evaluate(samples, k=run.k, seed=run.seed).to_dict() if samples else {}
    if report:
        report["agreement"] = metrics_core.judge_agreement(selectors.overrule_pairs(run))
        report["invalid_answers"] = EvalItem.objects.filter(run=run, inferred=True, parse_ok=False).count()
        report["baselines"] = run_baselines(run, [s.reference for s in samples], report["top_k"])
    EvalRun.objects.filter(id=run.id).update(metrics=report)
    run.metrics = report
    # The per-item verdicts the browser filters by, from the same stored verdicts and overrules.
    from evaluation.verdict_services import store_item_verdicts

    store_item_verdicts(run, changed_items)
    return report


_baseline_judge: ClinicalJudge | None = None
_baseline_judge_lock = threading.Lock()


def baseline_judge() -> ClinicalJudge:
    """The ontology-only judge of the baselines, one per process (its name caches stay warm)."""
    global _baseline_judge
    if _baseline_judge is None:
        with _baseline_judge_lock:
            if _baseline_judge is None:
                _baseline_judge = ClinicalJudge()
    return _baseline_judge


def prior_labels(run: EvalRun) -> tuple[list[str], str]:
    """The labels the label prior counts, or none and why not.

    The training split of the run's dataset, by the review rules of what Stage II trains on
    (:func:`annotations.selectors.eligible_samples` with ``"stage2"``). Without a dataset or a
    training split the caller falls back to the test set's own references.
    """
    if run.dataset_id is None:
        return [], "the run has no dataset (its predictions were imported without one)"
    labels = list(eligible_samples("stage2", dataset=run.dataset, split=Sample.Split.TRAIN)
                  .values_list("label", flat=True))
    labels = [label for label in labels if label and label.strip()]
    if not labels:
        return [], f"the dataset {run.dataset.name} has no labelled training split"
    return labels, ""


def run_baselines(run: EvalRun, references: Sequence[str], model_top_k: Sequence[float]) -> dict[str, Any]:
    """The image-blind baselines of ``run`` on the test samples with ``references`` (the samples its
    metrics cover), under the offline judge: :func:`evaluation.baselines.compute_baselines`, plus
    ``prior_dataset`` (the dataset whose training split the prior counts; "" on the fallback)."""
    labels, note = prior_labels(run)
    result = baselines_core.compute_baselines(baseline_judge(), references, run.k, prior_labels=labels,
                                              source_note=note, model_top_k=model_top_k)
    result["prior_dataset"] = run.dataset.name if labels else ""
    return result


def overrule(item: EvalItem, rank: int, category: str, user: Any, note: str = "") -> Overrule:
    """Append ``user``'s category for the prediction at ``rank`` and recompute the run's metrics.

    Nothing is overwritten: a dermatologist who changes their mind appends a new verdict, and
    another dermatologist's verdict on the same prediction stays in the log beside it.
    """
    if category not in CATEGORIES:
        raise EvalError(f"unknown category {category!r}; choose one of: {', '.join(CATEGORIES)}")
    _check_rank(item, rank)
    from evaluation.selectors import judge_majority

    majority = judge_majority(item, rank)
    with transaction.atomic():
        # Serialise overrules of one run: each recompute must see the others' overrules.
        EvalRun.objects.select_for_update().filter(pk=item.run_id).first()
        obj = Overrule.objects.create(item=item, rank=rank, category=category, judge_category=majority or "",
                                      note=note, user=user)
        recompute_metrics(item.run, changed_items=[item.id])
    return obj


def withdraw_overrule(item: EvalItem, rank: int, user: Any, note: str = "") -> Overrule:
    """Append a withdrawal of ``user``'s own standing verdict at ``rank``; the judge's category (or
    another dermatologist's standing verdict) counts again. Another dermatologist's verdict cannot be
    withdrawn: disagree with it by giving your own."""
    from evaluation.selectors import judge_majority, user_has_standing_overrule

    _check_rank(item, rank)
    with transaction.atomic():
        EvalRun.objects.select_for_update().filter(pk=item.run_id).first()
        if not user_has_standing_overrule(item, rank, user):
            raise EvalError(f"You have no verdict on rank {rank} to withdraw; only the dermatologist who gave a "
                            "verdict can withdraw it. To disagree with a colleague, save your own verdict.")
        obj = Overrule.objects.create(item=item, rank=rank, category="", withdrawn=True,
                                      judge_category=judge_majority(item, rank) or "", note=note, user=user)
        recompute_metrics(item.run, changed_items=[item.id])
    return obj


def _check_rank(item: EvalItem, rank: int) -> None:
    if not 1 <= rank <= min(len(item.predictions), item.run.k):
        raise EvalError(f"rank {rank} is not a prediction of this sample (it has {len(item.predictions)})")


# --------------------------------------------------------------------------------------------------
# Predictions made elsewhere


def validate_prediction_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check imported rows (``id``, ``reference``, ``predictions``, ``skin_type``); raise EvalError
    listing every bad row."""
    clean: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            problems.append(f"row {number}: not a JSON object")
            continue
        rid, ref, preds, skin = row.get("id"), row.get("reference"), row.get("predictions"), row.get("skin_type")
        if rid is None or str(rid) == "":
            problems.append(f"row {number}: 'id' is missing")
            continue
        if str(rid) in seen:
            problems.append(f"row {number}: id {rid!r} appears twice")
            continue
        if not isinstance(ref, str) or not ref.strip():
            problems.append(f"row {number}: 'reference' must be a non-empty string")
            continue
        if not isinstance(preds, list) or not all(isinstance(p, str) for p in preds):
            problems.append(f"row {number}: 'predictions' must be a list of names")
            continue
        if skin is not None and (not isinstance(skin, int) or isinstance(skin, bool) or not 1 <= skin <= 6):
            problems.append(f"row {number}: 'skin_type' must be 1-6 or null")
            continue
        seen.add(str(rid))
        clean.append({"id": str(rid), "reference": ref.strip(), "predictions": [p.strip() for p in preds],
                      "skin_type": skin})
    if problems:
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise EvalError(f"{len(problems)} bad row(s): {shown}")
    return clean


def import_predictions(
    rows: Sequence[Mapping[str, Any]],
    *,
    name: str,
    model_name: str,
    test_set: str,
    k: int = 6,
    judge_repeats: int = 3,
    dataset: Dataset | None = None,
    uses_dve: bool | None = None,
    uses_stage1: bool | None = None,
    user: Any = None,
) -> EvalRun:
    """An ``imported`` run holding predictions made elsewhere; judge it with :func:`judge_pending`.

    With ``dataset``, rows are linked to samples by ``external_id`` so the per-sample page shows
    the image.
    """
    clean = validate_prediction_rows(rows)
    samples = {}
    if dataset is not None:
        samples = {s.external_id: s for s in Sample.objects.filter(dataset=dataset, external_id__in=[r["id"] for r in clean])}
    with transaction.atomic():
        run = EvalRun.objects.create(
            name=name, model_name=model_name, kind=EvalRun.Kind.IMPORTED, dataset=dataset, test_set=test_set,
            k=k, prompt=diagnosis_prompt(k), judge_repeats=judge_repeats, uses_dve=uses_dve,
            uses_stage1=uses_stage1, created_by=user, split="",
        )
        EvalItem.objects.bulk_create(
            EvalItem(run=run, sample=samples.get(r["id"]), position=i, external_id=r["id"], reference=r["reference"],
                     skin_type=r["skin_type"], inferred=True, parse_ok=bool(r["predictions"]),
                     predictions=r["predictions"][:k])
            for i, r in enumerate(clean)
        )
    return run


def store_offline_judgements(run: EvalRun, judge: ClinicalJudge) -> int:
    """Judge every item of ``run`` with the ontology only (one repeat); returns the undecided count."""
    undecided = 0
    rows = []
    for item in EvalItem.objects.filter(run=run, inferred=True):
        verdicts, missed = judge_offline_list(judge, item.reference, item.predictions[: run.k])
        undecided += missed
        rows.append(Judgement(item=item, repeat=0, verdicts=[verdict_dict(v) for v in verdicts]))
    Judgement.objects.bulk_create(rows, ignore_conflicts=True)
    EvalRun.objects.filter(id=run.id).update(judge_repeats=1)
    finish_run(run.id)
    run.refresh_from_db()
    return undecided


# --------------------------------------------------------------------------------------------------
# Reward validation (Table 1)


def record_reward_validation(study: str, model_name: str, caption_reward: float, diagnostic_accuracy: float,
                             n: int = 0) -> RewardValidation:
    if not 0.0 <= diagnostic_accuracy <= 1.0:
        raise EvalError("diagnostic accuracy must be a share in [0, 1]")
    obj, _ = RewardValidation.objects.update_or_create(
        study=study, model_name=model_name,
        defaults={"caption_reward": caption_reward, "diagnostic_accuracy": diagnostic_accuracy, "n": n},
    )
    return obj
