"""Run states tell the truth, the cache keeps only good answers, and stalled runs heal themselves.

Runs go against the project's local OpenAI-compatible server (webapp/llm_testserver.py) with the
scripted model and judge of eval_fixtures, on eager Celery.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from evaluation import selectors, services, tasks
from evaluation.models import EvalItem, EvalRun, Judgement
from evaluation.tests.eval_fixtures import CASES, JUDGE_ID, MODEL_ID, Script, answer, make_test_set, request_image
from webapp.celery_app import app
from webapp.llm import image_data_url
from webapp.llm_testserver import Reply, ScriptedLLMServer

pytestmark = pytest.mark.django_db

KNOWN_TOP_K = [0.25, 0.375, 0.625]  # the scripted answers' Top-1..3 (see test_eval_run)


@pytest.fixture
def eager_celery():
    app.conf.CELERY_TASK_ALWAYS_EAGER = app.conf.CELERY_TASK_EAGER_PROPAGATES = True
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER = app.conf.CELERY_TASK_EAGER_PROPAGATES = False


class Switchable:
    """The scripted model and judge, with switches to break them per sample or all at once."""

    def __init__(self) -> None:
        self.script = Script.for_cases()
        self.model_down_for: set[str] = set()  # external ids whose model call gets HTTP 400
        self.judge_down = False
        self.malformed = False  # the model answers prose for every image
        self.judge_garbage = False  # the judge answers something that is not the verdict JSON
        self.alternative = False  # the model answers differently (a "new model version")

    def sample_of(self, request: dict) -> str:
        image = request_image(request)
        return next(c[0] for c in CASES if image_data_url(self.script.media / f"eval-test/{c[0]}.jpg") == image)

    def __call__(self, request: dict):
        if request.get("model") == MODEL_ID:
            if self.sample_of(request) in self.model_down_for:
                return Reply(status=400)  # not retried by the gateway
            if self.malformed:
                return "It is probably psoriasis, I think."
            if self.alternative:
                return answer("lichen planus")
            return self.script(request)
        if self.judge_down:
            return Reply(status=400)
        if self.judge_garbage:
            return "I would rather not say."
        return self.script(request)

    def model_requests(self, srv: ScriptedLLMServer) -> int:
        return sum(1 for r in srv.requests if r["model"] == MODEL_ID)

    def judge_requests(self, srv: ScriptedLLMServer) -> int:
        return sum(1 for r in srv.requests if r["model"] == JUDGE_ID)


@pytest.fixture
def server(monkeypatch):
    responder = Switchable()
    with ScriptedLLMServer(responder) as srv:
        monkeypatch.setenv("SKINFLOW_JUDGE_BASE_URL", srv.base_url)
        monkeypatch.setenv("SKINFLOW_JUDGE_MODEL", JUDGE_ID)
        srv.responder = responder
        yield srv


def run_for(dataset, srv, capture, **kw) -> EvalRun:
    with capture(execute=True):
        run = services.create_run(name="chain", model_name="Chain-VL", dataset=dataset, test_set="Clinic",
                                  base_url=srv.base_url, endpoint_model=MODEL_ID, k=3, judge_repeats=2, **kw)
    run.refresh_from_db()
    return run


def resume(run: EvalRun, capture) -> EvalRun:
    assert services.resume_refusal(run) == ""
    with capture(execute=True):
        services.start_run(run)
    run.refresh_from_db()
    return run


# --------------------------------------------------------------------------------------------------
# Run states


def test_some_model_calls_failing_ends_partially_failed_and_resume_finishes(
        server, eager_celery, django_capture_on_commit_callbacks):
    dataset = make_test_set()
    server.responder.model_down_for = {"s1"}
    run = run_for(dataset, server, django_capture_on_commit_callbacks)
    assert run.status == EvalRun.Status.PARTIALLY_FAILED
    assert "1 of 4 model calls failed" in run.error and "resume" in run.error
    # The answers that arrived were judged: the metrics cover those three samples, and say so.
    assert run.metrics["n"] == 3 and "3 of 4 samples" in run.error
    assert Judgement.objects.filter(item__run=run).count() == 6
    assert run.finished_at is not None
    # Partial results stay off the leaderboard.
    assert selectors.leaderboard()["rows"] == []

    server.responder.model_down_for = set()
    model_calls = server.responder.model_requests(server)
    run = resume(run, django_capture_on_commit_callbacks)
    assert run.status == EvalRun.Status.DONE and run.error == ""
    assert run.metrics["top_k"] == pytest.approx(KNOWN_TOP_K)
    # Only the failed item was asked again: no answered call is paid twice.
    assert server.responder.model_requests(server) == model_calls + 1


def test_judge_failures_never_end_done(server, eager_celery, django_capture_on_commit_callbacks):
    dataset = make_test_set()
    server.responder.judge_down = True
    run = run_for(dataset, server, django_capture_on_commit_callbacks)
    # s1 and s3 are settled by the ontology; s2 and s5 need the judge LLM in both repeats.
    assert run.status == EvalRun.Status.PARTIALLY_FAILED
    assert "4 of 8 judge calls failed" in run.error and "model calls" not in run.error
    assert run.metrics["n"] == 2

    server.responder.judge_down = False
    run = resume(run, django_capture_on_commit_callbacks)
    assert run.status == EvalRun.Status.DONE
    assert run.metrics["top_k"] == pytest.approx(KNOWN_TOP_K)


def test_nothing_usable_ends_failed(server, eager_celery, django_capture_on_commit_callbacks):
    dataset = make_test_set()
    server.responder.model_down_for = {"s1", "s2", "s3", "s5"}
    run = run_for(dataset, server, django_capture_on_commit_callbacks)
    assert run.status == EvalRun.Status.FAILED and run.metrics == {}
    assert "4 of 4 model calls failed" in run.error


def test_finish_decides_from_stored_rows_not_from_a_tasks_tally(server, eager_celery,
                                                               django_capture_on_commit_callbacks):
    """A task that finishes while another task's judgement is missing (a redelivered task beside a
    resume) must not call the run done."""
    dataset = make_test_set()
    run = run_for(dataset, server, django_capture_on_commit_callbacks)
    assert run.status == EvalRun.Status.DONE
    Judgement.objects.filter(item__run=run, item__external_id="s2", repeat=1).delete()
    assert services.finish_run(run.id) == EvalRun.Status.PARTIALLY_FAILED
    run.refresh_from_db()
    assert "1 of 8 judge calls failed" in run.error and run.metrics["n"] == 3
    # A late task's unexpected error does not overwrite a run that another task finished.
    services.judge_pending(run.id)
    run.refresh_from_db()
    assert run.status == EvalRun.Status.DONE
    services.fail_run(run, "RuntimeError: a late duplicate task tripped")
    run.refresh_from_db()
    assert run.status == EvalRun.Status.DONE


# --------------------------------------------------------------------------------------------------
# The cache keeps only good answers


def test_malformed_answers_are_never_served_from_the_cache_again(server, eager_celery,
                                                                django_capture_on_commit_callbacks):
    dataset = make_test_set()
    server.responder.malformed = True
    first = run_for(dataset, server, django_capture_on_commit_callbacks)
    # Every answer was stored and counts as invalid in this run.
    assert first.status == EvalRun.Status.DONE
    assert first.metrics["invalid_answers"] == 4 and first.metrics["top_k"] == [0.0, 0.0, 0.0]
    assert server.responder.model_requests(server) == 4

    server.responder.malformed = False  # the model server is fixed
    second = run_for(dataset, server, django_capture_on_commit_callbacks)
    # Real requests (not the cached prose), and good answers.
    assert server.responder.model_requests(server) == 8
    assert second.status == EvalRun.Status.DONE
    assert second.metrics["top_k"] == pytest.approx(KNOWN_TOP_K)
    assert second.metrics["invalid_answers"] == 1  # s3's scripted answer is prose by design


def test_unusable_judge_replies_are_not_cached(server, eager_celery, django_capture_on_commit_callbacks):
    dataset = make_test_set()
    server.responder.judge_garbage = True
    first = run_for(dataset, server, django_capture_on_commit_callbacks)
    categories = {v["category"] for j in Judgement.objects.filter(item__run=first, item__external_id="s2")
                  for v in j.verdicts}
    assert "invalid" in categories  # "Kraxl syndrome" could not be graded in this run
    judge_calls = server.responder.judge_requests(server)
    assert judge_calls > 0

    server.responder.judge_garbage = False
    second = run_for(dataset, server, django_capture_on_commit_callbacks)
    # The judge was asked again (2 items × 2 repeats) instead of being served the unusable replies.
    assert server.responder.judge_requests(server) == judge_calls + 4
    assert second.metrics["top_k"] == pytest.approx(KNOWN_TOP_K)


def test_fresh_answers_bypass_the_cache_but_a_redelivered_task_reuses_them(server, eager_celery,
                                                                           django_capture_on_commit_callbacks):
    dataset = make_test_set()
    run_for(dataset, server, django_capture_on_commit_callbacks)
    assert server.responder.model_requests(server) == 4
    server.responder.alternative = True  # the endpoint now serves a different model version

    cached = run_for(dataset, server, django_capture_on_commit_callbacks)
    # Served from the cache, except s3: its scripted prose answer was evicted, so it is asked again.
    assert server.responder.model_requests(server) == 5
    assert cached.items.get(external_id="s1").predictions == ["psoriasis", "lichen planus"]

    fresh = run_for(dataset, server, django_capture_on_commit_callbacks, fresh_answers=True)
    assert fresh.fresh_answers and server.responder.model_requests(server) == 9
    assert fresh.items.get(external_id="s1").predictions == ["lichen planus"]

    # A worker died after the calls were paid but before the answers were stored: the redelivered task
    # of the same run asks again and is served from the cache under the run's own salt.
    EvalItem.objects.filter(run=fresh).update(inferred=False, predictions=[], raw_answer="")
    assert services.infer_pending(fresh.id) == 0
    assert server.responder.model_requests(server) == 9
    assert fresh.items.get(external_id="s1").predictions == ["lichen planus"]


def test_fresh_answers_option_on_the_form_and_the_api(admin_user, django_capture_on_commit_callbacks, monkeypatch):
    from rest_framework.test import APIClient

    monkeypatch.setattr(tasks.infer_run, "delay", lambda run_id: None)
    dataset = make_test_set()
    client = Client()
    client.force_login(admin_user)
    assert "Bypass the cache" in client.get(reverse("eval-run-new")).content.decode()
    form = {"name": "form run", "model_name": "M", "base_url": "http://127.0.0.1:9/v1", "endpoint_model": "m",
            "dataset": dataset.id, "split": "test", "seed": 0, "k": 3, "judge_repeats": 1, "max_concurrency": 2,
            "price_prompt_per_mtok": 0, "price_completion_per_mtok": 0, "fresh_answers": "on"}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("eval-run-new"), form).status_code == 302
    assert EvalRun.objects.get(name="form run").fresh_answers is True
    api = APIClient()
    api.force_authenticate(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        resp = api.post("/api/eval-runs/", {"name": "api run", "model_name": "M", "base_url": "http://127.0.0.1:9/v1",
                                            "endpoint_model": "m", "dataset": dataset.id, "fresh_answers": True},
                        format="json")
    assert resp.status_code == 201, resp.json()
    assert resp.json()["fresh_answers"] is True
    assert EvalRun.objects.get(name="api run").cache_salt == f"eval-run={resp.json()['id']}"


# --------------------------------------------------------------------------------------------------
# Self-healing


class Broker:
    """Stands in for ``infer_run.delay``: records what was enqueued, or refuses like a dead Redis."""

    def __init__(self) -> None:
        self.enqueued: list[int] = []
        self.down = False

    def __call__(self, run_id: int) -> None:
        from kombu.exceptions import OperationalError

        if self.down:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.enqueued.append(run_id)


@pytest.fixture
def broker(monkeypatch, settings):
    settings.SKINFLOW_EVAL_STALL_S = 60
    b = Broker()
    monkeypatch.setattr(tasks.infer_run, "delay", b)
    monkeypatch.setattr(tasks.judge_run, "delay", b)
    return b


def queued_run(dataset, **kw) -> EvalRun:
    # Outside a test transaction: create_run's atomic block enqueues when it commits.
    run = services.create_run(name=kw.pop("name", "q"), model_name="M", dataset=dataset, base_url="http://x/v1",
                              endpoint_model="m", k=3, judge_repeats=1, **kw)
    run.refresh_from_db()
    return run


def reap() -> int:
    # These tests run outside a test transaction (transaction=True), as the reaper does in a worker:
    # start_run's on_commit enqueue happens at once and its outcome is counted.
    return services.reap_stalled_runs()


def age(run: EvalRun, seconds: float) -> None:
    EvalRun.objects.filter(id=run.id).update(enqueued_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db(transaction=True)
def test_reaper_reenqueues_a_stalled_run_once_and_leaves_fresh_ones(broker):
    dataset = make_test_set()
    stalled = queued_run(dataset, name="stalled")
    fresh = queued_run(dataset, name="fresh")
    moving = queued_run(dataset, name="moving")
    done = queued_run(dataset, name="done")
    inline = services.create_run(name="inline", model_name="M", dataset=dataset, base_url="http://x/v1",
                                 endpoint_model="m", start=False)  # driven from the command line
    assert broker.enqueued == [stalled.id, fresh.id, moving.id, done.id]
    broker.enqueued.clear()
    for run in (stalled, moving, done, inline):
        age(run, 600)
    EvalRun.objects.filter(id=inline.id).update(enqueued_at=None)
    EvalRun.objects.filter(id=stalled.id).update(status=EvalRun.Status.INFERRING)
    EvalRun.objects.filter(id=done.id).update(status=EvalRun.Status.DONE)
    # "moving" stored an answer a moment ago: it is making progress.
    EvalItem.objects.filter(id=moving.items.first().id).update(inferred=True, answered_at=timezone.now())

    assert reap() == 1
    assert broker.enqueued == [stalled.id]
    stalled.refresh_from_db()
    assert stalled.status == EvalRun.Status.PENDING and timezone.now() - stalled.enqueued_at < timedelta(seconds=5)
    # Idempotent: the next round (or another worker's reaper) finds nothing to do.
    assert reap() == 0
    assert broker.enqueued == [stalled.id]


@pytest.mark.django_db(transaction=True)
def test_a_slow_run_on_a_live_worker_gets_no_second_task(broker, monkeypatch):
    """No answer for minutes (a slow model) is not a lost run while its worker still beats: a second task
    beside it would pay for the calls in flight twice. A dead worker's run is sent again."""
    from webapp import reaper
    from webapp.models import WorkerHeartbeat

    monkeypatch.setattr(reaper, "judging_ok", lambda: True)
    dataset = make_test_set()
    slow, orphaned = queued_run(dataset, name="slow"), queued_run(dataset, name="orphaned")
    broker.enqueued.clear()
    long_ago = timezone.now() - timedelta(minutes=10)
    WorkerHeartbeat.objects.create(name="busy:1", started_at=long_ago, last_seen=timezone.now())
    WorkerHeartbeat.objects.create(name="killed:2", started_at=long_ago, last_seen=long_ago)
    age(slow, 600)  # silent for ten minutes, but its worker beats: a slow model, not a lost run
    # The orphan moved a moment ago, but its worker is dead: sent again now, not after the stall deadline.
    for run, worker in ((slow, "busy:1"), (orphaned, "killed:2")):
        EvalRun.objects.filter(id=run.id).update(status=EvalRun.Status.INFERRING, worker=worker)
    assert reap() == 1 and broker.enqueued == [orphaned.id]
    assert reap() == 0 and broker.enqueued == [orphaned.id]  # once
    # A duplicate delivery of the slow run's task leaves it to its worker.
    with services.working_on(slow.id) as mine:
        assert mine is False
    with services.working_on(orphaned.id) as mine:
        assert mine is True
        assert EvalRun.objects.get(id=orphaned.id).worker == reaper.worker_name()
    assert EvalRun.objects.get(id=orphaned.id).worker == ""


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_creation_is_no_500_and_the_reaper_starts_it_later(broker, admin_user):
    dataset = make_test_set()
    broker.down = True
    client = Client()
    client.force_login(admin_user)
    form = {"name": "while redis is down", "model_name": "M", "base_url": "http://127.0.0.1:9/v1",
            "endpoint_model": "m", "dataset": dataset.id, "split": "test", "seed": 0, "k": 3, "judge_repeats": 1,
            "max_concurrency": 2, "price_prompt_per_mtok": 0, "price_completion_per_mtok": 0}
    response = client.post(reverse("eval-run-new"), form)
    assert response.status_code == 302
    run = EvalRun.objects.get(name="while redis is down")
    assert run.status == EvalRun.Status.PENDING and run.error == services.QUEUE_UNREACHABLE
    assert "will start when the task queue is reachable" in client.get(response.url).content.decode()
    # The resume button is allowed for such a run, and also does not fail while the broker is down.
    assert services.resume_refusal(run) == ""

    age(run, 600)
    assert reap() == 0  # still down: left for the next round
    run.refresh_from_db()
    assert run.status == EvalRun.Status.PENDING and broker.enqueued == []

    broker.down = False
    age(run, 600)
    assert reap() == 1
    assert broker.enqueued == [run.id]
    run.refresh_from_db()
    assert run.error == ""


def test_the_reaper_is_registered():
    from webapp import reaper

    assert reaper.registered()["evaluation-runs"] == "evaluation.services.reap_stalled_runs"

