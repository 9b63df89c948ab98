"""The access audit trail: every view, change and export is recorded with who, what, when and from where;
the trail is append-only, pruned by retention only, never blocks a request, and the admin page filters it
and exports the filtered list as CSV."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from annotations.models import CaptionDraft, Dataset, Sample
from annotations.tests.images import jpeg_bytes, write
from annotations.tests.scripted_llm import caption_json
from evaluation.models import EvalItem, EvalRun
from webapp import audit, reaper
from webapp.models import AccessEvent, AppendOnlyError
from webapp.roles import ADMIN, DERMATOLOGIST, grant_role

A = AccessEvent.Action


def _sample(name: str = "Clinic", n: int = 1, state: str = Sample.State.NEEDS_EXPERT) -> list[Sample]:
    dataset = Dataset.objects.create(name=name, source=Dataset.Source.FOLDER)
    samples = []
    for i in range(n):
        rel = f"audit/{name}-{i}.jpg"
        write(Path(settings.MEDIA_ROOT) / rel, jpeg_bytes(size=(40 + i, 30)))
        samples.append(Sample.objects.create(dataset=dataset, external_id=f"p{i}", label="psoriasis", image=rel,
                                             state=state, split=Sample.Split.TEST))
    return samples


def _staff_admin(username: str = "auditor"):
    user = get_user_model().objects.create_user(username=username, password="correct horse battery", is_staff=True)
    grant_role(user, ADMIN)
    return user


# --- the service -----------------------------------------------------------------------------------------


def test_record_keeps_who_what_when_and_where(dermatologist, settings):
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 0
    sample = _sample()[0]
    request = RequestFactory().get(f"/api/samples/{sample.pk}/image/", REMOTE_ADDR="198.51.100.7",
                                   HTTP_USER_AGENT="Firefox/140", HTTP_X_FORWARDED_FOR="6.6.6.6")
    request.user = dermatologist
    before = timezone.now()
    assert audit.record(request, A.IMAGE_VIEW, sample, size="full")
    event = AccessEvent.objects.get()
    assert (event.user_id, event.username, event.action) == (dermatologist.pk, "derm", "image.view")
    assert (event.object_type, event.object_id, event.sample_id) == ("annotations.sample", str(sample.pk), sample.pk)
    assert event.channel == "api" and event.method == "GET" and event.path == f"/api/samples/{sample.pk}/image/"
    # X-Forwarded-For is anyone's to write: without a trusted proxy it is ignored.
    assert event.ip == "198.51.100.7" and event.user_agent == "Firefox/140"
    assert event.detail == {"size": "full"} and before <= event.created_at <= timezone.now()


def test_the_trail_and_the_throttle_share_one_address_rule_without_the_login_machinery():
    import inspect

    from webapp import auth_views, net

    # One rule (webapp.net), imported by both; the audit module no longer imports DRF/knox/axes to apply it.
    assert auth_views.client_ip is net.client_ip and settings.AXES_CLIENT_IP_CALLABLE == "webapp.net.client_ip"
    assert "auth_views" not in inspect.getsource(audit)


def test_forwarded_for_is_trusted_only_through_the_configured_proxies(settings, db):
    factory = RequestFactory()
    # The client forged the first entry; the one trusted proxy appended the address it really saw.
    request = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 0  # no proxy in front: the header is ignored
    assert audit.client_ip(request) == "10.0.0.2"
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 1
    assert audit.client_ip(request) == "203.0.113.9"
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 2
    assert audit.client_ip(request) == "6.6.6.6"
    # Garbage in the header falls back to the socket's address instead of storing it.
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 1
    assert audit.client_ip(factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="<script>")) == "10.0.0.2"
    # A peer that is no IP address (a unix socket) is stored as no address, and the event is still written.
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 0
    request = factory.get("/", REMOTE_ADDR="")
    request.user = AnonymousUser()
    assert audit.client_ip(request) is None and audit.record(request, A.SAMPLE_VIEW, sample_id=1)


def test_the_event_outlives_the_user_and_the_sample(dermatologist):
    sample = _sample()[0]
    request = RequestFactory().get("/x")
    request.user = dermatologist
    audit.record(request, A.SAMPLE_VIEW, sample)
    user_id, sample_id = dermatologist.pk, sample.pk
    dermatologist.delete()
    sample.delete()
    event = AccessEvent.objects.get()
    assert (event.user_id, event.username, event.sample_id) == (user_id, "derm", sample_id)


def test_a_command_records_who_ran_it(db):
    audit.record(None, A.DATASET_IMPORT, command="import_folder")
    event = AccessEvent.objects.get()
    assert event.channel == "command" and event.username == "" and event.ip is None
    assert "os_user" in event.detail and event.detail["command"] == "import_folder"


# --- append-only ---------------------------------------------------------------------------------------


def test_events_cannot_be_changed_or_deleted(dermatologist):
    request = RequestFactory().get("/x")
    request.user = dermatologist
    audit.record(request, A.SAMPLE_VIEW, sample_id=5)
    event = AccessEvent.objects.get()
    event.username = "someone else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.filter(pk=event.pk).update(username="someone else")
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError), transaction.atomic():  # bulk_update raises inside its own atomic
        AccessEvent.objects.bulk_update([event], ["username"])
    # Below the ORM the database refuses too (a trigger), so raw SQL cannot rewrite history either.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE webapp_accessevent SET username = 'someone else'")
    assert AccessEvent.objects.get().username == "derm"


def test_retention_prunes_only_old_events_from_the_reaper_loop_and_the_command(db, settings):
    now = timezone.now()
    for days in (3000, 2191, 10):
        AccessEvent.objects.create(action=A.SAMPLE_VIEW, channel="page", created_at=now - timedelta(days=days))
    assert reaper.registered()["audit-retention"] == "webapp.audit.reap_expired"
    audit._last_prune = None
    assert reaper.reap_once()["audit-retention"] == 2  # default 2190 days
    assert list(AccessEvent.objects.values_list("created_at", flat=True)) == [now - timedelta(days=10)]
    assert audit.reap_expired() == 0  # at most once an hour per process
    settings.SKINFLOW_AUDIT_RETENTION_DAYS = 0  # keep for ever
    assert audit.prune_expired(now + timedelta(days=100_000)) == 0
    settings.SKINFLOW_AUDIT_RETENTION_DAYS = 5
    out = io.StringIO()
    call_command("prune_access_events", stdout=out)
    assert "Removed 1 access event(s) older than 5 days" in out.getvalue()
    assert not AccessEvent.objects.exists()


# --- a failed write never blocks the request ----------------------------------------------------------


def test_a_failed_write_is_logged_and_leaves_the_callers_transaction_usable(dermatologist, caplog):
    request = RequestFactory().get("/x")
    request.user = dermatologist
    with transaction.atomic():
        # A real database error (the action is longer than its column): without the savepoint the
        # outer transaction would be broken and the next query would fail.
        with caplog.at_level(logging.ERROR, logger="webapp.audit"):
            assert audit.record(request, "x" * 100, sample_id=1) is False
        assert get_user_model().objects.filter(username="derm").exists()
        Dataset.objects.create(name="still writable", source=Dataset.Source.FOLDER)
    assert Dataset.objects.filter(name="still writable").exists()
    assert "audit write failed" in caplog.text and "derm" in caplog.text
    assert not AccessEvent.objects.exists()


def test_the_image_is_served_when_the_audit_table_is_unwritable(derm_client, monkeypatch, caplog):
    sample = _sample()[0]

    def refuse(self, objs, *args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(type(AccessEvent.objects.all()), "bulk_create", refuse)
    with caplog.at_level(logging.ERROR, logger="webapp.audit"):
        response = derm_client.get(f"/samples/{sample.pk}/image/")
    assert response.status_code == 200 and b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    assert "audit write failed: 1 event(s) image.view by derm" in caplog.text


# --- what the views record ----------------------------------------------------------------------------


def test_pages_record_sample_views_images_thumbnails_and_lists(derm_client, dermatologist):
    samples = _sample(n=3)
    assert derm_client.get(f"/samples/{samples[0].pk}/image/").status_code == 200
    assert derm_client.get(f"/samples/{samples[0].pk}/thumbnail/").status_code == 200
    assert derm_client.get(f"/review/samples/{samples[1].pk}/").status_code == 200
    assert derm_client.get(f"/datasets/{samples[0].dataset_id}/samples/").status_code == 200
    rows = list(AccessEvent.objects.order_by("id").values_list("action", "sample_id", "channel", "username"))
    assert rows[:3] == [("image.view", samples[0].pk, "page", "derm"),
                        ("image.thumbnail", samples[0].pk, "page", "derm"),
                        ("sample.view", samples[1].pk, "page", "derm")]
    # A list page: one event per sample shown, written together.
    assert sorted(r[1] for r in rows[3:]) == [s.pk for s in samples] and {r[0] for r in rows[3:]} == {"sample.list"}
    # A refused request (no such sample) records nothing.
    assert derm_client.get("/samples/999999/image/").status_code == 404
    assert AccessEvent.objects.count() == 6


def test_api_reads_and_review_changes_are_recorded_as_api(dermatologist):
    sample = _sample()[0]
    CaptionDraft.objects.create(sample=sample, attempt=1, prompt_version="t", drafter_model="m",
                                caption=json.loads(caption_json("")))
    api = APIClient()
    api.force_authenticate(dermatologist)
    assert api.get(f"/api/samples/{sample.pk}/").status_code == 200
    assert api.get(f"/api/samples/{sample.pk}/image/").status_code == 200
    assert api.get("/api/samples/").status_code == 200
    claimed = api.post("/api/review/samples/next/").json()
    assert claimed["id"] == sample.pk
    caption = {**claimed["caption"], "color": "salmon pink"}
    saved = api.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": caption, "base_version": 0},
                     format="json")
    assert saved.status_code == 201, saved.content
    refused = api.post(f"/api/review/samples/{sample.pk}/reject/", {"reason": "nonsense"}, format="json")
    assert refused.status_code == 400  # a refused change is not a change: nothing recorded
    rows = list(AccessEvent.objects.order_by("id").values_list("action", "sample_id", "channel", "object_type"))
    assert rows == [("sample.view", sample.pk, "api", "annotations.sample"),
                    ("image.view", sample.pk, "api", "annotations.sample"),
                    ("sample.list", sample.pk, "api", ""),
                    ("review.claim", sample.pk, "api", "annotations.sample"),
                    ("review.save", sample.pk, "api", "annotations.captionrevision")]
    assert AccessEvent.objects.get(action="review.save").detail == {"version": 1}


def test_evaluation_exports_and_overrules_are_recorded(admin_client_role, admin_user):
    sample = _sample(state=Sample.State.EXPERT_ACCEPTED)[0]
    run = EvalRun.objects.create(name="r", model_name="m", dataset=sample.dataset, test_set="t")
    item = EvalItem.objects.create(run=run, sample=sample, external_id="p0", reference="psoriasis")
    for url in (f"/evaluation/runs/{run.pk}/predictions.csv", f"/evaluation/runs/{run.pk}/metrics.json",
                f"/evaluation/runs/{run.pk}/overrules.json", "/evaluation/leaderboard.csv",
                f"/evaluation/items/{item.pk}/", f"/evaluation/runs/{run.pk}/samples/"):
        assert admin_client_role.get(url).status_code == 200, url
    exports = AccessEvent.objects.filter(action="eval.export").order_by("id")
    assert [e.detail["export"] for e in exports] == ["predictions.csv", "metrics.json", "overrules.json",
                                                     "leaderboard.csv"]
    assert exports[0].object_type == "evaluation.evalrun" and exports[0].object_id == str(run.pk)
    assert AccessEvent.objects.get(action="sample.view").sample_id == sample.pk
    assert AccessEvent.objects.get(action="sample.list").sample_id == sample.pk


# --- the admin page ---------------------------------------------------------------------------------------


@pytest.fixture
def events(db):
    derm = get_user_model().objects.create_user(username="derm", password="correct horse battery")
    other = get_user_model().objects.create_user(username="nurse", password="correct horse battery")
    factory = RequestFactory()
    for user, action, sample_id in ((derm, A.IMAGE_VIEW, 7), (derm, A.REVIEW_SAVE, 7), (other, A.IMAGE_VIEW, 7),
                                    (derm, A.IMAGE_VIEW, 8), (derm, A.IMAGE_VIEW, 77)):
        request = factory.get("/x", REMOTE_ADDR="192.0.2.1")
        request.user = user
        audit.record(request, action, sample_id=sample_id)


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_the_admin_page_filters_and_exports_the_filtered_list(client, events):
    client.force_login(_staff_admin())
    page = client.get("/admin/webapp/accessevent/", {"sample": "7", "action__exact": "image.view"})
    assert page.status_code == 200
    shown = list(page.context["cl"].result_list)
    assert sorted(e.username for e in shown) == ["derm", "nurse"] and {e.sample_id for e in shown} == {7}
    assert b'id="audit-export-csv"' in page.content and b"action__exact=image.view" in page.content
    one_user = client.get("/admin/webapp/accessevent/", {"sample": "7", "username": "derm"})
    assert sorted(e.action for e in one_user.context["cl"].result_list) == ["image.view", "review.save"]
    # Searching an exact sample id does not match 77.
    searched = client.get("/admin/webapp/accessevent/", {"q": "7", "username": "derm"})
    assert {e.sample_id for e in searched.context["cl"].result_list} == {7}

    export = client.get("/admin/webapp/accessevent/export.csv", {"sample": "7", "action__exact": "image.view"})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    rows = _csv(export)
    assert sorted(r["username"] for r in rows) == ["derm", "nurse"]
    assert {r["sample_id"] for r in rows} == {"7"} and {r["ip"] for r in rows} == {"192.0.2.1"}
    # Downloading the trail is itself recorded.
    assert AccessEvent.objects.get(action="audit.export").username == "auditor"


def test_bad_filter_values_get_a_message_not_a_500(client, events):
    client.force_login(_staff_admin())
    page = client.get("/admin/webapp/accessevent/", {"sample": "seven"})
    assert page.status_code == 200 and not page.context["cl"].result_list
    assert b"Sample id must be a whole number" in page.content
    assert client.get("/admin/webapp/accessevent/", {"q": "not-a-number"}).status_code == 200
    refused = client.get("/admin/webapp/accessevent/export.csv", {"created_at__year": "x"})
    assert refused.status_code == 400 and b"choose the filters there" in refused.content


def test_only_admins_see_the_trail_and_nobody_edits_it(client, events):
    derm_staff = get_user_model().objects.create_user(username="derm-staff", password="x", is_staff=True)
    grant_role(derm_staff, DERMATOLOGIST)
    client.force_login(derm_staff)
    assert client.get("/admin/webapp/accessevent/").status_code == 403
    assert client.get("/admin/webapp/accessevent/export.csv").status_code == 403
    client.force_login(_staff_admin())
    event = AccessEvent.objects.first()
    detail = client.get(f"/admin/webapp/accessevent/{event.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content  # read-only view
    assert client.post(f"/admin/webapp/accessevent/{event.pk}/change/", {"username": "x"}).status_code == 403
    assert client.post(f"/admin/webapp/accessevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/webapp/accessevent/add/").status_code == 403
    assert AccessEvent.objects.get(pk=event.pk).username == event.username


# --- the acceptance line, in a browser ---------------------------------------------------------------------


def _log_in(context, base: str, username: str):
    page = context.new_page()
    page.goto(base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return page


def _shown(page) -> list[tuple[str, str, str]]:
    """(username, action, sample id) of each row the admin changelist shows."""
    rows = page.locator("#result_list tbody tr")
    out = []
    for i in range(rows.count()):
        cells = rows.nth(i)
        out.append((cells.locator("td.field-username").inner_text().strip(),
                    cells.locator("td.field-action").inner_text().strip(),
                    cells.locator("td.field-sample_id").inner_text().strip()))
    return out


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_views_and_saves_are_in_the_trail_and_the_admin_filters_them(browser, live_server, tmp_path):
    sample, other = _sample("Audit UI", n=2)
    CaptionDraft.objects.create(sample=sample, attempt=1, prompt_version="t", drafter_model="m",
                                caption=json.loads(caption_json("")))
    derm = get_user_model().objects.create_user(username="derm", password="correct horse battery")
    grant_role(derm, DERMATOLOGIST)
    admin = _staff_admin("auditor")
    # Noise the filters must leave out: another person on the same sample, the same person on another.
    factory = RequestFactory()
    for user, sid in ((admin, sample.pk), (derm, other.pk)):
        request = factory.get("/x")
        request.user = user
        audit.record(request, A.IMAGE_VIEW, sample_id=sid)

    # The dermatologist opens the sample page, the image loads, a revision is saved.
    page = _log_in(browser.new_context(), live_server.url, "derm")
    page.goto(f"{live_server.url}/review/samples/{sample.pk}/")
    page.wait_for_function("document.getElementById('viewer-img').naturalWidth === 40")
    page.fill("#f-color", "salmon pink")
    page.click("#btn-save")
    page.locator("#history li", has_text="revision saved").wait_for()
    page.context.close()
    derm_events = set(AccessEvent.objects.filter(username="derm", sample_id=sample.pk)
                      .values_list("action", "channel"))
    assert {("sample.view", "page"), ("image.view", "page"), ("review.save", "api")} <= derm_events

    # The admin opens the audit page and narrows it down: sample, then user, then action.
    admin_page = _log_in(browser.new_context(accept_downloads=True), live_server.url, "auditor")
    admin_page.goto(live_server.url + "/admin/webapp/accessevent/")
    admin_page.fill("#audit-filter-sample", str(sample.pk))
    with admin_page.expect_navigation():
        admin_page.locator("form.audit-input-filter button[type=submit]").click()
    by_sample = _shown(admin_page)
    assert {u for u, _, _ in by_sample} == {"derm", "auditor"} and {s for _, _, s in by_sample} == {str(sample.pk)}
    with admin_page.expect_navigation():
        admin_page.locator("details[data-filter-title='username'] a", has_text="derm").click()
    by_user = _shown(admin_page)
    assert {u for u, _, _ in by_user} == {"derm"} and {s for _, _, s in by_user} == {str(sample.pk)}
    assert {"viewed a sample page", "viewed the image", "saved a caption revision"} <= {a for _, a, _ in by_user}
    with admin_page.expect_navigation():
        admin_page.locator("details[data-filter-title='action'] a", has_text="saved a caption revision").click()
    assert _shown(admin_page) == [("derm", "saved a caption revision", str(sample.pk))]
    # The sample box keeps the other filters; the CSV carries exactly what the page shows.
    assert admin_page.input_value("#audit-filter-sample") == str(sample.pk)
    with admin_page.expect_download() as download:
        admin_page.click("#audit-export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["username"], r["action"], r["sample_id"], r["channel"]) for r in rows] == [
        ("derm", "review.save", str(sample.pk), "api")]
    assert rows[0]["ip"] == "127.0.0.1" and "Chrome" in rows[0]["user_agent"]


def test_overrules_snapshots_and_imports_are_recorded(derm_client, admin_user, settings, tmp_path):
    from evaluation.tests.test_eval_overrules import finished_run
    from training.tests.test_training_services import base_folder, dataset_with

    run = finished_run()
    item = run.items.get(external_id="s2")
    url = f"/evaluation/items/{item.pk}/overrule/"
    assert derm_client.post(url, {"rank": 1, "category": "exact"}).status_code == 302
    assert derm_client.post(url, {"rank": 1, "withdraw": "1"}).status_code == 302
    overrules = AccessEvent.objects.filter(action__startswith="eval.overrule").order_by("id")
    assert [(e.action, e.sample_id, e.username, e.detail["rank"]) for e in overrules] == [
        ("eval.overrule", item.sample_id, "derm", 1), ("eval.overrule_withdraw", item.sample_id, "derm", 1)]

    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    dataset = dataset_with(settings, name="Snap")
    api = APIClient()
    api.force_authenticate(admin_user)
    launched = api.post("/api/training/runs/", {
        "name": "api", "stage": "I", "dataset": dataset.pk, "base_model_path": base_folder(tmp_path),
        "hyperparameters": {"max_steps": 2}}, format="json")
    assert launched.status_code == 201, launched.content
    snapshot = AccessEvent.objects.get(action="snapshot.create")
    assert snapshot.object_type == "training.datasetsnapshot" and snapshot.username == "boss"
    assert snapshot.detail == {"run": launched.json()["id"], "rows": 2} and snapshot.channel == "api"
    # A second launch on the same data reuses the (pending) snapshot: the launch is recorded, no new export.
    again = api.post("/api/training/runs/", {
        "name": "api-again", "stage": "I", "dataset": dataset.pk, "base_model_path": base_folder(tmp_path),
        "hyperparameters": {"max_steps": 2}}, format="json")
    assert again.status_code == 201, again.content
    assert AccessEvent.objects.filter(action="snapshot.create").count() == 1
    launches = AccessEvent.objects.filter(action="training.launch").order_by("id")
    assert [(e.object_id, e.detail["snapshot"], e.detail["snapshot_created"]) for e in launches] == [
        (str(launched.json()["id"]), int(snapshot.object_id), True),
        (str(again.json()["id"]), int(snapshot.object_id), False)]

    write(tmp_path / "src" / "psoriasis" / "a.jpg", jpeg_bytes())
    call_command("import_folder", "Imported", "--folder", str(tmp_path / "src"), "--no-progress", stdout=io.StringIO())
    imported = AccessEvent.objects.get(action="dataset.import")
    assert imported.channel == "command" and imported.detail["command"] == "import_folder"
    assert imported.detail["created"] == 1


def test_reject_reopen_skip_and_bulk_accept_are_recorded(dermatologist, admin_user):
    samples = _sample(n=3)
    derm, boss = APIClient(), APIClient()
    derm.force_authenticate(dermatologist)
    boss.force_authenticate(admin_user)
    first = derm.post("/api/review/samples/next/").json()["id"]
    rejected = derm.post(f"/api/review/samples/{first}/reject/", {"reason": "unusable_image"}, format="json")
    assert rejected.status_code == 200
    assert boss.post(f"/api/review/samples/{first}/reopen/", {"note": "fine"}, format="json").status_code == 200
    second = derm.post("/api/review/samples/next/").json()["id"]
    assert derm.post(f"/api/review/samples/{second}/skip/").status_code == 204
    ids = [s.pk for s in samples]
    assert boss.post("/api/review/samples/bulk-accept/", {"sample_ids": ids}, format="json").status_code == 200
    changes = [(e.action, e.sample_id, e.username) for e in AccessEvent.objects.exclude(action="review.claim")
               .order_by("id")]
    assert changes[:3] == [("review.reject", first, "derm"), ("review.reopen", first, "boss"),
                           ("review.skip", second, "derm")]
    # Bulk accept: one event per sample asked for, with what the service did (no drafts here: none taken).
    assert sorted(c[1] for c in changes[3:]) == ids and {c[0] for c in changes[3:]} == {"review.bulk_accept"}
    assert AccessEvent.objects.filter(action="review.bulk_accept").first().detail == {"accepted": 0, "skipped": 3}
    assert AccessEvent.objects.get(action="review.reject").detail == {"reason": "unusable_image"}


def test_drafting_runs_started_and_resumed_are_recorded_from_page_and_api(admin_client_role, admin_user):
    """Drafting sends every selected photo of a dataset to the drafting endpoint (possibly hosted): starting
    and resuming a run are in the trail like an evaluation run, with the dataset and the job count."""
    from annotations.models import DraftingRun

    samples = _sample(name="Drafted", n=2, state=Sample.State.NEW)
    dataset_id = samples[0].dataset_id
    api = APIClient()
    api.force_authenticate(admin_user)
    created = api.post("/api/drafting-runs/", {"dataset": dataset_id}, format="json")
    assert created.status_code == 201, created.content
    api_run = created.json()["id"]
    assert api.post(f"/api/drafting-runs/{api_run}/resume/").status_code == 200
    # A refused start (nothing left to draft) sends nothing and records nothing.
    assert api.post("/api/drafting-runs/", {"dataset": dataset_id}, format="json").status_code == 400
    assert admin_client_role.post("/review/runs/start/", {"dataset": dataset_id}).status_code == 302

    _sample(name="Paged", n=3, state=Sample.State.NEW)
    paged_dataset = Dataset.objects.get(name="Paged").pk
    assert admin_client_role.post("/review/runs/start/", {"dataset": paged_dataset}).status_code == 302
    page_run = DraftingRun.objects.get(dataset_id=paged_dataset).pk
    assert admin_client_role.post(f"/review/runs/{page_run}/", {"action": "resume"}).status_code == 302

    rows = [(e.action, e.object_type, e.object_id, e.channel, e.username, e.detail)
            for e in AccessEvent.objects.filter(action__startswith="drafting.").order_by("id")]
    assert rows == [
        ("drafting.run_create", "annotations.draftingrun", str(api_run), "api", "boss", {"dataset": dataset_id, "jobs": 2}),
        ("drafting.resume", "annotations.draftingrun", str(api_run), "api", "boss", {"dataset": dataset_id, "jobs": 2}),
        ("drafting.run_create", "annotations.draftingrun", str(page_run), "page", "boss",
         {"dataset": paged_dataset, "jobs": 3}),
        ("drafting.resume", "annotations.draftingrun", str(page_run), "page", "boss",
         {"dataset": paged_dataset, "jobs": 3}),
    ]
    assert AccessEvent.objects.filter(action="drafting.run_create").first().get_action_display() == \
        "started a drafting run"


def test_scrub_media_records_one_command_event_per_run(db, settings, tmp_path):
    from annotations.tests.test_deidentify import KINDS, _store_the_old_way

    dataset = Dataset.objects.create(name="Old", source=Dataset.Source.FOLDER)
    _store_the_old_way(dataset, Path(settings.MEDIA_ROOT))
    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    call_command("scrub_media", no_progress=True, stdout=io.StringIO())
    call_command("scrub_media", no_progress=True, skip_snapshots=True, stdout=io.StringIO())  # idempotent rerun
    events = list(AccessEvent.objects.order_by("id"))
    assert [(e.action, e.channel, e.username, e.ip) for e in events] == [("media.scrub", "command", "", None)] * 2
    first, second = (e.detail for e in events)
    assert first["command"] == "scrub_media" and "os_user" in first
    assert (first["checked"], first["scrubbed"], first["failed"]) == (len(KINDS), len(KINDS), 0)
    assert first["snapshots"]["rewritten"] == 0
    assert (second["scrubbed"], second["already_clean"], second["snapshots"]) == (0, len(KINDS), None)
    assert events[0].get_action_display() == "de-identified stored images"
