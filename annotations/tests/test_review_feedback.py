"""What the review page tells the reviewer: counts of the chosen dataset, history with old -> new values and
reject notes, errors keyed to the field they concern, and a malformed diagnoser answer shown as such."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from django.urls import reverse

from annotations import review_services
from annotations.models import CaptionDraft, Dataset, Sample
from annotations.schema import split_lesion_types
from annotations.tests.scripted_llm import caption_json
from annotations.tests.reviewers import reviewer

pytestmark = pytest.mark.django_db
MACHINE = json.loads(caption_json("machine"))


def make_sample(dataset: str = "Feedback", **caption) -> Sample:
    ds, _ = Dataset.objects.get_or_create(name=dataset, source="folder")
    sample = Sample.objects.create(dataset=ds, external_id=f"f{Sample.objects.count()}", label="psoriasis",
                                   image="x.jpg", state=Sample.State.NEEDS_EXPERT)
    CaptionDraft.objects.create(sample=sample, attempt=1, prompt_version="t", drafter_model="m",
                                caption=dict(MACHINE, **caption), diagnoses=["tinea corporis"],
                                judge_category="safety_critical")
    return sample


def test_waiting_counts_follow_the_chosen_dataset(client):
    ua, a = reviewer("a")
    left = [make_sample("Left") for _ in range(3)]
    right = [make_sample("Right") for _ in range(2)]
    left_ds, right_ds = left[0].dataset, right[0].dataset
    # A skipped sample no longer waits for the reviewer who skipped it.
    a.post(f"/api/review/samples/{right[0].pk}/heartbeat/")
    a.post(f"/api/review/samples/{right[0].pk}/skip/")

    def counts(dataset=None):
        return a.get("/api/review/samples/counts/", {"dataset": dataset.pk} if dataset else {}).json()

    assert counts()["waiting_for_you"] == 4 and counts()["needs_expert"] == 5
    assert counts(left_ds)["waiting_for_you"] == 3 and counts(left_ds)["needs_expert"] == 3
    assert counts(right_ds)["waiting_for_you"] == 1 and counts(right_ds)["needs_expert"] == 2
    assert a.get("/api/review/samples/counts/", {"dataset": 999999}).status_code == 400

    client.force_login(ua)
    queue = client.get(reverse("review-queue"), {"dataset": right_ds.pk}).content.decode()
    assert "<b>1</b> waiting for you in Right" in queue
    assert "<b>3</b> waiting for you in Left" in client.get(reverse("review-queue"), {"dataset": left_ds.pk}).content.decode()
    assert "<b>4</b> waiting for you in all datasets" in client.get(reverse("review-queue")).content.decode()
    nxt = client.get(reverse("review-next"), {"dataset": left_ds.pk}).content.decode()
    assert "<b>3</b> waiting for you in Left" in nxt

    # Claiming in a dataset keeps the dataset: the sample page's Next stays in it and counts it.
    resp = client.post(reverse("review-next"), {"dataset": right_ds.pk})
    assert resp["Location"] == reverse("review-sample", args=[right[1].pk]) + f"?dataset={right_ds.pk}"
    page = client.get(resp["Location"]).content.decode()
    assert f'<input type="hidden" name="dataset" value="{right_ds.pk}">' in page
    assert "1 waiting for you in Right" in page


def test_history_shows_old_and_new_values_and_the_reject_note(client):
    ua, a = reviewer("a")
    sample = make_sample()
    a.post(f"/api/review/samples/{sample.pk}/heartbeat/")
    edited = dict(MACHINE, color="salmon pink", size="")
    assert a.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": edited, "base_version": 0},
                  format="json").status_code == 201
    assert a.post(f"/api/review/samples/{sample.pk}/reject/",
                  {"reason": "label_suspected_wrong", "note": "looks like tinea, not psoriasis"},
                  format="json").status_code == 200

    history = a.get(f"/api/review/samples/{sample.pk}/").json()["history"]
    saved = next(h for h in history if h["kind"] == "revision_saved")
    assert saved["actor"] == "a" and saved["changes"] == [
        {"field": "color", "old": "erythematous", "new": "salmon pink"},
        {"field": "size", "old": "1-3 cm", "new": ""}]
    rejected = next(h for h in history if h["kind"] == "rejected")
    assert rejected["note"] == "looks like tinea, not psoriasis" and "label suspected wrong" in rejected["summary"]

    client.force_login(ua)
    page = client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    assert '<th>color</th><td class="old">erythematous</td><td class="arrow">→</td><td class="new">salmon pink</td>' in page
    assert '<td class="old">1-3 cm</td><td class="arrow">→</td><td class="new">—</td>' in page
    assert '<q class="note">looks like tinea, not psoriasis</q>' in page and "reason: label suspected wrong" in page


def test_refusals_name_the_field_they_concern():
    _, a = reviewer("a")
    sample = make_sample()
    a.post(f"/api/review/samples/{sample.pk}/heartbeat/")
    url = f"/api/review/samples/{sample.pk}/revisions/"
    resp = a.post(url, {"caption": dict(MACHINE, lesion_type="papule, blister"), "base_version": 0}, format="json")
    assert resp.status_code == 400 and list(resp.json()["errors"]) == ["lesion_type"]
    assert "vesicle" in resp.json()["errors"]["lesion_type"] and "blister" in resp.json()["detail"]
    resp = a.post(url, {"caption": dict(MACHINE, color=["red"]), "base_version": 0}, format="json")
    assert resp.status_code == 400 and "color" in resp.json()["errors"] and "color" in resp.json()["detail"]
    resp = a.post(url, {"caption": MACHINE}, format="json")
    assert resp.status_code == 400 and "base_version" in resp.json()["errors"]
    resp = a.post(f"/api/review/samples/{sample.pk}/reject/", {"reason": "other", "note": " "}, format="json")
    assert resp.status_code == 400 and "note" in resp.json()["errors"]
    assert Sample.objects.get(pk=sample.pk).caption_version == 0  # nothing was saved or rejected
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.NEEDS_EXPERT


def test_a_stored_lesion_type_outside_the_vocabulary_is_shown_and_kept(client):
    ua, _ = reviewer("a")
    sample = make_sample(lesion_type="papule, blister")
    assert split_lesion_types("Papules with scales; erythematous patch") == (["papule", "scale"], ["erythematous patch"])
    client.force_login(ua)
    page = client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    assert 'data-term="papule" aria-pressed="true"' in page and 'data-term="plaque" aria-pressed="false"' in page
    assert 'class="chip unknown" data-term="blister" aria-pressed="true"' in page
    assert "The stored lesion type blister is not in the vocabulary" in page
    assert '"selectedTypes": ["papule", "blister"]' in page


def test_a_malformed_diagnoser_answer_is_said_plainly_with_what_it_wrote(monkeypatch, client):
    ua, a = reviewer("a")
    sample = make_sample()
    a.post(f"/api/review/samples/{sample.pk}/heartbeat/")
    saved = a.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": MACHINE, "base_version": 0},
                   format="json").json()

    class Gateway:  # the LLM answers the diagnoser with prose instead of the appendix-B JSON
        def chat(self, role, messages, **kwargs):
            return SimpleNamespace(text="I would say this is probably psoriasis.", cache_key="k", prompt_tokens=1,
                                   completion_tokens=1)

        def forget(self, key):
            pass

    monkeypatch.setattr(review_services, "shared_gateway", Gateway)
    monkeypatch.setattr(review_services, "judge_for", lambda gateway: None)
    assert review_services.recheck_revision(saved["id"]) == "inconsistent"

    recheck = a.get(f"/api/review/samples/{sample.pk}/").json()["recheck"]
    assert recheck["malformed"] is True and recheck["diagnoses"] == []
    assert "malformed" in recheck["headline"] and "no diagnosis was inferred" in recheck["headline"]
    assert recheck["raw_answer"] == "I would say this is probably psoriasis."
    client.force_login(ua)
    page = client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    assert "the diagnoser&#x27;s answer was malformed, so no diagnosis was inferred" in page
    assert "I would say this is probably psoriasis." in page and "see the inferred diagnosis above" not in page


def test_the_recheck_names_the_fields_the_diagnoser_read(monkeypatch, client):
    from annotations import drafting

    ua, a = reviewer("a")
    sample = make_sample()
    a.post(f"/api/review/samples/{sample.pk}/heartbeat/")
    saved = a.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": MACHINE, "base_version": 0},
                   format="json").json()
    items = [{"disease": "tinea corporis", "key_matching_fields": ["shape", "border_characteristics", "nonsense"]}]
    monkeypatch.setattr(drafting, "check_consistency", lambda *a, **k: drafting.ConsistencyCheck(
        ["tinea corporis"], "safety_critical", "ring-shaped", False, items))
    review_services.recheck_revision(saved["id"])
    recheck = a.get(f"/api/review/samples/{sample.pk}/").json()["recheck"]
    assert recheck["cited"] == {"shape": ["tinea corporis"], "border_characteristics": ["tinea corporis"]}
    assert "inferred tinea corporis (safety_critical), not psoriasis" in recheck["headline"]
    client.force_login(ua)
    page = client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    assert 'id="cite-shape">Re-check: the diagnoser read tinea corporis from this field.' in page
