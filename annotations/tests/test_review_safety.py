"""Machine work and admin shortcuts never overwrite or revive what a dermatologist decided."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from annotations import drafting, drafting_services, review_services
from annotations.models import CaptionDraft, CaptionRevision, Dataset, DraftingRun, DraftJob, Sample
from annotations.tests.scripted_llm import PipelineResponder, Script, caption_json
from annotations.tests.test_drafting_pipeline import make_dataset, run_all

pytestmark = pytest.mark.django_db


def _waiting_sample(label="psoriasis", consistent=False) -> Sample:
    ds, _ = Dataset.objects.get_or_create(name="Safety", source="folder")
    sample = Sample.objects.create(dataset=ds, external_id=f"x{Sample.objects.count()}", label=label,
                                   image="x.jpg", state=Sample.State.NEEDS_EXPERT)
    CaptionDraft.objects.create(sample=sample, attempt=1, prompt_version="t", drafter_model="m",
                                caption=json.loads(caption_json("machine")), consistent=consistent)
    return sample


def test_resuming_an_old_run_never_redrafts_an_expert_caption(tmp_path, settings, dermatologist):
    from webapp.llm_testserver import ScriptedLLMServer

    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 1)])
    sample = Sample.objects.get()
    run = drafting_services.create_run(dataset)
    DraftJob.objects.filter(run=run).update(state=DraftJob.State.FAILED, error="outage")
    # Meanwhile a dermatologist captioned the sample by hand and it was accepted.
    Sample.objects.filter(pk=sample.pk).update(state=Sample.State.EXPERT_ACCEPTED, caption_version=1,
                                               caption={"color": "expert"})
    assert drafting_services.resume_run(run) == 0
    assert DraftJob.objects.get().state == DraftJob.State.CANCELLED
    with ScriptedLLMServer(PipelineResponder(by_md5)) as server:
        settings.SKINFLOW_LLM_BASE_URL = server.base_url
        run_all(run)
        assert server.request_count == 0
    sample.refresh_from_db()
    assert sample.state == Sample.State.EXPERT_ACCEPTED and sample.caption == {"color": "expert"}


def test_a_job_that_crashes_ends_failed_with_the_reason(tmp_path, monkeypatch, settings):
    dataset, _ = make_dataset(tmp_path, [Script("psoriasis", 1)])
    run = drafting_services.create_run(dataset)

    def boom(*args, **kwargs):
        raise ValueError("cannot tell the image type")

    monkeypatch.setattr(drafting, "run_attempt", boom)
    run_all(run)
    sample = Sample.objects.get()
    assert sample.state == Sample.State.DRAFT_FAILED
    assert "unexpected error: ValueError: cannot tell the image type" in sample.last_error
    assert DraftingRun.objects.get().state == DraftingRun.State.FAILED  # the run ends, and says so; resume can retry


def test_tiff_images_reach_the_model_as_png():
    from annotations.imaging import model_ready_image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, "TIFF")
    png = model_ready_image(buf.getvalue())
    assert png.startswith(b"\x89PNG")
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, "JPEG")
    assert model_ready_image(jpeg.getvalue()) == jpeg.getvalue()


def test_bulk_accept_leaves_revised_and_claimed_samples_alone(admin_user, dermatologist):
    revised, claimed, plain = (_waiting_sample(consistent=True) for _ in range(3))
    Sample.objects.filter(pk=revised.pk).update(caption_version=1, caption={"color": "expert"})
    from django.utils import timezone

    Sample.objects.filter(pk=claimed.pk).update(claimed_by=dermatologist,
                                               claim_expires_at=timezone.now() + review_services.LEASE)
    result = review_services.bulk_accept(admin_user, [revised.pk, claimed.pk, plain.pk])
    assert result == {"accepted": 1, "skipped": 2}
    assert Sample.objects.get(pk=revised.pk).caption == {"color": "expert"}
    assert Sample.objects.get(pk=claimed.pk).state == Sample.State.NEEDS_EXPERT
    assert Sample.objects.get(pk=plain.pk).state == Sample.State.AUTO_ACCEPTED


def test_a_recheck_finishing_after_a_rejection_does_not_revive_the_sample(dermatologist, monkeypatch):
    sample = _waiting_sample()
    review_services.claim_next(dermatologist)
    revision = review_services.save_revision(dermatologist, sample, caption_json("x"), 0)
    review_services.reject(dermatologist, sample, "label_suspected_wrong")
    monkeypatch.setattr(drafting, "check_consistency",
                        lambda *a, **k: drafting.ConsistencyCheck(["psoriasis"], "exact", "same", True))
    assert review_services.recheck_revision(revision.pk) == CaptionRevision.Check.CONSISTENT
    assert Sample.objects.get(pk=sample.pk).state == Sample.State.REJECTED


def test_next_never_returns_a_finished_sample_still_claimed(dermatologist):
    for _ in range(2):
        _waiting_sample()
    taken = review_services.claim_next(dermatologist)
    Sample.objects.filter(pk=taken.pk).update(state=Sample.State.EXPERT_ACCEPTED)  # claim left behind
    assert review_services.claim_next(dermatologist).pk != taken.pk
    with pytest.raises(review_services.NotClaimed, match="no longer waits for review"):
        review_services.heartbeat(dermatologist, Sample.objects.get(pk=taken.pk))


def test_saving_is_refused_while_the_machine_drafts(dermatologist):
    sample = _waiting_sample()
    Sample.objects.filter(pk=sample.pk).update(state=Sample.State.DRAFTING)
    with pytest.raises(review_services.ReviewError, match="still drafting"):
        review_services.save_revision(dermatologist, Sample.objects.get(pk=sample.pk), caption_json("x"), 0)


def test_consistency_k_outside_the_answer_is_refused():
    ds = Dataset.objects.create(name="K", source="folder")
    with pytest.raises(drafting_services.DraftingRejected, match="consistency_k must be between 1 and 3"):
        drafting_services.create_run(ds, consistency_k=0)


def test_non_numeric_ids_are_not_server_errors(admin_client_role):
    # Not a server error, and not silently ignored either: the page names the bad value.
    page = admin_client_role.get("/review/?dataset=abc")
    assert page.status_code == 400 and "No dataset has the id" in page.content.decode()
    assert admin_client_role.post("/review/runs/start/", {"dataset": "abc"}).status_code == 404
    assert admin_client_role.get("/api/review/samples/field-edits/?dataset=x").status_code == 200
