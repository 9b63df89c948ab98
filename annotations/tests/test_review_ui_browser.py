"""The review page in a real browser: lesion-type chips save vocabulary terms, shortcuts go by the physical
key (macOS Option+S types "ß"), a refused save shows its error by the field and in view, the reject box
appears only when rejecting, and a decision can be undone from the page."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth import get_user_model

from annotations import services
from annotations.models import CaptionDraft, Sample
from annotations.tests.images import jpeg_bytes, write
from annotations.tests.scripted_llm import caption_json
from webapp.tests.browser_login import log_in
from webapp.roles import DERMATOLOGIST, grant_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def waiting_samples(tmp_path, n: int = 2, **caption) -> list[Sample]:
    for i in range(n):
        write(tmp_path / "src" / "psoriasis" / f"{i}.jpg", jpeg_bytes((180, 60 + i * 40, 70), size=(640, 480)))
    services.import_folder("Chips", tmp_path / "src", progress=False)
    for sample in Sample.objects.all():
        CaptionDraft.objects.create(sample=sample, attempt=1, prompt_version="t", drafter_model="m",
                                    caption=json.loads(caption_json("", **caption)), diagnoses=["tinea corporis"],
                                    judge_category="safety_critical")
    Sample.objects.update(state=Sample.State.NEEDS_EXPERT)
    user = get_user_model().objects.create_user(username="derm", password="correct horse battery")
    grant_role(user, DERMATOLOGIST)
    return list(Sample.objects.order_by("id"))


def claimed(sample_id: int) -> None:
    for _ in range(50):
        if Sample.objects.filter(pk=sample_id, claimed_by__username="derm").exists():
            return
        time.sleep(0.1)
    raise AssertionError("the page never took its claim")


# What macOS sends for Option+<key>: the character typed ("ß", "®"), the physical key in ``code``.
OPTION = "(([key, code]) => (document.activeElement || document).dispatchEvent(new KeyboardEvent('keydown', " \
         "{key, code, altKey: true, bubbles: true, cancelable: true})))"


def test_chips_option_shortcut_and_an_error_shown_by_its_field(browser, live_server, tmp_path):
    sample = waiting_samples(tmp_path, 1, lesion_type="papule, blister")[0]
    page = log_in(browser.new_context(viewport={"width": 1400, "height": 900}), live_server.url, "derm")
    page.goto(f"{live_server.url}/review/samples/{sample.pk}/")
    claimed(sample.pk)
    assert page.get_attribute('.chip[data-term="papule"]', "aria-pressed") == "true"
    assert page.get_attribute('.chip.unknown[data-term="blister"]', "aria-pressed") == "true"  # shown, kept

    # Option+S ("ß" typed, KeyS pressed) saves; the stored word outside the vocabulary is refused, by its field.
    page.evaluate(OPTION, ["ß", "KeyS"])
    error = page.locator("#err-lesion_type")
    error.wait_for(state="visible")
    assert "vesicle" in error.inner_text() and "blister" in error.inner_text()
    box = error.bounding_box()
    field = page.locator("#f-lesion_type").bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= 900, box  # in view at 1400x900, not 1,231 px down
    assert 0 <= box["y"] - (field["y"] + field["height"]) < 60  # right under the chips
    assert page.is_visible("#form-errors") and "lesion type" in page.inner_text("#form-errors-list")
    assert page.evaluate("document.getElementById('f-lesion_type').contains(document.activeElement)")
    assert Sample.objects.get(pk=sample.pk).caption_version == 0

    # Remove the unknown word, add "plaque" with its number key while the chips have focus, save with Option+S.
    page.click('.chip.unknown[data-term="blister"]')
    assert page.is_hidden("#err-lesion_type")
    page.focus("#f-lesion_type")
    page.keyboard.press("4")
    assert page.get_attribute('.chip[data-term="plaque"]', "aria-pressed") == "true"
    page.keyboard.press("4")  # toggles back off
    assert page.get_attribute('.chip[data-term="plaque"]', "aria-pressed") == "false"
    page.keyboard.press("4")
    page.evaluate(OPTION, ["ß", "KeyS"])
    page.wait_for_function("document.getElementById('caption-version').textContent === '1'")
    saved = Sample.objects.get(pk=sample.pk)
    assert saved.caption["lesion_type"] == "papule, plaque" and saved.caption_version == 1
    assert page.is_hidden("#form-errors")
    entry = page.locator("#history li", has_text="revision saved")
    entry.wait_for()
    assert "papule, blister\t→\tpapule, plaque" in entry.inner_text()


def test_reject_box_only_when_rejecting_then_undo(browser, live_server, tmp_path):
    samples = waiting_samples(tmp_path, 2)
    page = log_in(browser.new_context(viewport={"width": 1400, "height": 900}), live_server.url, "derm")
    page.goto(f"{live_server.url}/review/")
    # Option+N on the queue page (macOS: a dead key, "˜") takes the next sample.
    with page.expect_navigation():
        page.evaluate(OPTION, ["Dead", "KeyN"])
    sample_id = int(page.url.split("?")[0].rstrip("/").split("/")[-1])
    assert sample_id in {s.pk for s in samples}
    claimed(sample_id)

    assert page.evaluate("getComputedStyle(document.getElementById('reject-box')).display") == "none"
    page.evaluate(OPTION, ["®", "KeyR"])
    assert page.is_visible("#reject-box") and page.evaluate("document.activeElement.id") == "reject-reason"
    page.keyboard.press("Escape")
    assert page.is_hidden("#reject-box") and page.evaluate("document.activeElement.id") == "btn-reject"

    page.click("#btn-reject")
    page.select_option("#reject-reason", "other")
    page.click("#btn-reject-confirm")
    page.locator("#err-note").wait_for(state="visible")
    assert "Required" in page.inner_text("#err-note")
    assert page.evaluate("document.activeElement.id") == "reject-note"
    assert Sample.objects.get(pk=sample_id).state == Sample.State.NEEDS_EXPERT
    page.fill("#reject-note", "a photo of a printed page")
    page.click("#btn-reject-confirm")
    page.locator("#btn-undo").wait_for()
    assert Sample.objects.get(pk=sample_id).state == Sample.State.REJECTED
    assert page.is_hidden("#reject-box")
    note = page.locator("#history li.h-rejected q.note")
    assert note.inner_text() == "a photo of a printed page"

    with page.expect_navigation():
        page.click("#btn-undo")
    page.locator("#history li.h-undone").wait_for()
    undone = Sample.objects.get(pk=sample_id)
    assert undone.state == Sample.State.NEEDS_EXPERT and undone.claimed_by.username == "derm"
    assert page.is_enabled("#btn-save")
    assert page.locator("#history li.h-rejected").count() == 1  # the rejection stays in the history
