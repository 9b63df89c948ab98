"""Drafting runs tell the truth and heal themselves: final states with counts, a finish check that cannot
race, human captions never redrafted, the reaper, and a cache that keeps only good answers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotations import drafting_services
from annotations.models import CaptionDraft, DraftingRun, DraftJob, Sample
from annotations.tests.scripted_llm import PipelineResponder, Script
from annotations.tests.test_drafting_pipeline import make_dataset, run_all
from webapp import reaper
from webapp.llm_testserver import Reply, ScriptedLLMServer
from webapp.models import WorkerHeartbeat


@pytest.fixture
def llm(settings):
    started: list[ScriptedLLMServer] = []

    def start(responder, **kw):
        server = ScriptedLLMServer(responder, **kw).start()
        settings.SKINFLOW_LLM_BASE_URL = server.base_url
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def fast_failing_gateway(monkeypatch):
    """Endpoints that fail fast: no retries, short timeouts (the defaults retry for minutes)."""
    from webapp import gateway

    original = gateway.endpoint_configs

    def configs():
        import dataclasses

        return {role: dataclasses.replace(c, max_retries=0, timeout_s=1.0) for role, c in original().items()}

    monkeypatch.setattr(gateway, "endpoint_configs", configs)


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["unreachable", "http500", "hung"])
def test_a_run_whose_every_job_failed_ends_failed(tmp_path, llm, settings, monkeypatch, fault):
    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", 1), Script("scabies", 1)])
    fast_failing_gateway(monkeypatch)
    if fault == "unreachable":
        settings.SKINFLOW_LLM_BASE_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
    elif fault == "http500":
        llm(lambda request: Reply(status=500, text="boom"))
    else:
        llm(lambda request: Reply(text="late", delay_s=3.0))
    run = drafting_services.create_run(dataset)
    run_all(run)
    run.refresh_from_db()
    assert run.state == DraftingRun.State.FAILED and run.finished_at is not None
    progress = drafting_services.run_progress(run)
    assert (progress["total"], progress["failed"], progress["accepted"]) == (3, 3, 0)
    assert set(Sample.objects.values_list("state", flat=True)) == {Sample.State.DRAFT_FAILED}
    assert all("LLM unavailable" in e for e in Sample.objects.values_list("last_error", flat=True))


@pytest.mark.django_db
def test_succeeded_means_every_job_ended_well(tmp_path, llm):
    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", None)])
    llm(PipelineResponder(by_md5))
    run = drafting_services.create_run(dataset, max_attempts=2)
    run_all(run)
    run.refresh_from_db()
    # needs_expert is a normal outcome of the paper's loop, not a failure.
    assert run.state == DraftingRun.State.SUCCEEDED
    assert drafting_services.run_progress(run)["needs_expert"] == 1


@pytest.mark.django_db
def test_samples_with_a_human_caption_are_never_drafted(tmp_path, llm):
    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", 1)])
    captioned = Sample.objects.get(label="melanoma")
    Sample.objects.filter(pk=captioned.pk).update(caption={"color": "brown"}, caption_version=1)
    llm(PipelineResponder(by_md5))
    run = drafting_services.create_run(dataset)
    assert list(run.jobs.values_list("sample__label", flat=True)) == ["psoriasis"]
    run_all(run)
    captioned.refresh_from_db()
    assert captioned.state == Sample.State.NEW and captioned.caption == {"color": "brown"}
    run.refresh_from_db()
    assert run.state == DraftingRun.State.SUCCEEDED
    Sample.objects.filter(label="psoriasis").update(state=Sample.State.NEW)
    with pytest.raises(drafting_services.DraftingRejected, match="no caption written by a dermatologist"):
        Sample.objects.filter(label="psoriasis").update(caption_version=2)
        drafting_services.create_run(dataset)


@pytest.mark.django_db(transaction=True)
def test_six_runs_whose_last_jobs_finish_together_all_end(tmp_path, monkeypatch):
    """Two jobs of a run finishing at the same moment: each, inside its own transaction, used to see the
    other as unfinished, and the run stayed running forever. The barrier makes that moment certain."""
    if connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL that bin/test starts (SQLite serialises writers anyway)")
    dataset, _ = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", 1)])
    original = drafting_services._maybe_finish_run
    for round_ in range(6):
        Sample.objects.update(state=Sample.State.NEW)
        run = drafting_services.create_run(dataset)
        jobs = list(run.jobs.all())
        barrier = threading.Barrier(len(jobs), timeout=20)

        def finishing_together(run_id: int) -> None:
            barrier.wait()  # both jobs are written (uncommitted) before either looks at the other
            original(run_id)

        monkeypatch.setattr(drafting_services, "_maybe_finish_run", finishing_together)
        errors: list[BaseException] = []

        def finish(job: DraftJob) -> None:
            try:
                drafting_services._finish_job(job, DraftJob.State.NEEDS_EXPERT)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=finish, args=(job,)) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        run.refresh_from_db()
        assert run.state == DraftingRun.State.SUCCEEDED, f"round {round_}: {run.state}"


@pytest.mark.django_db
def test_the_reaper_requeues_jobs_of_a_dead_worker_and_never_sent_jobs(tmp_path, llm, settings, monkeypatch):
    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", 1), Script("scabies", 1)])
    sent: list[int] = []
    from annotations import tasks

    monkeypatch.setattr(tasks.draft_sample, "delay", lambda job_id: sent.append(job_id))
    monkeypatch.setattr(reaper, "judging_ok", lambda: True)  # this process has been beating for long enough
    run = drafting_services.create_run(dataset)
    psoriasis, melanoma, scabies = (run.jobs.get(sample__label=x) for x in ("psoriasis", "melanoma", "scabies"))
    long_ago = timezone.now() - timedelta(minutes=10)
    # psoriasis: running on a worker that stopped beating; melanoma: running on a live (slow) worker;
    # scabies: never handed to the broker (it was down when the run was created).
    WorkerHeartbeat.objects.create(name="dead:1", started_at=long_ago, last_seen=long_ago)
    WorkerHeartbeat.objects.create(name="alive:2", started_at=long_ago, last_seen=timezone.now())
    DraftJob.objects.filter(pk=psoriasis.pk).update(state="running", worker="dead:1", updated_at=long_ago,
                                                    enqueued_at=long_ago)
    DraftJob.objects.filter(pk=melanoma.pk).update(state="running", worker="alive:2", updated_at=long_ago,
                                                   enqueued_at=long_ago)
    DraftJob.objects.filter(pk=scabies.pk).update(enqueued_at=None)
    sent.clear()

    assert drafting_services.reap_drafting() == 2
    assert sorted(sent) == sorted([psoriasis.pk, scabies.pk])
    psoriasis.refresh_from_db()
    melanoma.refresh_from_db()
    assert psoriasis.state == "pending" and psoriasis.worker == "" and psoriasis.enqueued_at is not None
    assert melanoma.state == "running"  # a slow LLM call on a live worker is left alone

    # A second reap right away sends nothing: the jobs were just sent and the run is not stalled yet.
    sent.clear()
    assert drafting_services.reap_drafting() == 0 and sent == []

    # Lost by the broker (Redis restarted without persistence): the run makes no progress for a while.
    DraftJob.objects.filter(run=run).update(updated_at=long_ago, enqueued_at=long_ago)
    assert drafting_services.reap_drafting() == 2  # psoriasis and scabies again; melanoma still runs
    assert sorted(sent) == sorted([psoriasis.pk, scabies.pk])

    # The jobs run, the reaper (or the last job) finishes the run.
    llm(PipelineResponder(by_md5))
    DraftJob.objects.filter(pk=melanoma.pk).update(state="pending", worker="")
    run_all(run)
    drafting_services.reap_drafting()
    run.refresh_from_db()
    assert run.state == DraftingRun.State.SUCCEEDED
    assert CaptionDraft.objects.filter(job__run=run).count() == 3


@pytest.mark.django_db
def test_a_run_created_while_the_broker_is_down_is_queued_not_an_error(tmp_path, monkeypatch, admin_client_role):
    dataset, _ = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", 1)])
    from annotations import tasks

    def broker_down(job_id):
        raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.draft_sample, "delay", broker_down)
    with pytest.MonkeyPatch.context() as m:
        m.setattr("django.db.transaction.on_commit", lambda fn, using=None, robust=False: fn())
        response = admin_client_role.post("/api/drafting-runs/", {"dataset": dataset.pk}, content_type="application/json")
    assert response.status_code == 201, response.content
    run = DraftingRun.objects.get()
    assert run.state == DraftingRun.State.QUEUED and drafting_services.broker_waiting(run) == 2
    page = admin_client_role.get(f"/review/runs/{run.pk}/")
    assert page.status_code == 200 and b"will start when the task queue is reachable" in page.content

    sent: list[int] = []
    monkeypatch.setattr(tasks.draft_sample, "delay", lambda job_id: sent.append(job_id))
    assert drafting_services.reap_drafting() == 2 and len(sent) == 2
    assert drafting_services.broker_waiting(run) == 0


@pytest.mark.django_db
def test_malformed_replies_are_not_served_from_the_cache_again(tmp_path, llm, monkeypatch):
    """A structurer that answered garbage, then is fixed: the next run asks again instead of replaying it."""
    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 1, faults={1: "bad_json"})])
    responder = PipelineResponder(by_md5)
    server = llm(responder)
    run = drafting_services.create_run(dataset, max_attempts=1)
    run_all(run)
    assert Sample.objects.get().state == Sample.State.NEEDS_EXPERT
    structurer_calls = lambda: sum("Turn this description" in str(r["messages"]) for r in server.requests)  # noqa: E731
    first = structurer_calls()

    responder.by_key["psoriasis/0.jpg"].faults.clear()  # the server is fixed
    Sample.objects.update(state=Sample.State.NEW)
    run2 = drafting_services.create_run(dataset, max_attempts=1)
    run_all(run2)
    assert structurer_calls() > first, "the malformed structurer reply was served from the cache"
    assert Sample.objects.get().state == Sample.State.AUTO_ACCEPTED


@pytest.mark.django_db
def test_a_fresh_run_bypasses_the_cache_once(tmp_path, llm):
    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 1)])
    server = llm(PipelineResponder(by_md5))
    run_all(drafting_services.create_run(dataset))
    paid = len(server.requests)
    Sample.objects.update(state=Sample.State.NEW, caption=None)
    run_all(drafting_services.create_run(dataset))
    assert len(server.requests) == paid  # the same questions: answered from the cache
    Sample.objects.update(state=Sample.State.NEW, caption=None)
    fresh = drafting_services.create_run(dataset, fresh_answers=True)
    run_all(fresh)
    assert len(server.requests) == 2 * paid  # asked afresh
    DraftJob.objects.filter(run=fresh).update(state="pending")
    Sample.objects.update(state=Sample.State.DRAFTING)
    CaptionDraft.objects.filter(job__run=fresh).delete()
    run_all(fresh)  # a redelivery of the fresh run's job reuses what that run paid for
    assert len(server.requests) == 2 * paid


def test_reaper_loop_survives_a_failing_reaper(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(reaper, "_registry", {"a": "x.boom", "b": "x.ok"})

    def resolve(path):
        def boom():
            calls.append("boom")
            raise RuntimeError("bug")

        def ok():
            calls.append("ok")
            return 3
        return boom if path.endswith("boom") else ok

    monkeypatch.setattr(reaper, "_resolve", resolve)
    assert reaper.reap_once() == {"b": 3}
    assert calls == ["boom", "ok"]


def test_every_app_registers_its_reaper():
    assert {"drafting", "training"} <= set(reaper.registered())


@pytest.mark.django_db
def test_after_a_database_outage_nobody_is_judged_dead_too_early(tmp_path, monkeypatch):
    """Every heartbeat is old right after PostgreSQL comes back; a live worker's job must not be run twice."""
    dataset, _ = make_dataset(tmp_path, [Script("psoriasis", 1)])
    from annotations import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.draft_sample, "delay", lambda job_id: sent.append(job_id))
    run = drafting_services.create_run(dataset)
    long_ago = timezone.now() - timedelta(minutes=10)
    WorkerHeartbeat.objects.create(name="other:1", started_at=long_ago, last_seen=long_ago)
    DraftJob.objects.filter(run=run).update(state="running", worker="other:1", updated_at=long_ago)
    sent.clear()
    monkeypatch.setattr(reaper, "judging_ok", lambda: False)
    assert drafting_services.reap_drafting() == 0 and sent == []
    assert DraftJob.objects.get(run=run).state == "running"
    monkeypatch.setattr(reaper, "judging_ok", lambda: True)
    assert drafting_services.reap_drafting() == 1 and len(sent) == 1


@pytest.mark.django_db
def test_a_dead_workers_prefetched_tasks_are_sent_again_at_once(tmp_path, monkeypatch):
    """kill -9 takes the worker's prefetched, unacknowledged tasks with it: the jobs sent before its last
    heartbeat are sent again in the round that finds it dead, once, without waiting for the run to stall."""
    dataset, _ = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", 1), Script("scabies", 1)])
    from annotations import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.draft_sample, "delay", lambda job_id: sent.append(job_id))
    monkeypatch.setattr(reaper, "judging_ok", lambda: True)
    monkeypatch.setattr(reaper, "_registry", {"drafting": "annotations.drafting_services.reap_drafting"})
    run = drafting_services.create_run(dataset)
    now = timezone.now()
    died = now - timedelta(seconds=50)
    WorkerHeartbeat.objects.create(name="killed:9", started_at=died, last_seen=died)
    psoriasis = run.jobs.get(sample__label="psoriasis")
    DraftJob.objects.filter(run=run).update(enqueued_at=died - timedelta(seconds=1))
    DraftJob.objects.filter(pk=psoriasis.pk).update(updated_at=now)  # the run is still making progress
    DraftJob.objects.filter(run=run).exclude(pk=psoriasis.pk).update(enqueued_at=now)  # sent after the death
    DraftJob.objects.filter(pk=psoriasis.pk).update(enqueued_at=died - timedelta(seconds=1))
    sent.clear()
    assert reaper.reap_once() == {"drafting": 1}
    assert sent == [psoriasis.pk]
    assert not WorkerHeartbeat.objects.filter(name="killed:9").exists()  # mourned once
    sent.clear()
    assert reaper.reap_once() == {"drafting": 0} and sent == []


@pytest.mark.django_db
def test_a_waiting_backlog_is_not_sent_again_while_workers_are_busy(tmp_path, monkeypatch):
    """Queued messages behind another run's work are waiting, not lost: only when no drafting job anywhere
    has moved for a while are the old pending jobs sent again."""
    from annotations import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.draft_sample, "delay", lambda job_id: sent.append(job_id))
    dataset, _ = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", 1)])
    waiting = drafting_services.create_run(dataset)
    Sample.objects.update(state=Sample.State.NEW)
    busy = drafting_services.create_run(dataset)
    long_ago = timezone.now() - timedelta(minutes=10)
    DraftJob.objects.filter(run=waiting).update(updated_at=long_ago, enqueued_at=long_ago)
    DraftJob.objects.filter(run=busy).update(updated_at=long_ago, enqueued_at=long_ago)
    DraftJob.objects.filter(pk=busy.jobs.first().pk).update(state="running", worker="x", updated_at=timezone.now())
    sent.clear()
    assert drafting_services.reap_drafting() == 0 and sent == []
    DraftJob.objects.filter(run=busy).update(updated_at=long_ago)  # everything went quiet: lost, not waiting
    assert drafting_services.reap_drafting() == 3
    assert sorted(sent) == sorted(list(waiting.jobs.values_list("id", flat=True))
                                  + list(busy.jobs.filter(state="pending").values_list("id", flat=True)))
