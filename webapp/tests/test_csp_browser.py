"""The pages that lean hardest on scripts and styles work in a real browser under the Content-Security-Policy.

Swagger UI (its inline start-up script runs under the nonce), the Django admin, an evaluation run with its SVG
plots, the caption-field bars (widths set from data-width by page.js), the review queue's select-all box and
auto-submitting filter. The ``browser`` fixture fails the test on any CSP violation (``webapp.tests.csp_watch``);
the last test proves that it notices one.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from webapp.tests.awkward_data import seed_awkward_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, base: str, username: str) -> None:
    page.goto(base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.org", "correct horse battery")


def test_script_heavy_pages_work_under_the_csp(browser, live_server, superuser, tmp_path):
    data = seed_awkward_data(author=superuser)
    base = live_server.url
    page = browser.new_page()
    _log_in(page, base, "root")

    # Swagger UI draws the operations only when its inline start-up script ran.
    page.goto(base + "/api/docs/")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() > 20

    # The Django admin: a change list and an add form with its widgets.
    page.goto(base + "/admin/webapp/llmcall/")
    page.wait_for_selector("#changelist")
    page.goto(base + "/admin/webapp/llmendpoint/add/")
    page.wait_for_selector("#llmendpoint_form")

    # An evaluation run: the progress script and the same-origin SVG plots.
    page.goto(base + f"/evaluation/runs/{data.ids['eval_run'][0]}/")
    page.wait_for_function("[...document.querySelectorAll('.plots img')].every(i => i.complete && i.naturalWidth > 0)")
    # A plot opened on its own (a new tab): matplotlib's inline styles are allowed there, scripts are not.
    page.goto(page.locator(".plots img").first.evaluate("i => i.src"))
    page.wait_for_selector("svg")

    # Caption-field bars get their widths from page.js (no style attribute).
    page.goto(base + "/review/fields/")
    page.wait_for_selector("table.bars .bar")
    assert page.evaluate("[...document.querySelectorAll('table.bars .bar')].some(b => b.getBoundingClientRect().width > 5)")

    # The review queue: the select-all box and the filter that submits itself.
    page.goto(base + "/review/")
    boxes = page.locator("input[name=sample]")
    if boxes.count():
        page.check("input[data-check-all]")
        assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.select_option("select[data-autosubmit]", str(data.dataset.pk))
    page.wait_for_url(f"**/review/?dataset={data.dataset.pk}")
    page.screenshot(path=str(tmp_path / "review-queue.png"), full_page=True)


def test_the_watch_notices_a_script_the_policy_refuses(browser, live_server, dermatologist):
    page = browser.new_page()
    _log_in(page, live_server.url, "derm")
    # What an injected inline script would do: the browser refuses to run it and reports the violation.
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';
                            document.body.appendChild(s); }""")
    page.wait_for_timeout(300)
    assert page.evaluate("window.injected === undefined")
    assert any("script-src" in v for v in browser.csp_violations), browser.csp_violations
    browser.csp_violations.clear()  # expected here: do not fail the test at teardown
