"""A dermatologist's first visit in a real browser (Playwright driving Debian's Chromium, headless)."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from annotations.models import Dataset

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_log_in_and_see_the_demo_dataset_with_thumbnails(browser, live_server, dermatologist, tmp_path):
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    demo = Dataset.objects.get(name="Demo dermatology set")
    page = browser.new_page()
    page.goto(live_server.url + "/")
    assert "/login/" in page.url
    page.fill("#id_username", "derm")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_selector(f"text={demo.name}")
    page.click(f"text={demo.name}")
    page.wait_for_selector(".card img")
    page.wait_for_function("[...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator(".card").count() == 24
    page.select_option("#id_label", "melanoma")
    page.click("#filters button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".card").count() == 4
    page.screenshot(path=str(tmp_path / "samples.png"), full_page=True)
