"""A dermatologist in a real browser (Playwright + Debian's Chromium): the leaderboard, a run, one
sample's page, an overruled verdict, and the Top-1 accuracy that changes with it; the sample browser's
verdict filter, thumbnails and safety-critical gallery; a run page that follows its progress live; and
heatmaps that can be read and zoomed."""

from __future__ import annotations


import pytest

from evaluation.tests.test_eval_pages import ROWS, finished_run
from webapp.tests.browser_login import log_in
from webapp.tests.csp_watch import csp_safe_wait_for_function

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
    csp_safe_wait_for_function(page, "document.querySelector('.item-image img').complete && "
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


def test_verdict_filter_thumbnails_and_the_safety_gallery(browser, live_server, dermatologist):
    run = finished_run()
    s2 = run.items.get(external_id="s2")
    page = log_in(browser, live_server.url, "derm", path=f"/evaluation/runs/{run.id}/samples/")
    assert page.locator("#samples .eval-card").count() == 3
    # Every card's thumbnail loads, and its colour is its top-1 verdict's.
    csp_safe_wait_for_function(page, "[...document.querySelectorAll('#samples img')].every(i => i.complete && i.naturalWidth > 0)")
    colour = page.evaluate("getComputedStyle(document.querySelector('.eval-card[data-verdict=safety_critical]')).borderLeftColor")
    assert colour == "rgb(180, 35, 24)"  # #b42318, the plots' safety-critical colour

    page.click("#legend a:has-text('safety critical')")
    page.wait_for_url("**verdict=safety_critical*")
    cards = page.locator("#samples .eval-card")
    assert cards.count() == 1 and cards.first.get_attribute("data-verdict") == "safety_critical"
    cards.first.locator("a.thumb").click()  # the thumbnail opens the sample's evaluation page
    page.wait_for_url(f"**/evaluation/items/{s2.id}/")

    page.goto(live_server.url + f"/evaluation/runs/{run.id}/")
    page.click("text=Safety-critical gallery")
    page.wait_for_selector("#gallery")
    assert page.locator("#gallery .eval-card").count() == 1
    assert "melanoma → seborrheic keratosis (rank 1)" in page.locator("#gallery .pair").inner_text()

    page.goto(live_server.url + f"/evaluation/runs/{run.id}/samples/?verdict=nonsense")
    assert page.locator("#filter-problems").is_visible()
    assert "“nonsense” is not a valid verdict" in page.locator("#filter-problems").inner_text()


def test_run_page_follows_its_progress_and_shows_the_metrics_when_done(browser, live_server, dermatologist):
    from evaluation import services
    from evaluation.judge import ClinicalJudge
    from evaluation.tests.eval_fixtures import make_test_set

    run = services.import_predictions(ROWS, name="live", model_name="M", test_set="T", k=6, judge_repeats=1,
                                      dataset=make_test_set())
    page = log_in(browser, live_server.url, "derm", path=f"/evaluation/runs/{run.id}/")
    assert page.locator("#status").inner_text() == "pending" and page.locator("#topk").count() == 0
    csp_safe_wait_for_function(page, "document.querySelector('[data-live-status]').textContent.startsWith('updated')")
    services.store_offline_judgements(run, ClinicalJudge())
    page.wait_for_selector("#topk", timeout=15000)  # live.js saw "done" and reloaded the page
    assert page.locator("#status").inner_text() == "done"


def test_heatmaps_are_large_and_zoom(browser, live_server, dermatologist, tmp_path):
    from evaluation import attention_services
    from evaluation.tests.eval_fixtures import make_test_set
    from evaluation.tests.tiny_vlm import save_tiny_checkpoint

    checkpoint = save_tiny_checkpoint(tmp_path / "tiny")
    analysis = attention_services.create_analysis(name="tiny", checkpoint=str(checkpoint), dataset=make_test_set(),
                                                  sample_size=2, max_new_tokens=3, start=False)
    attention_services.run_analysis(analysis.id)
    page = log_in(browser, live_server.url, "derm", path=f"/evaluation/attention/?a={analysis.id}")
    heat = page.locator("#heatmaps td:nth-child(2) img.attn").first
    csp_safe_wait_for_function(page, "[...document.querySelectorAll('#heatmaps img')].every(i => i.complete && i.naturalWidth > 0)")
    assert heat.bounding_box()["width"] >= 512
    assert page.evaluate("document.querySelector('#heatmaps td:nth-child(2) img').naturalWidth") >= 512
    page.locator("#heat-size").fill("800")
    assert abs(heat.bounding_box()["width"] - 800) < 2 and page.locator("#heat-size-value").inner_text() == "800 px"
    heat.click()
    box = page.locator(".lightbox img")
    box.wait_for()
    assert box.get_attribute("src").endswith(".png")
    page.keyboard.press("Escape")
    assert page.locator(".lightbox").count() == 0
