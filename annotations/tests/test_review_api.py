"""The review API: claims with leases, optimistic versions with 409, decisions, admin actions, history."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotations import review_services
from annotations.models import CaptionDraft, CaptionRevision, Dataset, FieldFrequencyAnalysis, Sample
from annotations.tests.scripted_llm import caption_json
from annotations.tests.reviewers import reviewer


@pytest.fixture
def queue(db):
    ds = Dataset.objects.create(name="Queue", source="folder")
    samples = [Sample.objects.create(dataset=ds, external_id=f"s{i}", label="psoriasis", image=f"x{i}.jpg",
                                     state=Sample.State.NEEDS_EXPERT) for i in range(3)]
    for s in samples:
        CaptionDraft.objects.create(sample=s, attempt=1, prompt_version="t", drafter_model="m",
                                    caption=json.loads(caption_json("[[draft#1]]")),
                                    diagnosis_items=[{"disease": "psoriasis", "key_matching_fields": ["color", "shape"]}])
    return ds, samples


def test_next_gives_each_reviewer_a_different_sample_and_reload_returns_the_same(queue):
    _, a = reviewer("a")
    _, b = reviewer("b")
    first = a.post("/api/review/samples/next/").json()
    again = a.post("/api/review/samples/next/").json()
    other = b.post("/api/review/samples/next/").json()
    assert first["id"] == again["id"] != other["id"]
    assert first["claimed_by"] == "a" and first["drafts"][0]["attempt"] == 1
    assert first["caption"]["other"] == "[[draft#1]]"  # prefilled from the best attempt


def test_an_expired_lease_frees_the_sample(queue):
    ua, a = reviewer("a")
    ub, b = reviewer("b")
    _, samples = queue
    Sample.objects.exclude(pk=samples[0].pk).update(state=Sample.State.EXPERT_ACCEPTED)
    assert a.post("/api/review/samples/next/").json()["id"] == samples[0].pk
    assert b.post("/api/review/samples/next/").status_code == 204
    Sample.objects.filter(pk=samples[0].pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    assert b.post("/api/review/samples/next/").json()["id"] == samples[0].pk
    resp = a.post(f"/api/review/samples/{samples[0].pk}/heartbeat/")
    assert resp.status_code == 409 and "another reviewer has it now" in resp.json()["detail"]


def test_a_stale_save_gets_409_with_the_other_version(queue):
    ua, a = reviewer("a")
    ub, b = reviewer("b")
    sample = Sample.objects.get(pk=a.post("/api/review/samples/next/").json()["id"])
    caption = json.loads(caption_json("[[x#1]]"))
    ok = a.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": caption, "base_version": 0}, format="json")
    assert ok.status_code == 201 and ok.json()["version"] == 1 and ok.json()["check_state"] == "pending"
    # b edited version 0 in another tab; a's claim expired and b's page took the claim over
    Sample.objects.filter(pk=sample.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    assert b.post(f"/api/review/samples/{sample.pk}/heartbeat/").status_code == 200
    stale = b.post(f"/api/review/samples/{sample.pk}/revisions/",
                   {"caption": {**caption, "color": "violaceous"}, "base_version": 0}, format="json")
    assert stale.status_code == 409
    body = stale.json()
    assert body["current_version"] == 1 and body["current_revision"]["author"] == "a"
    assert "saved version 1 of this caption while you were editing" in body["detail"]
    assert CaptionRevision.objects.filter(sample=sample).count() == 1
    assert Sample.objects.get(pk=sample.pk).caption["color"] == "erythematous"  # no silent overwrite


def test_saving_while_someone_else_holds_the_claim_is_refused(queue):
    _, a = reviewer("a")
    _, b = reviewer("b")
    sample_id = a.post("/api/review/samples/next/").json()["id"]
    resp = b.post(f"/api/review/samples/{sample_id}/revisions/",
                  {"caption": json.loads(caption_json("x")), "base_version": 0}, format="json")
    assert resp.status_code == 409 and "a is reviewing this sample right now" in resp.json()["detail"]


def test_invalid_caption_is_refused_with_the_schema_message(queue):
    _, a = reviewer("a")
    sample_id = a.post("/api/review/samples/next/").json()["id"]
    caption = {**json.loads(caption_json("x")), "diagnosis": "psoriasis"}
    resp = a.post(f"/api/review/samples/{sample_id}/revisions/", {"caption": caption, "base_version": 0}, format="json")
    assert resp.status_code == 400 and "unknown caption key(s): 'diagnosis'" in resp.json()["detail"]
    caption = {**json.loads(caption_json("x")), "lesion_type": "blister"}
    resp = a.post(f"/api/review/samples/{sample_id}/revisions/", {"caption": caption, "base_version": 0}, format="json")
    assert resp.status_code == 400 and "'vesicle' (< 1 cm) or 'bulla'" in resp.json()["detail"]


def test_reject_skip_and_history(queue):
    ua, a = reviewer("a")
    first = a.post("/api/review/samples/next/").json()["id"]
    assert a.post(f"/api/review/samples/{first}/reject/", {"reason": "other"}).status_code == 400
    resp = a.post(f"/api/review/samples/{first}/reject/", {"reason": "label_suspected_wrong", "note": "looks like LP"})
    assert resp.status_code == 200 and resp.json()["state"] == "rejected"
    second = a.post("/api/review/samples/next/").json()["id"]
    assert second != first
    assert a.post(f"/api/review/samples/{second}/skip/").status_code == 204
    third = a.post("/api/review/samples/next/").json()["id"]
    assert third not in (first, second)  # a skipped sample is not offered to the same reviewer again
    history = a.get(f"/api/review/samples/{first}/").json()["events"]
    assert [(e["kind"], e["actor"]) for e in history] == [("claimed", "a"), ("rejected", "a")]
    assert history[-1]["detail"] == {"reason": "label_suspected_wrong", "note": "looks like LP"}


def test_admin_actions_and_field_statistics(queue, admin_user, dermatologist):
    ds, samples = queue
    admin = APIClient()
    admin.force_authenticate(admin_user)
    derm = APIClient()
    derm.force_authenticate(dermatologist)
    assert derm.post("/api/review/samples/bulk-accept/", {"sample_ids": [samples[0].pk]}, format="json").status_code == 403
    CaptionDraft.objects.filter(sample=samples[0]).update(consistent=True)  # bulk accept takes consistent drafts only
    resp = admin.post("/api/review/samples/bulk-accept/", {"sample_ids": [samples[0].pk]}, format="json")
    assert resp.json() == {"accepted": 1, "skipped": 0}
    assert Sample.objects.get(pk=samples[0].pk).state == Sample.State.AUTO_ACCEPTED
    assert admin.post("/api/review/samples/audit/", {"dataset": ds.pk, "count": 5}, format="json").json() == {"drawn": 1}
    assert Sample.objects.get(pk=samples[0].pk).audit

    review_services.claim_next(dermatologist)
    target = Sample.objects.get(claimed_by=dermatologist)
    caption = {**json.loads(caption_json("[[draft#1]]")), "color": "salmon pink", "size": "5 mm"}
    review_services.save_revision(dermatologist, target, caption, target.caption_version)
    stats = admin.get("/api/review/samples/field-edits/").json()
    assert {r["field"] for r in stats[:2]} == {"color", "size"} and stats[0]["changed"] == 1

    analysis = admin.post("/api/field-frequency/", {"dataset": ds.pk}, format="json").json()
    assert analysis["answers"] == 3 and analysis["cited"]["color"] == 3 and analysis["cited"]["texture"] == 0
    assert analysis["weights"]["color"] == pytest.approx(0.5) and sum(analysis["weights"].values()) == pytest.approx(1)
    assert FieldFrequencyAnalysis.objects.count() == 1


def test_review_api_needs_a_role(queue, client, no_role_user):
    client.force_login(no_role_user)
    assert client.post("/api/review/samples/next/").status_code == 403


def test_field_frequency_command_prints_and_stores_weights(queue):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    call_command("field_frequency", "--dataset", "Queue", "--json", stdout=out)
    weights = json.loads(out.getvalue())["weights"]
    assert weights["color"] == pytest.approx(0.5) and weights["shape"] == pytest.approx(0.5)
    with pytest.raises(CommandError, match="No dataset named 'Nope'; datasets: Queue"):
        call_command("field_frequency", "--dataset", "Nope")


# ---- the review answers written directly are what DRF's declared fields give ------------------------------------

@pytest.mark.parametrize("as_admin", [False, True])
def test_the_direct_review_answers_equal_drfs_declared_fields(queue, as_admin):
    # ReviewSampleSerializer and CaptionRevisionSerializer write their JSON without DRF's field machinery (the
    # claim's CPU); their declared fields stay the contract. A field added to one place only fails here.
    from rest_framework import serializers
    from rest_framework.test import APIRequestFactory

    from annotations import review_selectors
    from annotations.review_serializers import CaptionRevisionSerializer, ReviewSampleSerializer
    from webapp.roles import ADMIN

    user, client = reviewer("a", ADMIN) if as_admin else reviewer("a")
    sample = Sample.objects.get(pk=client.post("/api/review/samples/next/").json()["id"])
    caption = json.loads(caption_json("[[x#1]]"))
    client.post(f"/api/review/samples/{sample.pk}/revisions/", {"caption": caption, "base_version": 0}, format="json")
    CaptionRevision.objects.filter(sample=sample).update(check_state="failed", check_error="http://10.0.0.5:8000 refused",
                                                        judge_category="sibling", diagnoses=["eczema"])
    CaptionDraft.objects.filter(sample=sample).update(caption_error="timeout at http://10.0.0.5:8000/v1", consistent=False)
    sample.last_error = "judge down at http://10.0.0.5:8000"
    sample.save(update_fields=["last_error"])
    request = APIRequestFactory().get("/")
    request.user = user
    context = {"request": request}
    sample = Sample.objects.select_related("dataset", "claimed_by").get(pk=sample.pk)
    detail = review_selectors.review_detail(sample, is_admin=as_admin)
    assert detail["revisions"] and detail["drafts"] and detail["events"] and detail["history"]
    direct = ReviewSampleSerializer(detail, context=context)
    declared = serializers.Serializer.to_representation(direct, detail)
    assert json.dumps(direct.data) == json.dumps(declared)  # same keys, same order, same values
    for revision in detail["revisions"]:
        direct = CaptionRevisionSerializer(revision, context=context)
        assert json.dumps(direct.data) == json.dumps(serializers.ModelSerializer.to_representation(direct, revision))
