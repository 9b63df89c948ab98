"""The machine annotation loop end to end against the local OpenAI-compatible server, and the expert loop."""

from __future__ import annotations

import hashlib

import pytest

from annotations import drafting_services, review_services, services
from annotations.models import CaptionDraft, CaptionRevision, Dataset, DraftingRun, DraftJob, Sample, SampleEvent
from annotations.tests.images import jpeg_bytes, write
from annotations.tests.scripted_llm import PipelineResponder, Script, caption_json
from webapp.llm_testserver import ScriptedLLMServer

LABELS = ["melanoma", "tinea corporis", "psoriasis", "acne vulgaris", "scabies"]


def make_dataset(tmp_path, scripts: list[Script]) -> tuple[Dataset, dict[str, tuple[str, Script]]]:
    by_md5 = {}
    for i, script in enumerate(scripts):
        data = jpeg_bytes(color=(i * 11 % 256, 90 + i, 200 - i), size=(40 + i, 40))
        write(tmp_path / "src" / script.label / f"{i}.jpg", data)
        by_md5[hashlib.md5(data).hexdigest()] = (f"{script.label}/{i}.jpg", script)
    services.import_folder("Drafting", tmp_path / "src", progress=False)
    return Dataset.objects.get(name="Drafting"), by_md5


def run_all(run: DraftingRun) -> None:
    """What the llm-queue worker does: one draft_sample task per job."""
    for job in DraftJob.objects.filter(run=run):
        drafting_services.draft_sample(job.id)


@pytest.fixture
def llm(settings):
    def start(responder, **kw):
        server = ScriptedLLMServer(responder, **kw).start()
        settings.SKINFLOW_LLM_BASE_URL = server.base_url
        started.append(server)
        return server

    started: list[ScriptedLLMServer] = []
    yield start
    for server in started:
        server.stop()


@pytest.mark.django_db
def test_twenty_four_samples_end_exactly_as_scripted(tmp_path, llm, dermatologist):
    scripts = ([Script(LABELS[i % 5], 1) for i in range(8)] + [Script(LABELS[i % 5], 3) for i in range(8)]
               + [Script(LABELS[i % 5], None) for i in range(8)])
    dataset, by_md5 = make_dataset(tmp_path, scripts)
    responder = PipelineResponder(by_md5)
    llm(responder)
    run = drafting_services.create_run(dataset)
    assert Sample.objects.filter(state=Sample.State.DRAFTING).count() == 24
    run_all(run)

    run.refresh_from_db()
    assert run.state == DraftingRun.State.SUCCEEDED
    progress = drafting_services.run_progress(run)
    assert (progress["total"], progress["done"], progress["accepted"], progress["needs_expert"], progress["failed"]) \
        == (24, 24, 16, 8, 0)
    assert progress["prompt_tokens"] > 0 and progress["attempts"] == 8 * 1 + 8 * 3 + 8 * 5
    for key, script in by_md5.values():
        sample = Sample.objects.get(external_id=key)
        drafts = list(sample.drafts.order_by("attempt"))
        expected_attempts = script.passes_at or 5
        assert [d.attempt for d in drafts] == list(range(1, expected_attempts + 1)), key
        assert responder.drafter_attempts(key) == expected_attempts
        if script.passes_at:
            assert sample.state == Sample.State.AUTO_ACCEPTED and drafts[-1].consistent
            assert sample.caption == drafts[-1].caption
            assert drafts[-1].judge_category == "exact"
        else:
            assert sample.state == Sample.State.NEEDS_EXPERT and not any(d.consistent for d in drafts)
            expected = "sibling" if script.label == "acne vulgaris" else "safety_critical"  # rosacea; SK for melanoma
            assert drafts[0].judge_category == expected, (script.label, drafts[0].judge_rationale)

    # Running every job again (a redelivered task) changes nothing and calls no LLM.
    count = CaptionDraft.objects.count()
    run_all(run)
    assert CaptionDraft.objects.count() == count

    # The expert loop: an inconsistent revision, then a consistent one.
    failed = review_services.claim_next(dermatologist)
    assert failed.state == Sample.State.NEEDS_EXPERT
    start = review_services.starting_caption(failed)
    assert start["other"].startswith("[[")  # prefilled from the best machine attempt
    responder.labels.update({"rev-bad": failed.label, "rev-good": failed.label})
    responder.revisions.update({"rev-bad": False, "rev-good": True})
    first = review_services.save_revision(dermatologist, failed, caption_json("[[rev-bad#1]]"), failed.caption_version)
    assert review_services.recheck_revision(first.id) == CaptionRevision.Check.INCONSISTENT
    failed.refresh_from_db()
    assert failed.state == Sample.State.NEEDS_EXPERT and failed.claimed_by == dermatologist
    first.refresh_from_db()
    assert first.diagnoses[0] != failed.label  # the inferred diagnosis the reviewer is shown
    second = review_services.save_revision(dermatologist, failed, caption_json("[[rev-good#1]]", color="violaceous"),
                                           failed.caption_version)
    assert review_services.recheck_revision(second.id) == CaptionRevision.Check.CONSISTENT
    failed.refresh_from_db()
    assert failed.state == Sample.State.EXPERT_ACCEPTED and failed.caption_version == 2 and failed.claimed_by is None
    kinds = list(SampleEvent.objects.filter(sample=failed).values_list("kind", flat=True))
    assert kinds[-6:] == ["claimed", "revision_saved", "check_inconsistent", "revision_saved", "check_consistent",
                          "expert_accepted"]
    assert kinds.count("drafted") == 5 and "needs_expert" in kinds


@pytest.mark.django_db
@pytest.mark.parametrize("fault, shown", [
    ("bad_json", "structurer output unusable after one repair: no JSON"),
    ("empty", "the drafter returned an empty reply"),
])
def test_bad_model_output_ends_the_attempt_with_the_reason_kept(tmp_path, llm, fault, shown):
    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 2, faults={1: fault})])
    llm(PipelineResponder(by_md5))
    run_all(drafting_services.create_run(dataset))
    sample = Sample.objects.get()
    first, second = sample.drafts.order_by("attempt")
    assert shown in first.caption_error and first.caption is None and not first.consistent
    assert second.consistent and sample.state == Sample.State.AUTO_ACCEPTED


@pytest.mark.django_db
def test_unknown_caption_keys_are_repaired_once(tmp_path, llm):
    dataset, by_md5 = make_dataset(tmp_path, [Script("melanoma", 1, faults={1: "unknown_keys"})])
    server = llm(PipelineResponder(by_md5))
    run_all(drafting_services.create_run(dataset))
    draft = CaptionDraft.objects.get()
    assert draft.consistent and "diagnosis" not in draft.caption
    repair = [r for r in server.requests if "not a valid caption" in str(r["messages"][-1])]
    assert len(repair) == 1 and "unknown caption key(s): 'diagnosis'" in str(repair[0]["messages"][-1])


@pytest.mark.django_db
def test_timeout_fails_the_job_with_a_clear_reason_and_resume_finishes_it(tmp_path, llm, settings):
    from webapp.models import LLMEndpoint

    dataset, by_md5 = make_dataset(tmp_path, [Script("scabies", 1, faults={1: "timeout"})])
    server = llm(PipelineResponder(by_md5))
    LLMEndpoint.objects.create(role="drafter", base_url=server.base_url, model="vision", timeout_s=1.0, max_retries=0)
    run = drafting_services.create_run(dataset)
    run_all(run)
    sample = Sample.objects.get()
    assert sample.state == Sample.State.DRAFT_FAILED
    assert "LLM unavailable" in sample.last_error and "timeout" in sample.last_error.lower()
    assert DraftJob.objects.get().state == DraftJob.State.FAILED
    drafting_services.resume_run(run)
    run_all(run)
    sample.refresh_from_db()
    assert sample.state == Sample.State.AUTO_ACCEPTED and sample.last_error == ""


@pytest.mark.django_db
def test_missing_image_file_fails_the_job_not_the_run(tmp_path, llm, settings):
    from pathlib import Path

    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", 1)])
    llm(PipelineResponder(by_md5))
    run = drafting_services.create_run(dataset)
    gone = Sample.objects.get(label="psoriasis")
    (Path(settings.MEDIA_ROOT) / gone.image).unlink()
    run_all(run)
    gone.refresh_from_db()
    assert gone.state == Sample.State.DRAFT_FAILED and "is missing on the server" in gone.last_error
    assert Sample.objects.get(label="melanoma").state == Sample.State.AUTO_ACCEPTED
    run.refresh_from_db()
    # One job failed: the run ends, and says that it did not fully succeed.
    assert run.state == DraftingRun.State.PARTIALLY_FAILED and run.finished_at is not None


@pytest.mark.django_db
def test_cancel_stops_pending_jobs(tmp_path, llm):
    dataset, by_md5 = make_dataset(tmp_path, [Script("psoriasis", 1), Script("melanoma", 1)])
    llm(PipelineResponder(by_md5))
    run = drafting_services.create_run(dataset)
    assert drafting_services.cancel_run(run) == 2
    run_all(run)
    assert set(Sample.objects.values_list("state", flat=True)) == {Sample.State.NEW}
    assert CaptionDraft.objects.count() == 0
