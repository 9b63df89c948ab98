"""The drafting run page: its samples in a table filtered by state with counts, paged; throughput and ETA
while it runs; the same error once with its count; and the progress JSON the page polls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotations import selectors, services
from annotations.models import CaptionDraft, Dataset, DraftingRun, DraftJob, Sample
from annotations.tests.images import jpeg_bytes, write
from webapp.models import AccessEvent
from webapp.tests.browser_login import log_in

Job = DraftJob.State


def make_run(n_by_state: dict[str, int], *, run_state: str = DraftingRun.State.RUNNING,
             error: str = "LLM unavailable: connection refused", name: str = "Run page") -> DraftingRun:
    dataset = Dataset.objects.create(name=name, source="folder")
    run = DraftingRun.objects.create(dataset=dataset, prompt_version="t", state=run_state)
    i = 0
    for state, n in n_by_state.items():
        for _ in range(n):
            i += 1
            sample = Sample.objects.create(dataset=dataset, external_id=f"s{i:04d}", label=f"label {state}",
                                           state=Sample.State.DRAFTING)
            DraftJob.objects.create(run=run, sample=sample, state=state, attempts=2 if state != Job.PENDING else 0,
                                    error=error if state == Job.FAILED else "", enqueued_at=timezone.now())
    return run


def page_url(run: DraftingRun) -> str:
    return reverse("drafting-run", args=[run.pk])


def progress(client, run: DraftingRun, **params):
    return client.get(reverse("drafting-run-progress", args=[run.pk]), params)


def test_the_table_filters_by_state_and_the_chips_count_each_state(admin_client_role):
    run = make_run({Job.PENDING: 3, Job.RUNNING: 2, Job.AUTO_ACCEPTED: 4, Job.NEEDS_EXPERT: 1, Job.FAILED: 5})
    resp = admin_client_role.get(page_url(run), {"state": "failed"})
    assert resp.status_code == 200
    assert [j.state for j in resp.context["page"]] == ["failed"] * 5
    chips = {c["state"]: c["count"] for c in resp.context["chips"]}
    assert chips == {"": 15, "pending": 3, "running": 2, "auto_accepted": 4, "needs_expert": 1, "failed": 5,
                     "cancelled": 0}
    html = resp.content.decode()
    assert html.count('<tr data-job=') == 5 and "label failed" in html and "label pending" not in html
    assert 'href="?state=failed" class="chip chip-failed current"' in html

    body = progress(admin_client_role, run, state="needs_expert").json()
    assert [r["state"] for r in body["rows"]] == ["needs_expert"] and body["page"]["count"] == 1
    assert body["counts"]["auto_accepted"] == 4 and body["progress"]["done"] == 10


def test_each_row_links_its_sample_and_shows_thumbnail_attempts_and_last_reason(admin_client_role, tmp_path):
    write(tmp_path / "src" / "psoriasis" / "1.jpg", jpeg_bytes())
    services.import_folder("With image", tmp_path / "src", progress=False)
    sample = Sample.objects.get(external_id="psoriasis/1.jpg")
    run = DraftingRun.objects.create(dataset=sample.dataset, prompt_version="t", state=DraftingRun.State.SUCCEEDED)
    job = DraftJob.objects.create(run=run, sample=sample, state=Job.NEEDS_EXPERT, attempts=3)
    for attempt in (1, 2, 3):
        CaptionDraft.objects.create(sample=sample, job=job, attempt=attempt, prompt_version="t", drafter_model="m",
                                    diagnoses=["tinea corporis"], judge_category="sibling" if attempt == 3 else "unrelated")
    html = admin_client_role.get(page_url(run)).content.decode()
    row = html[html.index('<tr data-job='):html.index("</tr>", html.index('<tr data-job='))]
    review = reverse("review-sample", args=[sample.pk])
    assert f'href="{review}"' in row and reverse("sample-image", args=[sample.pk]) not in row
    assert reverse("sample-thumbnail", args=[sample.pk]) in row
    assert "attempt 3: diagnosis check sibling; inferred tinea corporis" in row
    assert '<td class="num">3</td>' in row

    body = progress(admin_client_role, run).json()
    assert body["rows"] == [{
        "id": job.pk, "token": f"{job.pk}.needs_expert.3", "sample_id": sample.pk, "label": "psoriasis",
        "external_id": "psoriasis/1.jpg", "state": "needs_expert", "state_display": "needs expert", "attempts": 3,
        "reason": "attempt 3: diagnosis check sibling; inferred tinea corporis",
        "thumbnail_url": reverse("sample-thumbnail", args=[sample.pk]), "image_hidden": False, "sample_url": review}]

    # Marked as showing identifying content: the lists keep its photo hidden (its own page still opens it).
    Sample.objects.filter(pk=sample.pk).update(identifying_content=True)
    html = admin_client_role.get(page_url(run)).content.decode()
    assert reverse("sample-thumbnail", args=[sample.pk]) not in html and "identifying · hidden" in html
    row, = progress(admin_client_role, run).json()["rows"]
    assert row["thumbnail_url"] is None and row["image_hidden"] is True
    listing = admin_client_role.get(reverse("sample-list", args=[sample.dataset_id])).content.decode()
    assert reverse("sample-thumbnail", args=[sample.pk]) not in listing and "image hidden" in listing


def test_throughput_and_eta_while_running(admin_client_role):
    run = make_run({Job.PENDING: 30, Job.AUTO_ACCEPTED: 10, Job.NEEDS_EXPERT: 5, Job.CANCELLED: 40})
    now = timezone.now()
    DraftingRun.objects.filter(pk=run.pk).update(created_at=now - timedelta(minutes=30))
    # 10 finished within the 5-minute window, 5 long before it; cancelled jobs are no throughput.
    DraftJob.objects.filter(run=run, state=Job.AUTO_ACCEPTED).update(updated_at=now - timedelta(minutes=2))
    DraftJob.objects.filter(run=run, state__in=[Job.NEEDS_EXPERT, Job.CANCELLED]).update(
        updated_at=now - timedelta(minutes=20))
    body = progress(admin_client_role, run).json()
    assert body["active"] is True
    assert body["throughput"]["per_minute"] == pytest.approx(2.0, rel=0.01)  # 10 in 5 min
    assert body["throughput"]["basis"] == "last 5 min"
    assert body["eta_s"] == pytest.approx(900, rel=0.01)  # 30 waiting at 2/min
    assert body["eta_text"] == "about 15 min"
    html = admin_client_role.get(page_url(run)).content.decode()
    assert 'id="run-throughput" data-live-text="throughput.text">2.0<' in html and "about 15 min" in html


def test_eta_waits_for_the_first_samples_and_a_finished_run_shows_its_average(admin_client_role):
    run = make_run({Job.PENDING: 4})
    body = progress(admin_client_role, run).json()
    assert body["throughput"]["per_minute"] is None and body["eta_s"] is None
    assert body["eta_text"] == "after the first samples finish"

    done = make_run({Job.AUTO_ACCEPTED: 6}, run_state=DraftingRun.State.SUCCEEDED, name="Done")
    start = timezone.now() - timedelta(minutes=3)
    DraftingRun.objects.filter(pk=done.pk).update(created_at=start, finished_at=start + timedelta(minutes=2))
    body = progress(admin_client_role, done).json()
    assert body["active"] is False and body["eta_s"] is None and body["can_cancel"] is False
    assert body["throughput"] == {"per_minute": 3.0, "basis": "whole run", "text": "3.0"}
    html = admin_client_role.get(page_url(done)).content.decode()
    assert 'data-active="0"' in html and 'id="run-eta-box" data-live-show="active" hidden' in html


def test_identical_errors_are_one_line_with_their_count(admin_client_role):
    run = make_run({Job.FAILED: 12, Job.AUTO_ACCEPTED: 1}, run_state=DraftingRun.State.PARTIALLY_FAILED)
    jobs = list(DraftJob.objects.filter(run=run, state=Job.FAILED).order_by("id"))
    # Two more failures that differ only by a number are the same problem; one other is its own line.
    DraftJob.objects.filter(pk=jobs[0].pk).update(error="the image file media/12.jpg is missing on the server")
    DraftJob.objects.filter(pk=jobs[1].pk).update(error="the image file media/13.jpg is missing on the server")
    DraftJob.objects.filter(pk=jobs[2].pk).update(error="unexpected error: KeyError: 'x'")
    groups = selectors.drafting_error_groups(run)
    assert [(g["count"], g["error"]) for g in groups] == [
        (9, "LLM unavailable: connection refused"),
        (2, "the image file media/12.jpg is missing on the server"),
        (1, "unexpected error: KeyError: 'x'")]
    html = admin_client_role.get(page_url(run)).content.decode()
    errors = html[html.index('id="run-errors"'):html.index("</ul>", html.index('id="run-errors"'))]
    assert errors.count("LLM unavailable: connection refused") == 1 and "<b>9 samples</b>" in errors
    assert "12 samples" not in errors and "3 of 13 samples" not in html
    assert "12 of 13 samples failed to draft" in html
    body = progress(admin_client_role, run).json()
    assert [g["count"] for g in body["errors"]] == [9, 2, 1]
    assert body["errors"][0]["sample_url"] == reverse("review-sample", args=[jobs[3].sample_id])


def test_error_groups_are_capped_with_a_remainder(db):
    run = make_run({Job.FAILED: 14}, run_state=DraftingRun.State.FAILED)
    for i, job in enumerate(DraftJob.objects.filter(run=run).order_by("id")):
        DraftJob.objects.filter(pk=job.pk).update(error=f"distinct failure {'abcdefghijklmn'[i]}")
    groups = selectors.drafting_error_groups(run, limit=10)
    assert len(groups) == 11 and groups[-1] == {"error": "4 other errors", "count": 4, "sample_id": None}


@pytest.mark.parametrize("params, bad, status", [
    ({"state": "done"}, "“done” is not a job state: use one of pending, running, auto_accepted, needs_expert, "
                        "failed, cancelled.", 400),
    ({"page": "two"}, "“two” is not a page number", 400),
    ({"page": "0"}, "there is no page before 1", 400),
    ({"page": "9"}, "there is no page 9; the list has 1 page, so page 1 is shown.", 400),
])
def test_a_bad_state_or_page_is_named_not_a_500(admin_client_role, params, bad, status):
    run = make_run({Job.PENDING: 2, Job.FAILED: 1})
    resp = admin_client_role.get(page_url(run), params)
    assert resp.status_code == status
    html = resp.content.decode()
    assert 'id="filter-errors"' in html and bad in html
    assert html.count("<tr data-job=") == 3  # the table still shows, unfiltered


def test_the_progress_json_refuses_a_bad_state_and_clamps_a_page(admin_client_role):
    run = make_run({Job.PENDING: 2})
    resp = progress(admin_client_role, run, state="done")
    assert resp.status_code == 400 and "“done” is not a job state" in resp.json()["state"][0]
    body = progress(admin_client_role, run, page="7").json()
    assert body["page"]["number"] == 1 and "there is no page 7" in body["page"]["notice"]
    assert progress(admin_client_role, run, page="x").status_code == 400


def test_pages_keep_the_state_filter(admin_client_role):
    run = make_run({Job.FAILED: 120, Job.PENDING: 5})
    resp = admin_client_role.get(page_url(run), {"state": "failed", "page": "2"})
    assert resp.status_code == 200 and resp.context["page"].number == 2
    assert len(resp.context["page"].object_list) == 50
    html = resp.content.decode()
    assert 'href="?state=failed&amp;page=3"' in html and 'href="?state=failed&amp;page=1"' in html
    assert '<input type="hidden" name="state" value="failed">' in html
    body = progress(admin_client_role, run, state="failed", page="3").json()
    assert body["page"]["num_pages"] == 3 and len(body["page"]["ids"]) == 20


def test_unchanged_rows_are_not_resent_nor_recorded_again(admin_client_role):
    run = make_run({Job.PENDING: 3})
    first = progress(admin_client_role, run).json()
    assert len(first["rows"]) == 3
    events = AccessEvent.objects.filter(action=AccessEvent.Action.SAMPLE_LIST).count()
    have = ",".join(r["token"] for r in first["rows"])
    assert progress(admin_client_role, run, have=have).json()["rows"] == []
    assert AccessEvent.objects.filter(action=AccessEvent.Action.SAMPLE_LIST).count() == events
    moved = DraftJob.objects.filter(run=run).order_by("id").first()
    DraftJob.objects.filter(pk=moved.pk).update(state=Job.RUNNING)
    again = progress(admin_client_role, run, have=have).json()
    assert [(r["id"], r["state"]) for r in again["rows"]] == [(moved.pk, "running")]
    assert AccessEvent.objects.filter(action=AccessEvent.Action.SAMPLE_LIST).count() == events + 1


def test_a_poll_costs_a_few_queries_whatever_the_run_size(admin_client_role, django_assert_max_num_queries):
    run = make_run({Job.PENDING: 40, Job.FAILED: 40, Job.AUTO_ACCEPTED: 40})
    progress(admin_client_role, run)  # warm the session and role caches of the first request
    # session, user, roles, the run; then counts, rows, errors; the audit insert in its savepoint (3 statements)
    with django_assert_max_num_queries(10):
        assert progress(admin_client_role, run).status_code == 200


def test_cancel_and_resume_from_the_page(admin_client_role):
    run = make_run({Job.PENDING: 2})
    resp = admin_client_role.post(page_url(run) + "?state=pending", {"action": "cancel"})
    assert resp.status_code == 302 and resp["Location"] == page_url(run) + "?state=pending"
    run.refresh_from_db()
    assert run.state == DraftingRun.State.CANCELLED
    page = admin_client_role.get(page_url(run)).content.decode()
    assert 'id="run-cancel" data-live-show="can_cancel" hidden' in page
    assert 'id="run-resume" data-live-show="can_resume" >' in page or 'id="run-resume" data-live-show="can_resume">' in page
    resp = admin_client_role.post(page_url(run), {"action": "explode"}, follow=True)
    assert "“explode” is not something a run can do: use cancel or resume." in resp.content.decode()


def test_the_page_and_its_json_are_for_admins(derm_client, no_role_user, client):
    run = make_run({Job.FAILED: 1})
    assert derm_client.get(page_url(run)).status_code == 403
    assert progress(derm_client, run).status_code == 403
    client.logout()
    assert progress(client, run).status_code in (401, 403)
    assert client.get(page_url(run)).status_code == 302


# ---- in a real browser ------------------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_run_page_follows_the_run_live_without_reloading(browser, live_server, admin_user):
    run = make_run({Job.PENDING: 4})
    DraftingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    jobs = list(DraftJob.objects.filter(run=run).order_by("id"))
    page = log_in(browser.new_context(viewport={"width": 1400, "height": 900}), live_server.url, admin_user.username)
    page.goto(live_server.url + page_url(run))
    assert page.inner_text("#run-counts").startswith("0/4 done")
    page.evaluate("window.__notReloaded = 42")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    now = timezone.now()
    DraftJob.objects.filter(pk__in=[jobs[0].pk, jobs[1].pk]).update(state=Job.AUTO_ACCEPTED, attempts=1, updated_at=now)
    DraftJob.objects.filter(pk=jobs[2].pk).update(state=Job.FAILED, attempts=2, updated_at=now,
                                                  error="LLM unavailable: connection refused")
    page.wait_for_function("document.getElementById('run-counts').textContent.startsWith('3/4 done')", timeout=15_000)
    failed_row = page.locator(f'tr[data-job="{jobs[2].pk}"]')
    assert failed_row.locator(".jobstate").inner_text() == "failed"
    assert failed_row.locator("td.reason").inner_text() == "LLM unavailable: connection refused"
    assert page.locator("#run-errors li").inner_text().startswith("1 sample: LLM unavailable: connection refused")
    assert page.locator("a.chip-failed b").inner_text() == "1"
    assert page.inner_text("#run-throughput") != "—"  # 3 finished just now: a rate, and an ETA for the last one
    assert page.evaluate("window.__notReloaded") == 42
    polls = [u for u in requests if "/progress/" in u]
    assert polls and all(f"{jobs[3].pk}.pending.0" in u for u in polls)  # the page says which rows it has

    DraftJob.objects.filter(pk=jobs[3].pk).update(state=Job.NEEDS_EXPERT, attempts=5, updated_at=timezone.now())
    DraftingRun.objects.filter(pk=run.pk).update(state=DraftingRun.State.PARTIALLY_FAILED, finished_at=timezone.now())
    page.wait_for_function("document.getElementById('run-state').textContent === 'partially failed'", timeout=15_000)
    assert page.is_hidden("#run-cancel") and page.is_visible("#run-resume") and page.is_visible("#run-failed")
    assert page.is_hidden("#run-eta-box")
    assert page.locator(f'tr[data-job="{jobs[3].pk}"] .jobstate').inner_text() == "needs expert"
    assert page.evaluate("window.__notReloaded") == 42
    assert "finished" in page.inner_text("[data-live-status]")
    # No polling after the end.
    before = len([u for u in requests if "/progress/" in u])
    page.wait_for_timeout(4500)
    assert len([u for u in requests if "/progress/" in u]) == before
