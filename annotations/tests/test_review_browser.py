"""A dermatologist reviews in a real browser: next sample, keyboard edits, save, history; and a second
reviewer in another browser context never receives the same sample."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth import get_user_model

from annotations import services
from annotations.models import CaptionDraft, Sample
from annotations.tests.images import jpeg_bytes, write
from annotations.tests.scripted_llm import caption_json
from webapp.roles import DERMATOLOGIST, grant_role
from webapp.tests.browser_login import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_keyboard_review_and_exclusive_claims(browser, live_server, tmp_path):
    for i in range(3):
        write(tmp_path / "src" / "psoriasis" / f"{i}.jpg", jpeg_bytes((180, 60 + i * 40, 70), size=(640, 480)))
    services.import_folder("Review UI", tmp_path / "src", progress=False)
    for sample in Sample.objects.all():
        CaptionDraft.objects.create(sample=sample, attempt=1, prompt_version="t", drafter_model="m",
                                    caption=json.loads(caption_json("")), diagnoses=["tinea corporis"],
                                    judge_category="safety_critical")
    Sample.objects.update(state=Sample.State.NEEDS_EXPERT)
    for name in ("derm", "derm2"):
        user = get_user_model().objects.create_user(username=name, password="correct horse battery")
        grant_role(user, DERMATOLOGIST)

    first = log_in(browser.new_context(), live_server.url, "derm")
    first.goto(live_server.url + "/review/")
    first.keyboard.press("Alt+n")
    first.wait_for_url("**/review/samples/*/")
    sample_id = int(first.url.rstrip("/").split("/")[-1])
    first.wait_for_function("document.getElementById('viewer-img').naturalWidth === 640")
    assert first.input_value("#f-color") == "erythematous"  # prefilled from the machine attempt

    # The color field has focus on arrival; rewrite it, then move to location with the keyboard.
    assert first.evaluate("document.activeElement.id") == "f-color"
    first.keyboard.press("Control+a")
    first.keyboard.type("salmon pink")
    first.keyboard.press("Alt+ArrowDown")
    assert first.evaluate("document.activeElement.id") == "f-location"
    first.keyboard.press("Control+a")
    first.keyboard.type("extensor elbows and knees")
    first.keyboard.press("Alt+s")
    entry = first.locator("#history li", has_text="revision saved")
    entry.wait_for()
    text = entry.inner_text()
    assert "by derm" in text and "erythematous\t→\tsalmon pink" in text and "extensor elbows and knees" in text
    assert first.inner_text("#caption-version") == "1"
    first.set_viewport_size({"width": 1400, "height": 900})
    first.screenshot(path=str(tmp_path / "review.png"))
    saved = Sample.objects.get(pk=sample_id)
    assert saved.caption["color"] == "salmon pink" and saved.caption["location"] == "extensor elbows and knees"

    # A second reviewer, in a separate browser context, is given other samples only.
    second = log_in(browser.new_context(), live_server.url, "derm2")
    second.goto(live_server.url + "/review/next/")  # a GET only offers the button: claiming is a POST
    assert not Sample.objects.filter(claimed_by__username="derm2").exists()
    second.click("#review-next")
    second.wait_for_url("**/review/samples/*/")
    seen = [int(second.url.rstrip("/").split("/")[-1])]
    second.click("#btn-skip")  # skip goes on to the next sample
    second.wait_for_url(lambda url: "/review/samples/" in url and not url.rstrip("/").endswith(f"/{seen[0]}"))
    seen.append(int(second.url.rstrip("/").split("/")[-1]))
    assert sample_id not in seen and len(set(seen)) == 2
    with first.expect_navigation():
        first.keyboard.press("Alt+n")  # "next" while holding a claim returns the same claim
    assert int(first.url.rstrip("/").split("/")[-1]) == sample_id
    first.wait_for_function("document.getElementById('viewer-img').naturalWidth === 640")
    assert Sample.objects.get(pk=sample_id).claimed_by.username == "derm"

    # Closing the page hands the sample back at once (a beacon on pagehide), not after the lease runs out.
    first.close(run_before_unload=True)
    for _ in range(50):
        if Sample.objects.get(pk=sample_id).claimed_by_id is None:
            break
        time.sleep(0.1)
    assert Sample.objects.get(pk=sample_id).claimed_by_id is None
    assert Sample.objects.get(pk=sample_id).events.filter(kind="released", actor__username="derm").exists()
