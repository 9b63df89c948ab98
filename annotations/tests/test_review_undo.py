"""My recent reviews and undo: only the reviewer's own last action, within the window, only while nobody else
changed the sample; undo re-opens the sample under the reviewer's claim and adds history, never removes it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotations import drafting, review_services
from annotations.models import CaptionDraft, CaptionRevision, Dataset, Sample, SampleEvent
from annotations.tests.scripted_llm import caption_json
from annotations.tests.reviewers import reviewer
from webapp.roles import ADMIN

pytestmark = pytest.mark.django_db
MACHINE = json.loads(caption_json("machine"))


def make_sample() -> Sample:
    ds, _ = Dataset.objects.get_or_create(name="Undo", source="folder")
    sample = Sample.objects.create(dataset=ds, external_id=f"u{Sample.objects.count()}", label="psoriasis",
                                   image="x.jpg", state=Sample.State.NEEDS_EXPERT)
    CaptionDraft.objects.create(sample=sample, attempt=1, prompt_version="t", drafter_model="m", caption=MACHINE,
                                diagnoses=["tinea corporis"], judge_category="safety_critical")
    return sample


def claim(client, sample):
    assert client.post(f"/api/review/samples/{sample.pk}/heartbeat/").status_code == 200


def recent(client) -> list[dict]:
    resp = client.get("/api/review/samples/recent/")
    assert resp.status_code == 200
    return resp.json()


def undo(client, event_id):
    return client.post("/api/review/samples/undo/", {"event": event_id}, format="json")


def test_undo_of_my_reject_reopens_it_for_me_and_keeps_the_history():
    ua, a = reviewer("a")
    sample = make_sample()
    claim(a, sample)
    assert a.post(f"/api/review/samples/{sample.pk}/reject/", {"reason": "other", "note": "looks like a scan"},
                  format="json").status_code == 200
    rows = recent(a)
    assert rows[0]["kind"] == "rejected" and rows[0]["sample"] == sample.pk and rows[0]["can_undo"] is True
    assert "looks like a scan" in rows[0]["what"] and rows[0]["url"] == f"/review/samples/{sample.pk}/"
    events_before = sample.events.count()

    resp = undo(a, rows[0]["id"])
    assert resp.status_code == 200, resp.content
    sample.refresh_from_db()
    assert sample.state == Sample.State.NEEDS_EXPERT and sample.rejection_reason == ""
    assert sample.claimed_by == ua and sample.claim_expires_at > timezone.now()
    kinds = list(sample.events.order_by("id").values_list("kind", flat=True))
    assert "rejected" in kinds and kinds[-1] == "undone" and sample.events.count() == events_before + 1
    history = resp.json()["sample"]["history"]
    assert any(h["kind"] == "rejected" and h["note"] == "looks like a scan" for h in history)
    assert history[-1]["kind"] == "undone" and "took back their rejected" in history[-1]["summary"]
    # Reviewing goes on as usual: the claim is live, so a save goes through.
    assert a.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": MACHINE, "base_version": 0},
                  format="json").status_code == 201

    # There is no undo of an undo (nor of an action that is no longer the last).
    rows = recent(a)
    assert rows[0]["kind"] == "revision_saved" and rows[1]["kind"] == "undone"
    assert undo(a, rows[2]["id"]).status_code == 409


def test_undo_of_an_accepted_save_restores_the_previous_caption_as_a_new_version(monkeypatch):
    ua, a = reviewer("a")
    sample = make_sample()
    claim(a, sample)
    edited = dict(MACHINE, color="salmon pink")
    saved = a.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": edited, "base_version": 0},
                   format="json").json()
    monkeypatch.setattr(drafting, "check_consistency",
                        lambda *a, **k: drafting.ConsistencyCheck(["psoriasis"], "exact", "same", True))
    review_services.recheck_revision(saved["id"])
    sample.refresh_from_db()
    assert sample.state == Sample.State.EXPERT_ACCEPTED and sample.claimed_by is None
    row = recent(a)[0]
    assert row["what"] == "saved v1 — re-check agreed: accepted" and row["can_undo"]

    resp = undo(a, row["id"])
    assert resp.status_code == 200, resp.content
    assert "snapshot" in resp.json()["message"]  # a snapshot built meanwhile keeps what it froze
    sample.refresh_from_db()
    assert sample.state == Sample.State.NEEDS_EXPERT and sample.claimed_by == ua
    assert sample.caption_version == 2 and sample.caption["color"] == "erythematous"
    v1, v2 = CaptionRevision.objects.filter(sample=sample).order_by("version")
    assert v1.caption["color"] == "salmon pink" and v1.check_state == "consistent"  # kept as it was
    assert v2.caption == MACHINE and v2.check_state == CaptionRevision.Check.NOT_CHECKED and v2.author == ua
    undone = resp.json()["sample"]["history"][-1]
    assert undone["changes"] == [{"field": "color", "old": "salmon pink", "new": "erythematous"}]
    assert resp.json()["sample"]["recheck"]["state"] == "not_checked"


def test_undo_of_a_skip_gives_the_sample_back_and_of_an_override_reopens_it(monkeypatch):
    ua, a = reviewer("a")
    skipped, overridden = make_sample(), make_sample()
    claim(a, skipped)
    assert a.post(f"/api/review/samples/{skipped.pk}/skip/").status_code == 204
    assert undo(a, recent(a)[0]["id"]).status_code == 200
    skipped.refresh_from_db()
    assert skipped.claimed_by == ua and skipped.state == Sample.State.NEEDS_EXPERT
    a.post(f"/api/review/samples/{skipped.pk}/release/")

    claim(a, overridden)
    saved = a.post(f"/api/review/samples/{overridden.pk}/revisions/", {"caption": MACHINE, "base_version": 0},
                   format="json").json()
    monkeypatch.setattr(drafting, "check_consistency",
                        lambda *a, **k: drafting.ConsistencyCheck(["tinea corporis"], "safety_critical", "no", False))
    review_services.recheck_revision(saved["id"])
    assert a.post(f"/api/review/samples/{overridden.pk}/override/", {"version": 1, "reason": "typical plaques"},
                  format="json").status_code == 200
    assert undo(a, recent(a)[0]["id"]).status_code == 200
    overridden.refresh_from_db()
    assert overridden.state == Sample.State.NEEDS_EXPERT and overridden.claimed_by == ua
    assert overridden.events.filter(kind="expert_override", detail__reason="typical plaques").exists()


def test_undo_is_refused_for_someone_elses_action_and_after_another_change():
    ua, a = reviewer("a")
    ub, b = reviewer("b")
    sample = make_sample()
    claim(a, sample)
    assert a.post(f"/api/review/samples/{sample.pk}/skip/").status_code == 204
    event = recent(a)[0]["id"]
    resp = undo(b, event)
    assert resp.status_code == 409 and "your own" in resp.json()["detail"]

    # b takes the sample and saves: a's skip can no longer be taken back.
    claim(b, sample)
    assert b.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": MACHINE, "base_version": 0},
                  format="json").status_code == 201
    before = (Sample.objects.get(pk=sample.pk).claimed_by_id, sample.events.count())
    row = recent(a)[0]
    assert row["can_undo"] is False and "b changed this sample since" in row["undo"]
    resp = undo(a, event)
    assert resp.status_code == 409 and "b changed this sample since" in resp.json()["detail"]
    assert (Sample.objects.get(pk=sample.pk).claimed_by_id, sample.events.count()) == before


def test_undo_is_refused_after_the_window_and_for_an_earlier_action():
    ua, a = reviewer("a")
    first, second = make_sample(), make_sample()
    claim(a, first)
    a.post(f"/api/review/samples/{first.pk}/reject/", {"reason": "unusable_image"}, format="json")
    rejected = recent(a)[0]["id"]
    SampleEvent.objects.filter(pk=rejected).update(created_at=timezone.now() - timedelta(minutes=11))
    resp = undo(a, rejected)
    assert resp.status_code == 409 and "10 minutes" in resp.json()["detail"]
    assert Sample.objects.get(pk=first.pk).state == Sample.State.REJECTED

    SampleEvent.objects.filter(pk=rejected).update(created_at=timezone.now())
    claim(a, second)
    a.post(f"/api/review/samples/{second.pk}/skip/")
    resp = undo(a, rejected)
    assert resp.status_code == 409 and "Only your last action" in resp.json()["detail"]
    assert Sample.objects.get(pk=first.pk).state == Sample.State.REJECTED


def test_an_admin_reopening_my_rejection_stops_my_undo():
    ua, a = reviewer("a")
    _, boss = reviewer("boss", ADMIN)
    sample = make_sample()
    claim(a, sample)
    a.post(f"/api/review/samples/{sample.pk}/reject/", {"reason": "unusable_image"}, format="json")
    assert boss.post(f"/api/review/samples/{sample.pk}/reopen/", {}, format="json").status_code == 200
    resp = undo(a, recent(a)[0]["id"])
    assert resp.status_code == 409 and "boss changed this sample since (reopened)" in resp.json()["detail"]


def test_recent_reviews_page_lists_actions_and_undoes_the_last(client):
    ua, a = reviewer("a")
    samples = [make_sample() for _ in range(3)]
    for s in samples:
        claim(a, s)
        a.post(f"/api/review/samples/{s.pk}/skip/")
    client.force_login(ua)
    page = client.get(reverse("review-recent")).content.decode()
    for s in samples:
        assert f'href="/review/samples/{s.pk}/"' in page
    assert page.count('id="btn-undo"') == 1
    last = SampleEvent.objects.filter(actor=ua, kind="skipped").order_by("-id").first()
    resp = client.post(reverse("review-undo"), {"event": last.pk})
    assert resp.status_code == 302 and resp["Location"] == reverse("review-sample", args=[samples[-1].pk])
    assert Sample.objects.get(pk=samples[-1].pk).claimed_by == ua
    # A second undo is refused with the reason, on the page.
    resp = client.post(reverse("review-undo"), {"event": last.pk}, follow=True)
    assert "Only your last action can be undone" in resp.content.decode()


def test_recent_reviews_need_a_review_role(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(reverse("review-recent")).status_code == 403
    assert client.post(reverse("review-undo"), {"event": 1}).status_code == 403
    api = APIClient()
    api.force_authenticate(no_role_user)
    assert api.get("/api/review/samples/recent/").status_code == 403
    assert api.post("/api/review/samples/undo/", {"event": 1}, format="json").status_code == 403
