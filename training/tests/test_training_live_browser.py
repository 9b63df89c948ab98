"""The run page in a real browser: it follows the run without reloading (a marker the test leaves on the page's
window survives every update), and Cancel reaches the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webapp.tests.browser_login import log_in
from training import runner
from training.metrics import device_line, metric_line
from training.models import TrainingRun
from training.tests.loop_helpers import loop_dataset, recorded_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def text(page, selector: str) -> str:
    return page.evaluate(f"document.querySelector({json.dumps(selector)}).textContent.trim()")


def test_run_page_updates_without_reload_and_cancel_works(browser, live_server, admin_user, settings, tmp_path):
    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    run = recorded_run(loop_dataset(), name="live")
    runner._store_metrics(run, [metric_line(1, {"reward": 0.1, "reward_std": 0.05})])
    page = log_in(browser.new_context(viewport={"width": 1400, "height": 900}), live_server.url, "boss")
    page.goto(f"{live_server.url}/training/runs/{run.pk}/")
    assert text(page, "#run-step") == "1"
    page.evaluate("window.__sameDocument = 'still here'")

    # The supervisor stores what the engine printed: device, a new step, rollouts, a log line.
    runner._store_metrics(run, [device_line("cpu"), metric_line(2, {"reward": 0.4, "reward_std": 0.2})])
    runner._store_rollouts(run, [json.dumps({"step": 2, "samples": [
        {"prompt": "p", "completion": "a completion the page shows", "reference": "psoriasis", "reward": 0.4}]})])
    Path(run.run_dir, "train.log").write_text("SKINFLOW_METRICS step two\n")
    page.wait_for_function("document.getElementById('run-step').textContent.trim() === '2'", timeout=15_000)
    assert page.evaluate("window.__sameDocument") == "still here"  # updated in place, never reloaded
    assert text(page, "#run-where b") == "cpu"
    assert page.evaluate("document.querySelectorAll('#metrics tbody tr').length") == 2
    assert "a completion the page shows" in text(page, "#rollouts details[open]")
    assert "step two" in text(page, "#run-log")
    assert "?v=2-running" in page.evaluate("document.getElementById('run-chart').getAttribute('src')")

    # Cancel: the click reaches the run, the page says it is stopping, then shows it cancelled.
    page.click("#cancel-form button")
    page.wait_for_url(f"**/training/runs/{run.pk}/")
    run.refresh_from_db()
    assert run.cancel_requested and run.state == "running"
    assert page.evaluate("!document.querySelector('[data-live-show=stopping]').hidden")
    page.evaluate("window.__sameDocument = 'after cancel'")
    runner._finish(run, TrainingRun.State.CANCELLED)  # what the supervisor does once the engine stopped
    page.wait_for_function("document.getElementById('run-state').textContent.trim() === 'cancelled'", timeout=15_000)
    assert page.evaluate("window.__sameDocument") == "after cancel"
    assert page.evaluate("document.getElementById('cancel-form').hidden")
    assert page.evaluate("document.querySelector('[data-live-show=stopping]').hidden")
