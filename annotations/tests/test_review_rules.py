"""The chain of review decisions: only the live claim-holder changes a sample that waits for review; a failed
re-check demotes; an expert override is explicit, reasoned and visible; rejections are read-only, reopened
only by admins, and their reasons decide what the sample leaves (through the one selector); bulk accept
takes only consistent drafts, after a preview; claiming is a POST and closing the page releases the claim."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotations import drafting, review_selectors, review_services
from annotations.models import CaptionDraft, CaptionRevision, Dataset, Sample, SampleEvent
from annotations.selectors import eligible_samples
from annotations.tests.scripted_llm import caption_json
from annotations.tests.reviewers import reviewer

pytestmark = pytest.mark.django_db
CAPTION = json.loads(caption_json("[[x#1]]"))


def make_sample(state=Sample.State.NEEDS_EXPERT, *, consistent=False, image="x.jpg", name="Rules", **fields) -> Sample:
    ds, _ = Dataset.objects.get_or_create(name=name, source="folder")
    sample = Sample.objects.create(dataset=ds, external_id=f"s{Sample.objects.count()}", label="psoriasis",
                                   image=image, state=state, checksum="ab" * 32, **fields)
    CaptionDraft.objects.create(sample=sample, attempt=1, prompt_version="t", drafter_model="m",
                                caption=json.loads(caption_json("machine")), consistent=consistent,
                                judge_category="exact" if consistent else "safety_critical",
                                diagnoses=["psoriasis"] if consistent else ["tinea corporis"])
    return sample


def snapshot_of(sample: Sample) -> tuple:
    """What a refused action must leave exactly as it was."""
    s = Sample.objects.get(pk=sample.pk)
    return (s.state, s.caption, s.caption_version, s.claimed_by_id, s.rejection_reason, s.audit,
            s.revisions.count(), s.events.exclude(kind=SampleEvent.Kind.CLAIMED).count())


def inconsistent(monkeypatch):
    monkeypatch.setattr(drafting, "check_consistency",
                        lambda *a, **k: drafting.ConsistencyCheck(["tinea corporis"], "safety_critical", "no", False))


def consistent(monkeypatch):
    monkeypatch.setattr(drafting, "check_consistency",
                        lambda *a, **k: drafting.ConsistencyCheck(["psoriasis"], "exact", "same", True))


ACTIONS = {
    "save": lambda c, s: c.post(f"/api/review/samples/{s.pk}/revisions/", {"caption": CAPTION, "base_version": 0},
                                format="json"),
    "reject": lambda c, s: c.post(f"/api/review/samples/{s.pk}/reject/", {"reason": "unusable_image"}, format="json"),
    "skip": lambda c, s: c.post(f"/api/review/samples/{s.pk}/skip/"),
    "override": lambda c, s: c.post(f"/api/review/samples/{s.pk}/override/", {"version": 1, "reason": "sure"},
                                    format="json"),
}


# ---- claims -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ACTIONS)
def test_without_a_claim_nothing_changes(action):
    _, a = reviewer("a")
    sample = make_sample()
    before = snapshot_of(sample)
    resp = ACTIONS[action](a, sample)
    assert resp.status_code == 409
    assert "You have not claimed this sample: open it with 'Review next sample'" in resp.json()["detail"]
    assert snapshot_of(sample) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_someone_elses_claim_is_refused(action):
    _, a = reviewer("a")
    _, b = reviewer("b")
    sample = make_sample()
    assert a.post("/api/review/samples/next/").json()["id"] == sample.pk
    before = snapshot_of(sample)
    resp = ACTIONS[action](b, sample)
    assert resp.status_code == 409
    assert "a is reviewing this sample right now; take the next sample instead." in resp.json()["detail"]
    assert snapshot_of(sample) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_an_expired_claim_is_refused(action):
    ua, a = reviewer("a")
    sample = make_sample()
    a.post("/api/review/samples/next/")
    Sample.objects.filter(pk=sample.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    before = snapshot_of(sample)
    resp = ACTIONS[action](a, sample)
    assert resp.status_code == 409
    assert "Your claim on this sample expired; reload the page to claim it again" in resp.json()["detail"]
    assert snapshot_of(sample) == before


@pytest.mark.parametrize("state, words", [
    (Sample.State.NEW, "has no machine draft to review yet"),
    (Sample.State.AUTO_ACCEPTED, "is auto accepted and no longer waits for review"),
    (Sample.State.EXPERT_ACCEPTED, "is expert accepted and no longer waits for review"),
    (Sample.State.EXPERT_OVERRIDE, "is expert override and no longer waits for review"),
    (Sample.State.REJECTED, "rejected (image unusable) and read-only; ask an admin to reopen it"),
])
@pytest.mark.parametrize("action", ACTIONS)
def test_a_sample_that_does_not_wait_for_review_is_refused_even_to_its_claim_holder(action, state, words):
    ua, a = reviewer("a")
    sample = make_sample(state, rejection_reason="unusable_image" if state == Sample.State.REJECTED else "",
                         caption=CAPTION if state != Sample.State.NEW else None)
    # A claim left behind (e.g. taken before the state changed) gives no right to change it.
    Sample.objects.filter(pk=sample.pk).update(claimed_by=ua, claim_expires_at=timezone.now() + timedelta(minutes=5))
    before = snapshot_of(sample)
    resp = ACTIONS[action](a, sample)
    assert resp.status_code == 409 and words in resp.json()["detail"]
    assert snapshot_of(sample) == before


def test_the_claim_holder_saves_rejects_and_skips(monkeypatch):
    ua, a = reviewer("a")
    make_sample(), make_sample()
    first = Sample.objects.get(pk=a.post("/api/review/samples/next/").json()["id"])
    assert ACTIONS["save"](a, first).status_code == 201
    assert ACTIONS["reject"](a, first).status_code == 200
    assert Sample.objects.get(pk=first.pk).rejection_reason == "unusable_image"
    second = Sample.objects.get(pk=a.post("/api/review/samples/next/").json()["id"])
    assert second != first
    assert ACTIONS["skip"](a, second).status_code == 204
    assert Sample.objects.get(pk=second.pk).claimed_by is None


# ---- demotion -----------------------------------------------------------------------------------------------

def test_a_failed_recheck_demotes_an_expert_accepted_caption_whoever_saved_it(monkeypatch):
    ua, _ = reviewer("a")
    sample = make_sample(Sample.State.EXPERT_ACCEPTED, caption=CAPTION, caption_version=2)
    # A colleague's revision over the accepted caption (the claim rule refuses such a save today; the
    # demotion must hold whatever path wrote it).
    changed = {**CAPTION, "color": "violaceous"}
    revision = CaptionRevision.objects.create(sample=sample, version=2, author=ua, caption=changed)
    Sample.objects.filter(pk=sample.pk).update(caption=changed)
    inconsistent(monkeypatch)
    assert review_services.recheck_revision(revision.pk) == CaptionRevision.Check.INCONSISTENT
    sample.refresh_from_db()
    assert sample.state == Sample.State.NEEDS_EXPERT
    assert sample.caption == changed and sample.caption_version == 2  # the caption is kept as the latest one
    demoted = sample.events.get(kind=SampleEvent.Kind.NEEDS_EXPERT)
    assert demoted.detail["from"] == "expert_accepted" and demoted.detail["version"] == 2


def test_a_recheck_that_cannot_run_also_demotes(monkeypatch):
    from webapp.llm import LLMError

    ua, _ = reviewer("a")
    sample = make_sample(Sample.State.AUTO_ACCEPTED, caption=CAPTION, caption_version=1, audit=True)
    revision = CaptionRevision.objects.create(sample=sample, version=1, author=ua, caption=CAPTION)

    def down(*a, **k):
        raise LLMError("LLM unavailable: timeout")

    monkeypatch.setattr(drafting, "check_consistency", down)
    assert review_services.recheck_revision(revision.pk) == CaptionRevision.Check.ERROR
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.NEEDS_EXPERT


def test_a_failed_recheck_of_an_older_version_changes_nothing(monkeypatch):
    ua, _ = reviewer("a")
    sample = make_sample(Sample.State.EXPERT_ACCEPTED, caption=CAPTION, caption_version=3)
    old = CaptionRevision.objects.create(sample=sample, version=2, author=ua, caption=CAPTION)
    inconsistent(monkeypatch)
    review_services.recheck_revision(old.pk)
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.EXPERT_ACCEPTED


# ---- override -----------------------------------------------------------------------------------------------

def _saved_and_inconsistent(monkeypatch, client, sample) -> int:
    assert client.post(f"/api/review/samples/{sample.pk}/heartbeat/").status_code == 200  # claims this free sample
    version = ACTIONS["save"](client, sample).json()
    inconsistent(monkeypatch)
    review_services.recheck_revision(version["id"])
    return version["version"]


def test_override_needs_a_reason_and_then_is_its_own_accepted_state(monkeypatch):
    ua, a = reviewer("a")
    sample, other = make_sample(), make_sample()
    version = _saved_and_inconsistent(monkeypatch, a, sample)
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.NEEDS_EXPERT
    before = snapshot_of(sample)
    blank = a.post(f"/api/review/samples/{sample.pk}/override/", {"version": version, "reason": "  "}, format="json")
    assert blank.status_code == 400 and "Say why you accept this caption" in blank.json()["detail"]
    assert snapshot_of(sample) == before
    resp = a.post(f"/api/review/samples/{sample.pk}/override/",
                  {"version": version, "reason": "atypical presentation, biopsy-proven"}, format="json")
    assert resp.status_code == 200 and resp.json()["state"] == "expert_override"
    event = resp.json()["events"][-1]
    assert event["kind"] == "expert_override" and event["kind_display"] == "accepted as expert (override)"
    assert event["detail"]["reason"] == "atypical presentation, biopsy-proven"
    assert event["detail"]["diagnoses"] == ["tinea corporis"] and event["actor"] == "a"
    assert Sample.objects.get(pk=sample.pk).claimed_by is None
    # "Next" no longer serves it back.
    assert a.post("/api/review/samples/next/").json()["id"] == other.pk
    # It counts as accepted for Stage I, unless a run leaves overrides out.
    assert sample.pk in eligible_samples("stage1").values_list("pk", flat=True)
    assert sample.pk not in eligible_samples("stage1", include_overrides=False).values_list("pk", flat=True)


def test_override_waits_for_the_recheck_and_is_refused_when_it_agreed(monkeypatch):
    _, a = reviewer("a")
    sample = make_sample()
    a.post("/api/review/samples/next/")
    revision = ACTIONS["save"](a, sample).json()
    resp = a.post(f"/api/review/samples/{sample.pk}/override/", {"version": 1, "reason": "sure"}, format="json")
    assert resp.status_code == 409 and "still running; wait for its verdict" in resp.json()["detail"]
    Sample.objects.filter(pk=sample.pk).update(audit=False)
    consistent(monkeypatch)
    review_services.recheck_revision(revision["id"])
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.EXPERT_ACCEPTED
    resp = a.post(f"/api/review/samples/{sample.pk}/override/", {"version": 1, "reason": "sure"}, format="json")
    assert resp.status_code == 409 and Sample.objects.get(pk=sample.pk).state == Sample.State.EXPERT_ACCEPTED


def test_override_of_a_version_that_is_not_the_latest_is_stale(monkeypatch):
    _, a = reviewer("a")
    sample = make_sample()
    version = _saved_and_inconsistent(monkeypatch, a, sample)
    a.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": CAPTION, "base_version": version}, format="json")
    resp = a.post(f"/api/review/samples/{sample.pk}/override/", {"version": version, "reason": "x"}, format="json")
    assert resp.status_code == 409 and resp.json()["current_version"] == version + 1
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.NEEDS_EXPERT


def test_the_review_page_offers_the_override_after_a_failed_recheck(monkeypatch, client):
    ua, a = reviewer("a")
    sample = make_sample()
    client.force_login(ua)
    hidden = 'id="override-box" class="reject" hidden'
    assert hidden in client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    _saved_and_inconsistent(monkeypatch, a, sample)
    page = client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    assert hidden not in page and 'id="btn-override" data-version="1"' in page


# ---- rejections, the selector, and reopening ----------------------------------------------------------------

REASON_EFFECTS = {  # purpose -> is a sample rejected for this reason still eligible?
    "label_suspected_wrong": {"stage1": False, "stage2": False, "evaluation": False, "drafting": True},
    "unusable_image": {"stage1": False, "stage2": False, "evaluation": False, "drafting": False},
    "other": {"stage1": False, "stage2": False, "evaluation": False, "drafting": False},
}


@pytest.mark.parametrize("reason", REASON_EFFECTS)
def test_a_rejection_removes_the_sample_from_what_its_reason_says(reason):
    ua, a = reviewer("a")
    kept = make_sample(Sample.State.EXPERT_ACCEPTED, caption=CAPTION)
    sample = make_sample(Sample.State.AUTO_ACCEPTED, caption=CAPTION, audit=True)  # drawn for audit, then rejected
    for purpose in REASON_EFFECTS[reason]:
        assert set(eligible_samples(purpose).values_list("pk", flat=True)) == {kept.pk, sample.pk}, purpose
    a.post("/api/review/samples/next/")
    resp = a.post(f"/api/review/samples/{sample.pk}/reject/", {"reason": reason, "note": "see history"}, format="json")
    assert resp.status_code == 200 and resp.json()["rejection_reason"] == reason
    for purpose, stays in REASON_EFFECTS[reason].items():
        ids = set(eligible_samples(purpose).values_list("pk", flat=True))
        assert (sample.pk in ids) is stays and kept.pk in ids, purpose


def test_the_selector_applies_the_other_rules(settings):
    wrongly_labelled = make_sample(Sample.State.EXPERT_ACCEPTED, caption=CAPTION, exclude_from_eval=True)
    no_image = make_sample(Sample.State.EXPERT_ACCEPTED, caption=CAPTION, image="")
    uncaptioned = make_sample(Sample.State.NEEDS_EXPERT)
    test_split = make_sample(Sample.State.AUTO_ACCEPTED, caption=CAPTION, split="test")
    ids = lambda purpose, **kw: set(eligible_samples(purpose, **kw).values_list("pk", flat=True))  # noqa: E731
    assert ids("stage1") == {wrongly_labelled.pk, test_split.pk}  # a caption can still be right
    assert ids("stage2") == {uncaptioned.pk, test_split.pk}
    assert ids("evaluation") == {uncaptioned.pk, test_split.pk}
    assert ids("evaluation", need_image=False) == {no_image.pk, uncaptioned.pk, test_split.pk}
    assert ids("evaluation", split="test") == {test_split.pk}
    with pytest.raises(ValueError, match="unknown purpose"):
        eligible_samples("stage3")


def test_stage_two_snapshot_and_evaluation_leave_out_a_suspected_wrong_label(settings, tmp_path):
    from evaluation.services import select_test_samples
    from training.services import create_snapshot

    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    ua, a = reviewer("a")
    kept = make_sample(Sample.State.EXPERT_ACCEPTED, caption=CAPTION)
    wrong = make_sample()
    a.post("/api/review/samples/next/")
    assert a.post(f"/api/review/samples/{wrong.pk}/reject/", {"reason": "label_suspected_wrong"}).status_code == 200
    snapshot = create_snapshot(kept.dataset, "train", "II", k=3, build=False)
    assert snapshot.sample_ids == [kept.pk] and snapshot.rows == 1
    assert [s.pk for s in select_test_samples(kept.dataset)] == [kept.pk]


def test_a_rejected_sample_is_read_only_until_an_admin_reopens_it(admin_user, dermatologist):
    ua, a = reviewer("a")
    sample = make_sample()
    a.post("/api/review/samples/next/")
    a.post(f"/api/review/samples/{sample.pk}/reject/", {"reason": "other", "note": "blurred"}, format="json")
    # Read-only: next does not offer it, heartbeat cannot retake it, saving is refused.
    assert a.post("/api/review/samples/next/").status_code == 204
    assert a.post(f"/api/review/samples/{sample.pk}/heartbeat/").status_code == 409
    assert "ask an admin to reopen it" in ACTIONS["save"](a, sample).json()["detail"]
    derm = APIClient()
    derm.force_authenticate(dermatologist)
    assert derm.post(f"/api/review/samples/{sample.pk}/reopen/").status_code == 403
    with pytest.raises(review_services.NotAllowed, match="Only an admin can reopen"):
        review_services.reopen(dermatologist, sample)
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.REJECTED
    admin = APIClient()
    admin.force_authenticate(admin_user)
    resp = admin.post(f"/api/review/samples/{sample.pk}/reopen/", {"note": "image is fine on a bigger screen"},
                      format="json")
    assert resp.status_code == 200 and resp.json()["state"] == "needs_expert" and resp.json()["rejection_reason"] == ""
    event = resp.json()["events"][-1]
    assert (event["kind"], event["actor"]) == ("reopened", "boss")
    assert event["detail"] == {"rejection_reason": "other", "note": "image is fine on a bigger screen"}
    assert a.post("/api/review/samples/next/").json()["id"] == sample.pk  # back in the queue
    again = admin.post(f"/api/review/samples/{sample.pk}/reopen/")
    assert again.status_code == 409 and "Only a rejected sample can be reopened; this one is needs expert" in \
        again.json()["detail"]


def test_admins_reopen_from_the_review_page(admin_user, dermatologist):
    admin_client_role, derm_client = Client(), Client()
    admin_client_role.force_login(admin_user)
    derm_client.force_login(dermatologist)
    sample = make_sample(Sample.State.REJECTED, rejection_reason="unusable_image")
    page = admin_client_role.get(reverse("review-sample", args=[sample.pk])).content.decode()
    assert "Rejected (image unusable): read-only until an admin reopens it." in page and 'id="btn-reopen"' in page
    assert 'id="btn-save" disabled' in page
    assert 'id="btn-reopen"' not in derm_client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    assert derm_client.post(reverse("review-reopen", args=[sample.pk])).status_code == 403
    resp = admin_client_role.post(reverse("review-reopen", args=[sample.pk]), follow=True)
    assert "is back in the review queue" in resp.content.decode()
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.NEEDS_EXPERT


def test_older_rejections_get_their_reason_from_the_history():
    """The 0004 migration's backfill: the reason is read from the last rejection event."""
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("annotations.migrations.0004_review_chain").backfill_rejection_reasons
    with_event, without = make_sample(Sample.State.REJECTED), make_sample(Sample.State.REJECTED)
    SampleEvent.objects.create(sample=with_event, kind="rejected", detail={"reason": "label_suspected_wrong"})
    backfill(apps, None)
    assert Sample.objects.get(pk=with_event.pk).rejection_reason == "label_suspected_wrong"
    assert Sample.objects.get(pk=without.pk).rejection_reason == "other"


# ---- bulk accept --------------------------------------------------------------------------------------------

def test_bulk_accept_takes_only_consistent_drafts_and_previews_without_changing_anything(admin_user, dermatologist):
    good, failed = make_sample(consistent=True), make_sample(consistent=False)
    edited = make_sample(consistent=True, caption=CAPTION, caption_version=1)
    claimed = make_sample(consistent=True, claimed_by=dermatologist,
                          claim_expires_at=timezone.now() + timedelta(minutes=5))
    rejected = make_sample(Sample.State.REJECTED, consistent=True, rejection_reason="unusable_image")
    ids = [good.pk, failed.pk, edited.pk, claimed.pk, rejected.pk]
    admin = APIClient()
    admin.force_authenticate(admin_user)
    before = [snapshot_of(Sample.objects.get(pk=i)) for i in ids]
    preview = admin.post("/api/review/samples/bulk-accept/", {"sample_ids": ids, "dry_run": True}, format="json").json()
    assert [snapshot_of(Sample.objects.get(pk=i)) for i in ids] == before  # a dry run changes nothing
    assert (preview["dry_run"], preview["accepted"], preview["skipped"]) == (True, 1, 4)
    rows = {r["id"]: r for r in preview["samples"]}
    assert rows[good.pk]["eligible"] and rows[good.pk]["label"] == "psoriasis"
    assert rows[good.pk]["caption"]["other"] == "machine" and rows[good.pk]["verdict"] == "exact"
    assert rows[good.pk]["thumbnail_url"] == f"/samples/{good.pk}/thumbnail/"
    assert "failed the consistency check" in rows[failed.pk]["why_not"]
    assert "edited its caption" in rows[edited.pk]["why_not"]
    assert "derm is reviewing it right now" in rows[claimed.pk]["why_not"]
    assert "rejected" in rows[rejected.pk]["why_not"]
    assert admin.post("/api/review/samples/bulk-accept/", {"sample_ids": ids}, format="json").json() == \
        {"accepted": 1, "skipped": 4}
    assert Sample.objects.get(pk=good.pk).state == Sample.State.AUTO_ACCEPTED
    assert Sample.objects.get(pk=failed.pk).state == Sample.State.NEEDS_EXPERT
    assert [snapshot_of(Sample.objects.get(pk=i)) for i in ids[2:]] == before[2:]
    assert failed.pk not in eligible_samples("stage1").values_list("pk", flat=True)


def test_the_bulk_accept_page_shows_a_preview_before_it_commits(admin_client_role):
    good, failed = make_sample(consistent=True), make_sample(consistent=False)
    resp = admin_client_role.post(reverse("review-bulk-accept"), {"sample": [good.pk, failed.pk]})
    page = resp.content.decode()
    assert resp.status_code == 200 and "<b>1</b> machine draft(s) will be accepted" in page
    assert f"/samples/{good.pk}/thumbnail/" in page and "machine" in page and "exact" in page
    assert "failed the consistency check" in page and "Accept 1 draft(s)" in page
    assert Sample.objects.filter(state=Sample.State.AUTO_ACCEPTED).count() == 0
    resp = admin_client_role.post(reverse("review-bulk-accept"), {"sample": [good.pk, failed.pk], "confirm": "1"},
                                  follow=True)
    assert "Accepted 1 machine draft(s); skipped 1" in resp.content.decode()
    assert list(Sample.objects.filter(state=Sample.State.AUTO_ACCEPTED).values_list("pk", flat=True)) == [good.pk]


# ---- claiming is a POST; closing the page releases ----------------------------------------------------------

def test_get_of_next_only_offers_the_button(derm_client, dermatologist):
    sample = make_sample()
    resp = derm_client.get(reverse("review-next"))
    assert resp.status_code == 200 and 'id="review-next"' in resp.content.decode() and 'method="post"' in resp.content.decode()
    assert Sample.objects.get(pk=sample.pk).claimed_by is None and not SampleEvent.objects.filter(kind="claimed").exists()
    resp = derm_client.post(reverse("review-next"))
    assert resp.status_code == 302 and resp["Location"] == reverse("review-sample", args=[sample.pk])
    assert Sample.objects.get(pk=sample.pk).claimed_by == dermatologist
    assert derm_client.put(reverse("review-next")).status_code == 405


def test_release_by_beacon_takes_the_csrf_token_from_a_form_body(dermatologist):
    """navigator.sendBeacon posts a URLSearchParams body (form-encoded), with no custom header."""
    sample = make_sample()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(dermatologist)
    review_services.claim_next(dermatologist)
    token = browser.get(reverse("review-sample", args=[sample.pk])).cookies["csrftoken"].value
    url = f"/api/review/samples/{sample.pk}/release/"
    refused = browser.post(url, "", content_type="application/x-www-form-urlencoded")
    assert refused.status_code == 403 and Sample.objects.get(pk=sample.pk).claimed_by == dermatologist
    resp = browser.post(url, f"csrfmiddlewaretoken={token}", content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 204
    assert Sample.objects.get(pk=sample.pk).claimed_by is None
    assert list(sample.events.values_list("kind", flat=True)) == ["claimed", "released"]


def test_the_review_page_carries_what_the_beacon_needs(derm_client, dermatologist):
    sample = make_sample()
    page = derm_client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    config = json.loads(page.split('<script id="review-config" type="application/json">')[1].split("</script>")[0])
    assert config["mine"] is True and len(config["csrf"]) >= 32
    assert f'action="{reverse("review-next")}"' in page  # "Next" is a POST form, not a link


def test_queue_counts_overrides():
    make_sample(Sample.State.EXPERT_OVERRIDE, caption=CAPTION)
    assert review_selectors.queue_counts()["expert_override"] == 1
