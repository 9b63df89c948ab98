"""The evaluation door (issue 12): an image goes to the model under test only de-identified, and only when no
reviewer marked it as showing identifying content.

A sample whose stored file still carries metadata (stored the old way, before de-identification on the way
in) fails its item with "run manage.py scrub_media" and nothing is sent for it; a clean sample's image
reaches the local OpenAI-compatible server without metadata (decoded from the captured request body). A
sample marked as identifying after the run was created fails its item the same way, with that reason.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from django.conf import settings

from annotations.deidentify import carries_metadata, deidentify
from annotations.models import Dataset, Sample
from annotations.tests.test_deidentify import MARKERS, jpeg_exif, png_text
from evaluation import services
from evaluation.models import EvalRun
from evaluation.tests.eval_fixtures import JUDGE_ID, MODEL_ID, answer, request_image
from webapp.llm_testserver import ScriptedLLMServer

pytestmark = pytest.mark.django_db


def _store(dataset: Dataset, external_id: str, data: bytes, suffix: str) -> Sample:
    """Stored as given and content-addressed: ``data`` with metadata is what imports wrote before issue 12."""
    sha = hashlib.sha256(data).hexdigest()
    rel = f"samples/{sha[:2]}/{sha}{suffix}"
    path = Path(settings.MEDIA_ROOT) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Sample.objects.create(dataset=dataset, external_id=external_id, label="psoriasis", image=rel,
                                 checksum=sha, original_checksum=sha, split=Sample.Split.TEST)


@pytest.fixture
def server(monkeypatch):
    # Plays the model under test (every answer names the label: the ontology judges it, no judge call).
    with ScriptedLLMServer(lambda request: answer("psoriasis")) as srv:
        monkeypatch.setenv("SKINFLOW_JUDGE_BASE_URL", srv.base_url)
        monkeypatch.setenv("SKINFLOW_JUDGE_MODEL", JUDGE_ID)
        yield srv


def _sent_images(srv: ScriptedLLMServer) -> list[bytes]:
    urls = [request_image(r) for r in srv.requests if r.get("model") == MODEL_ID]
    return [base64.b64decode(url.split(",", 1)[1]) for url in urls if url]


def _run(dataset: Dataset, srv: ScriptedLLMServer) -> EvalRun:
    run = services.create_run(name="door", model_name="Scripted-VL", dataset=dataset, base_url=srv.base_url,
                              endpoint_model=MODEL_ID, k=3, judge_repeats=1, start=False)
    services.infer_pending(run.id)
    services.judge_pending(run.id)
    run.refresh_from_db()
    return run


def test_an_image_stored_with_metadata_fails_its_item_and_a_clean_one_is_sent_clean(server):
    dataset = Dataset.objects.create(name="Door", source=Dataset.Source.FOLDER)
    old = _store(dataset, "old", jpeg_exif(31), ".jpg")            # stored the old way: EXIF, XMP, GPS, ...
    clean_bytes = deidentify(png_text(32))
    _store(dataset, "clean", clean_bytes, ".png")

    run = _run(dataset, server)

    failed = run.items.get(sample=old)
    assert not failed.inferred and "scrub_media" in failed.inference_error, failed.inference_error
    assert "still carries" in failed.inference_error
    sent = _sent_images(server)
    assert len(sent) == 1, "nothing may be sent for the image that carries metadata"
    assert sent == [clean_bytes]
    assert carries_metadata(sent[0]) == []
    raw = b"".join(str(r).encode() for r in server.requests)
    assert not any(m in raw for m in MARKERS)
    # The run says what happened: one answer missing, metrics over the sample that was asked.
    assert run.status == EvalRun.Status.PARTIALLY_FAILED, run.error
    assert "1 of 2 model calls failed" in run.error and run.metrics["n"] == 1


def test_a_sample_marked_identifying_after_the_run_was_created_is_not_sent(server):
    dataset = Dataset.objects.create(name="Door", source=Dataset.Source.FOLDER)
    flagged = _store(dataset, "face", deidentify(jpeg_exif(33)), ".jpg")
    _store(dataset, "arm", deidentify(jpeg_exif(34)), ".jpg")
    run = services.create_run(name="door", model_name="Scripted-VL", dataset=dataset, base_url=server.base_url,
                              endpoint_model=MODEL_ID, k=3, judge_repeats=1, start=False)
    assert run.items.count() == 2
    Sample.objects.filter(pk=flagged.pk).update(identifying_content=True)  # a reviewer marks it meanwhile

    services.infer_pending(run.id)
    item = run.items.get(sample=flagged)
    assert not item.inferred
    assert "marked as showing identifying content; not sent" in item.inference_error, item.inference_error
    sent = _sent_images(server)
    assert len(sent) == 1 and sent[0] == (Path(settings.MEDIA_ROOT) / run.items.get(external_id="arm").sample.image
                                          ).read_bytes()
    # A new run leaves the sample out of its test set altogether.
    again = services.create_run(name="again", model_name="Scripted-VL", dataset=dataset, base_url=server.base_url,
                                endpoint_model=MODEL_ID, k=3, judge_repeats=1, start=False)
    assert list(again.items.values_list("external_id", flat=True)) == ["arm"]


@pytest.mark.django_db(transaction=True)
def test_a_sample_marked_while_the_run_is_inferring_is_not_sent():
    # A run loads its items once and may last hours: a mark set after it started still stops the photo.
    dataset = Dataset.objects.create(name="Door", source=Dataset.Source.FOLDER)
    first = _store(dataset, "a-first", deidentify(jpeg_exif(35)), ".jpg")
    later = _store(dataset, "b-later", deidentify(jpeg_exif(36)), ".jpg")

    def model(request):
        # A reviewer marks the second photo while the first one is being answered.
        Sample.objects.filter(pk=later.pk).update(identifying_content=True)
        return answer("psoriasis")

    with ScriptedLLMServer(model) as srv:
        run = services.create_run(name="door", model_name="Scripted-VL", dataset=dataset, base_url=srv.base_url,
                                  endpoint_model=MODEL_ID, k=3, judge_repeats=1, start=False, max_concurrency=1)
        assert run.items.count() == 2
        services.infer_pending(run.id)
        sent = _sent_images(srv)
    assert sent == [(Path(settings.MEDIA_ROOT) / first.image).read_bytes()]
    item = run.items.get(sample=later)
    assert not item.inferred and "not sent" in item.inference_error, item.inference_error
