"""The review pages render for the right roles and their admin forms act."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from annotations.models import CaptionDraft, Dataset, DraftingRun, DraftJob, Sample
from annotations.tests.scripted_llm import caption_json


@pytest.fixture
def waiting(db):
    ds = Dataset.objects.create(name="Pages", source="folder")
    sample = Sample.objects.create(dataset=ds, external_id="a", label="scabies", state=Sample.State.NEEDS_EXPERT)
    CaptionDraft.objects.create(sample=sample, attempt=1, prompt_version="t", drafter_model="m",
                                caption=json.loads(caption_json("tok")), diagnoses=["atopic dermatitis"],
                                judge_category="safety_critical", description="itchy papules in web spaces")
    return ds, sample


def test_dermatologist_sees_the_queue_but_no_admin_tools(derm_client, waiting):
    page = derm_client.get(reverse("review-queue")).content.decode()
    assert "Review next sample" in page and "<b>1</b> waiting for you in all datasets" in page
    assert "Machine drafting" not in page
    assert derm_client.get(reverse("field-stats")).status_code == 403


def test_next_redirects_to_the_claimed_sample_page(derm_client, waiting):
    _, sample = waiting
    resp = derm_client.post(reverse("review-next"))
    assert resp.status_code == 302 and resp["Location"] == reverse("review-sample", args=[sample.id])
    page = derm_client.get(resp["Location"]).content.decode()
    assert "itchy papules in web spaces" in page and "atopic dermatitis" in page and "Alt+S" in page
    assert derm_client.post(reverse("review-next")).status_code == 302



@pytest.mark.parametrize("bad", ["999999", "abc", "²"])
def test_an_unknown_dataset_filter_says_so_and_claims_nothing(derm_client, waiting, bad):
    _, sample = waiting
    page = derm_client.get(reverse("review-queue"), {"dataset": bad})
    assert page.status_code == 400 and "No dataset has the id" in page.content.decode()
    assert "waiting for you in all datasets" in page.content.decode()
    claim = derm_client.post(reverse("review-next"), {"dataset": bad})
    assert claim.status_code == 400 and "No dataset has the id" in claim.content.decode()
    sample.refresh_from_db()
    assert sample.claimed_by is None


def test_waiting_for_you_leaves_out_what_another_reviewer_holds(derm_client, waiting, dermatologist):
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotations import review_selectors

    _, sample = waiting
    other = get_user_model().objects.create_user("other-derm", password="x")
    Sample.objects.filter(pk=sample.pk).update(claimed_by=other, claim_expires_at=timezone.now() + timedelta(minutes=5))
    assert review_selectors.waiting_for(dermatologist) == 0 and review_selectors.waiting_for(other) == 1
    Sample.objects.filter(pk=sample.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    assert review_selectors.waiting_for(dermatologist) == 1  # an expired claim frees it


def test_admin_runs_audits_and_bulk_accepts_from_the_page(admin_client_role, waiting, settings):
    ds, sample = waiting
    page = admin_client_role.get(reverse("review-queue")).content.decode()
    assert "Machine drafting" in page and "bulk accept" in page.lower()
    resp = admin_client_role.post(reverse("drafting-run-start"), {"dataset": ds.pk})
    assert resp.status_code == 302  # nothing new to draft: a message, not an error page
    CaptionDraft.objects.filter(sample=sample).update(consistent=True)  # only consistent drafts are bulk-accepted
    preview = admin_client_role.post(reverse("review-bulk-accept"), {"sample": [sample.pk]})
    assert "machine draft(s) will be accepted" in preview.content.decode()
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.NEEDS_EXPERT  # the preview changes nothing
    resp = admin_client_role.post(reverse("review-bulk-accept"), {"sample": [sample.pk], "confirm": "1"}, follow=True)
    assert "Accepted 1 machine draft(s)" in resp.content.decode()
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.AUTO_ACCEPTED
    resp = admin_client_role.post(reverse("review-audit"), {"dataset": ds.pk, "count": "x"}, follow=True)
    assert "a whole number, at least 1" in resp.content.decode()
    resp = admin_client_role.post(reverse("field-stats"), follow=True)
    assert resp.status_code == 200 and "Field frequency analysis" in resp.content.decode()


def test_run_page_shows_progress_and_failures(admin_client_role, waiting):
    ds, sample = waiting
    run = DraftingRun.objects.create(dataset=ds, prompt_version="t", state=DraftingRun.State.SUCCEEDED)
    DraftJob.objects.create(run=run, sample=sample, state=DraftJob.State.FAILED, error="LLM unavailable: timeout")
    page = admin_client_role.get(reverse("drafting-run", args=[run.pk])).content.decode()
    assert "1/1 done" in page and "LLM unavailable: timeout" in page and "Resume" in page


def test_bulk_accept_list_filters_by_label_and_skin_type(admin_client_role, waiting):
    ds, sample = waiting
    Sample.objects.filter(pk=sample.pk).update(fitzpatrick=5)
    other = Sample.objects.create(dataset=ds, external_id="b", label="acne", state=Sample.State.NEEDS_EXPERT,
                                  fitzpatrick=2)
    listed = lambda q: {s.pk for s in admin_client_role.get(reverse("review-queue"), q).context["needs_expert"]}  # noqa: E731
    assert listed({}) == {sample.pk, other.pk}
    assert listed({"label": "scabies"}) == {sample.pk}
    assert listed({"skin_type": "2"}) == {other.pk}
