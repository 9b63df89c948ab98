"""A dermatologist in a real browser (Playwright + Debian's Chromium): the leaderboard, a run, one
sample's page, an overruled verdict, and the Top-1 accuracy that changes with it."""

from __future__ import annotations


import pytest

from evaluation.tests.test_eval_pages import finished_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def top1(page) -> str:
    return page.locator("#topk .topk-mean[data-k='1']").inner_text().strip()


def test_overrule_a_verdict_and_see_top1_change(browser, live_server, dermatologist, tmp_path):
    run = finished_run()
    page = browser.new_page()
    page.goto(live_server.url + "/evaluation/")
    assert "/login/" in page.url
    page.fill("#id_username", "derm")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/evaluation/")

    # The leaderboard: SkinFlow-7B on F17k, Top-1 33.33 (s1 right at rank 1; s2 and s5 at rank 2).
    board = page.locator("table.board")
    assert "SkinFlow-7B" in board.inner_text() and "F17k" in board.inner_text()
    board.locator("a", has_text="33.33").first.click()
    page.wait_for_selector("#topk")
    assert top1(page) == "33.33"

    # The per-sample page of the melanoma called a seborrhoeic keratosis.
    page.click("text=Browse samples")
    page.click("#samples a:text-is('s2')")
    page.wait_for_selector("li.prediction")
    page.wait_for_function("document.querySelector('.item-image img').complete && "
                           "document.querySelector('.item-image img').naturalWidth > 0")
    first = page.locator("li.prediction[data-rank='1']")
    assert first.get_attribute("data-category") == "safety_critical"
    assert "seborrheic keratosis" in first.inner_text()
    page.screenshot(path=str(tmp_path / "sample-before.png"), full_page=True)

    # Overrule: the dermatologist counts it as exact (say the label was wrong).
    first.locator("select[name=category]").select_option("exact")
    first.locator("input[name=note]").fill("histology: seborrhoeic keratosis")
    first.locator("button", has_text="Save verdict").click()
    page.wait_for_selector("text=metrics recomputed")
    first = page.locator("li.prediction[data-rank='1']")
    assert first.get_attribute("data-category") == "exact"
    assert "dermatologist (derm)" in first.inner_text()

    page.goto(live_server.url + f"/evaluation/runs/{run.id}/")
    assert top1(page) == "66.67"
    assert "1 reviewed prediction" in page.locator("#agreement").inner_text()
    page.screenshot(path=str(tmp_path / "run-after.png"), full_page=True)
