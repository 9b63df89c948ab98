#!/usr/bin/env python3
"""The first-run journey of issue 13, in a real browser on a fresh ``bin/run``, with no shell step:

  a. the admin logs in and starts a demo drafting run, and follows it on its live page to the end;
  b. a dermatologist reviews with the lesion-type chips and the Alt+… shortcuts, until nothing waits;
  c. the admin launches Stage I on the tiny CPU model from the launch form, follows it live, then Stage II
     from Stage I's final checkpoint;
  d. evaluates the final checkpoint from its page; the leaderboard and the per-sample pages show the run
     with its image-blind baselines;
  e. a dermatologist overrules a verdict on a per-sample page and the metric on the report changes.

    .venv/bin/python scripts/browser_journey.py [--shots DIR] [--keep]

``bin/run`` runs as a new user starts it (its own session, a whitelisted environment, a fresh data folder on
free ports); Playwright drives Debian's Chromium, headless. Every step is a click or a key press on the pages
(no API call, no manage.py); each prints a timing line. ``--shots DIR`` saves a full-page screenshot of every
page visited at 1400 and 1024 px wide, and at the end of every page in the nav and one detail page of each
kind, for both roles. ``--keep`` leaves the temporary folder (bin/run's data and log) in place.
``webapp/tests/test_browser_journey.py`` runs the same functions and asserts what each step returns.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webapp.tests.csp_watch import WatchedBrowser  # noqa: E402  (after sys.path)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BANNER = "Demo stand-in LLM — answers are synthetic"
DATASET = "Demo dermatology set"
TINY = "Tiny CPU model (smoke test)"
LINEAGE = "journey"
# Generous: on a busy 2-core machine a tiny-model stage takes one to three minutes (test_training_tiny_worker).
DRAFTING_TIMEOUT_S = 420
TRAINING_TIMEOUT_S = 600
EVALUATION_TIMEOUT_S = 420
WIDTHS = (1400, 1024)


class JourneyError(AssertionError):
    """A step could not go on: what the page showed instead."""


# --- bin/run -----------------------------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    passwords: dict[str, str]
    proc: subprocess.Popen
    data: Path
    log: Path
    started_s: float

    def logs(self) -> str:
        """bin/run's output and the tails of its children's logs, for a failure message."""
        parts = [self.log.read_text(errors="replace")[-4000:]]
        for name in ("worker.log", "demo-llm.log"):
            path = self.data / name
            parts.append(f"--- {name} ---\n" + (path.read_text(errors="replace")[-4000:] if path.exists() else "(none)"))
        return "\n".join(parts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bin_run_env(data: Path, port: int, llm_port: int) -> dict[str, str]:
    # A new user's shell: nothing this process (or a test session) exported reaches bin/run.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env.update(SKINFLOW_DATA_DIR=str(data), PORT=str(port), SKINFLOW_DEMO_LLM_PORT=str(llm_port))
    return env


def start_server(tmp: Path, timeout: float = 420) -> Server:
    """Start ``bin/run`` in its own session on free ports and wait for its login page."""
    data, port, llm_port = tmp / "data", free_port(), free_port()
    log = tmp / "bin-run.log"
    started = time.monotonic()
    # Its own session, as from a terminal: the group is killed at the end, and a signal to it never reaches us.
    proc = subprocess.Popen([str(ROOT / "bin" / "run")], cwd=ROOT, env=bin_run_env(data, port, llm_port),
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    server = Server(base, {}, proc, data, log, 0.0)
    while True:
        if proc.poll() is not None:
            raise JourneyError(f"bin/run ended with status {proc.returncode}:\n{server.logs()}")
        try:
            urllib.request.urlopen(base + "/login/", timeout=2).read()
            break
        except OSError:
            if time.monotonic() - started > timeout:
                stop_server(server)
                raise JourneyError(f"no page at {base}/login/ after {timeout} s:\n{server.logs()}") from None
            time.sleep(0.3)
    server.started_s = time.monotonic() - started
    # Printed once, when they are issued: "account 'admin' (admin): password X".
    server.passwords = dict(re.findall(r"account '(\S+)' \([^)]*\): password (\S+)", log.read_text()))
    if not {"admin", "dermatologist"} <= set(server.passwords):
        stop_server(server)
        raise JourneyError(f"bin/run printed no passwords for admin and dermatologist:\n{server.logs()}")
    return server


def stop_server(server: Server) -> None:
    """Kill bin/run's process group (the web server, the worker, the demo LLM)."""
    try:
        os.killpg(server.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.proc.wait(30)


# --- the browser ---------------------------------------------------------------------------------------------


def launch_browser(playwright: Any) -> WatchedBrowser:
    """Debian's Chromium, headless, as conftest's ``browser`` fixture launches it (CSP violations collected)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"])
    return WatchedBrowser(browser)


@dataclass
class Journey:
    """One journey through one server, with one browser context per role."""

    browser: Any
    base: str
    passwords: dict[str, str]
    shots: Path | None = None
    out: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # ids found on the way (runs, checkpoints, items)
    pages: dict[str, Any] = field(default_factory=dict)
    _shot_no: int = 0

    # -- helpers --

    def page_for(self, role: str) -> Any:
        """The role's page, logged in through the login form the first time."""
        if role not in self.pages:
            context = self.browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.goto(self.base + "/")  # redirected to the login page
            self.shot(page, f"login-{role}")
            page.fill("#id_username", role)
            page.fill("#id_password", self.passwords[role])
            page.click("form button[type=submit]")
            page.wait_for_load_state()
            if page.url.rstrip("/") != self.base or "Log in" in page.title():
                raise JourneyError(f"{role} could not log in: {page.url}\n{page.inner_text('main')[:500]}")
            self.pages[role] = page
            self.shot(page, f"home-{role}")
        return self.pages[role]

    def shot(self, page: Any, name: str) -> None:
        """Full-page screenshots at each width (``--shots`` only): DIR/NN-name-1400.png, -1024.png."""
        if self.shots is None:
            return
        self._shot_no += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
        size = page.viewport_size
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(self.shots / f"{self._shot_no:02d}-{slug}-{width}.png"), full_page=True)
        page.set_viewport_size(size)

    def nav(self, page: Any, text: str) -> None:
        """Click a link of the top navigation."""
        page.click(f"header nav a:text-is('{text}')")
        page.wait_for_load_state()

    def wait_text(self, page: Any, selector: str, pattern: str, timeout_s: float, what: str) -> str:
        """Poll ``selector``'s text until it matches ``pattern`` (under the CSP: no eval in the page)."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = page.locator(selector).first.inner_text().strip()
            if re.search(pattern, text):
                return text
            if time.monotonic() > deadline:
                raise JourneyError(f"{what}: still {text!r} after {timeout_s:.0f} s ({page.url})")
            page.wait_for_timeout(1000)

    def key_and_wait(self, page: Any, key: str) -> None:
        """Press a shortcut that submits a form (Alt+N) and wait for the page it leads to."""
        with page.expect_navigation():
            page.keyboard.press(key)
        page.wait_for_load_state()

    def mark_page(self, page: Any) -> None:
        """A marker that a reload would wipe: the page was followed live, never reloaded."""
        page.evaluate("window.__journeyNoReload = 1")

    def not_reloaded(self, page: Any) -> bool:
        return page.evaluate("window.__journeyNoReload === 1")

    def timed(self, name: str, step: Callable[[], dict]) -> dict:
        started = time.monotonic()
        result = step()
        self.timings[name] = time.monotonic() - started
        self.out(f"[journey] {name}: {self.timings[name]:.1f} s")
        return result

    def _id(self, url: str, pattern: str) -> int:
        found = re.search(pattern, url)
        if not found:
            raise JourneyError(f"expected an address like {pattern}, got {url}")
        return int(found.group(1))

    # -- a. drafting --

    def drafting(self) -> dict:
        page = self.page_for("admin")
        banner = BANNER in page.inner_text("body")
        self.nav(page, "Datasets")
        page.click(f"a:text-is('{DATASET}')")
        page.wait_for_load_state()
        self.facts["dataset_id"] = self._id(page.url, r"/datasets/(\d+)/samples/")
        self.shot(page, "dataset-samples-before-drafting")
        self.nav(page, "Review")
        self.shot(page, "review-queue-admin")
        form = page.locator("form[action$='/review/runs/start/']")
        form.locator("select[name=dataset]").select_option(label=DATASET)
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/review/runs/\d+/$"))
        self.facts["drafting_run_id"] = self._id(page.url, r"/review/runs/(\d+)/")
        self.mark_page(page)
        self.shot(page, "drafting-run-started")
        state = self.wait_text(page, "#run-state", r"^(succeeded|partially failed|failed|cancelled)$",
                               DRAFTING_TIMEOUT_S, "the drafting run did not finish")
        page.wait_for_timeout(2500)  # one more poll: the last rows' states
        live = self.not_reloaded(page)
        states = page.eval_on_selector_all("#run-jobs tbody .jobstate", "els => els.map(e => e.textContent.trim())")
        chips = dict(zip(page.eval_on_selector_all("nav.chips a", "els => els.map(e => e.firstChild.textContent.trim())"),
                         page.eval_on_selector_all("nav.chips a b", "els => els.map(e => e.textContent.trim())")))
        self.shot(page, "drafting-run-finished")
        return {"banner": banner, "state": state, "followed_live": live, "row_states": states, "chips": chips,
                "counts": page.inner_text("#run-counts")}

    # -- b. review --

    def _queue_counts(self, page: Any) -> dict[str, int]:
        stats = page.eval_on_selector_all(
            ".stats .stat", "els => els.map(e => [e.childNodes[1].textContent.trim(), e.querySelector('b').textContent])")
        return {name: int(value) for name, value in stats}

    def _open_queue(self, page: Any) -> None:
        self.nav(page, "Review")
        if page.locator("select[name=dataset][data-autosubmit]").input_value() != str(self.facts["dataset_id"]):
            page.select_option("select[name=dataset][data-autosubmit]", label=DATASET)  # submits itself
            page.wait_for_url(re.compile(r"dataset=\d+"))

    def _decided(self, page: Any, sample_url: str, timeout_s: float = 60) -> str:
        """After Alt+A: "next" (consistent: the page went on by itself), or "override" (the re-check disagreed
        and the override box is open)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if page.url != sample_url:
                page.wait_for_load_state()
                return "next"
            try:
                if page.locator("#override-box").is_visible():
                    return "override"
            except Exception:  # noqa: BLE001 — the page navigated under the locator
                continue
            page.wait_for_timeout(300)
        raise JourneyError(f"no decision after Alt+A on {sample_url}: {page.inner_text('#flash')!r}")

    def _override(self, page: Any, reason: str) -> None:
        page.fill("#override-reason", reason)
        page.click("#btn-override")
        self.wait_text(page, "#flash", r"Accepted as expert", 30, "the override was not accepted")

    def review(self) -> dict:
        page = self.page_for("dermatologist")
        self._open_queue(page)
        counts_before = self._queue_counts(page)
        waiting = int(page.inner_text("#waiting-count b"))
        self.shot(page, "review-queue-dermatologist")

        # The first sample: claim it with Alt+N, add a lesion-type chip by its digit, save with Alt+S.
        self.key_and_wait(page, "Alt+KeyN")
        if "/review/samples/" not in page.url:
            raise JourneyError(f"Alt+N on the queue claimed nothing: {page.url}")
        first_url = page.url
        first_id = self._id(first_url, r"/review/samples/(\d+)/")
        self.shot(page, "review-sample-claimed")
        chip = page.locator("#f-lesion_type .chip[aria-pressed=false]:has(kbd)").first
        term, key = chip.get_attribute("data-term"), chip.locator("kbd").inner_text().strip()
        page.focus("#f-lesion_type")
        page.keyboard.press(f"Digit{key}")
        chip_on = page.locator(f"#f-lesion_type .chip[data-term='{term}']").get_attribute("aria-pressed") == "true"
        version_before = int(page.inner_text("#caption-version"))
        page.keyboard.press("Alt+KeyS")
        self.wait_text(page, "#caption-version", rf"^(?!{version_before}$)\d+$", 30, "Alt+S saved nothing")
        self.wait_text(page, "#check-headline", r"^(?!.*checking).+", 60, "the re-check did not finish")
        decided = "consistent" if not page.locator("#override-box").is_visible() else "override"
        if decided == "override":
            self._override(page, "journey: the chip I added is right")
        self.shot(page, "review-sample-saved")
        history = page.inner_text("#history")
        saved = "lesion_type" in history and term in history

        # My recent reviews: the save is there.
        page.click("a:text-is('my recent reviews (undo)')")
        page.wait_for_url(re.compile(r"/review/mine/$"))
        recent_first = page.locator("table.recent tbody tr").first.inner_text()
        in_recent = f"#{first_id}" in recent_first
        self.shot(page, "review-recent")

        # Every other sample that waits: Alt+N, then Alt+A; an override with a reason where the re-check disagrees.
        self._open_queue(page)
        reviewed, overrides = [first_id], int(decided == "override")
        self.key_and_wait(page, "Alt+KeyN")
        for _ in range(40):
            if "/review/samples/" not in page.url:
                break  # back on the queue: nothing waits any more
            url = page.url
            reviewed.append(self._id(url, r"/review/samples/(\d+)/"))
            page.wait_for_selector("#btn-accept:not([disabled])")
            page.keyboard.press("Alt+KeyA")
            if self._decided(page, url) == "override":
                overrides += 1
                self._override(page, "journey: atypical presentation, caption checked")
                if len(reviewed) == 2:
                    self.shot(page, "review-sample-override")
                self.key_and_wait(page, "Alt+KeyN")
        else:
            raise JourneyError("more than 40 samples to review: the queue does not empty")
        page.wait_for_url(re.compile(r"/review/(\?.*)?$"))
        message = page.inner_text("main .msg") if page.locator("main .msg").count() else ""
        counts_after = self._queue_counts(page)
        self.shot(page, "review-queue-done")
        return {"counts_before": counts_before, "waiting_before": waiting, "first_sample": first_id,
                "chip_term": term, "chip_on": chip_on, "first_decision": decided, "saved_in_history": saved,
                "in_recent": in_recent, "reviewed": reviewed, "overrides": overrides, "counts_after": counts_after,
                "waiting_after": int(page.inner_text("#waiting-count b")), "message": message}

    # -- c. training --

    def _launch(self, page: Any, name: str, stage: str, *, tiny: bool = False, checkpoint: str = "") -> None:
        self.nav(page, "Training")
        page.click("a:text-is('Launch a run')")
        page.wait_for_url(re.compile(r"/training/launch/$"))
        page.fill("#id_name", name)
        page.fill("#id_lineage", LINEAGE)
        page.select_option("#id_stage", value=stage)
        page.select_option("#id_engine", value="trl")
        page.select_option("#id_dataset", label=DATASET)
        page.select_option("#id_split", value="train")
        if tiny:
            page.check(f"label:has-text('{TINY}') input[type=radio]")
        if checkpoint:
            option = page.locator("#id_init_checkpoint option", has_text=checkpoint).first.get_attribute("value")
            page.select_option("#id_init_checkpoint", value=option)
        self.shot(page, f"training-launch-stage-{stage}")
        page.click("form.training-launch button")
        page.wait_for_load_state()
        if not re.search(r"/training/runs/\d+/$", page.url):
            errors = page.locator("form .errorlist").all_inner_texts()
            raise JourneyError(f"the Stage {stage} launch was refused: {errors or page.inner_text('main')[:800]}")

    def _follow_run(self, page: Any, stage: str) -> dict:
        run_id = self._id(page.url, r"/training/runs/(\d+)/")
        self.mark_page(page)
        self.shot(page, f"training-run-stage-{stage}-queued")
        # "not started yet", then "starting (…)" until the engine reports its torch device.
        device = self.wait_text(page, "#run-where [data-live-text=device]", r"^(?!not started yet|starting).+",
                                TRAINING_TIMEOUT_S, f"Stage {stage} never reported its device")
        steps_seen = set()
        deadline = time.monotonic() + TRAINING_TIMEOUT_S
        while True:
            state = page.inner_text("#run-state").strip()
            steps_seen.add(page.inner_text("#run-step").strip())
            if state in ("succeeded", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise JourneyError(f"Stage {stage} still {state} after {TRAINING_TIMEOUT_S} s")
            page.wait_for_timeout(1000)
        page.wait_for_timeout(2500)  # the last poll's tables
        metric_rows = page.locator("#metrics tbody tr").count()
        live = self.not_reloaded(page)
        final = page.locator("#checkpoints tbody tr:has(td:text-is('final')) a")
        checkpoint_id = self._id(final.get_attribute("href"), r"/checkpoints/(\d+)/") if final.count() else None
        self.shot(page, f"training-run-stage-{stage}-finished")
        return {"run_id": run_id, "state": state, "device": device, "followed_live": live,
                "steps_seen": sorted(steps_seen), "metric_rows": metric_rows, "final_checkpoint": checkpoint_id,
                "error": page.inner_text("#run-error") if page.locator("#run-error").is_visible() else "",
                "overrides_line": page.inner_text("#overrides") if page.locator("#overrides").count() else ""}

    def training(self) -> dict:
        page = self.page_for("admin")
        self._launch(page, "journey stage I", "I", tiny=True)
        stage_one = self._follow_run(page, "I")
        if stage_one["state"] != "succeeded" or not stage_one["final_checkpoint"]:
            raise JourneyError(f"Stage I did not succeed: {stage_one}")
        self.nav(page, "Training")
        snapshots = page.locator("h2:text-is('Data snapshots') + table tbody tr").all_inner_texts()
        self.shot(page, "training-runs-after-stage-I")
        self._launch(page, "journey stage II", "II", checkpoint="journey stage I step")
        stage_two = self._follow_run(page, "II")
        self.facts.update(stage_one_run=stage_one["run_id"], stage_two_run=stage_two["run_id"],
                          checkpoint_id=stage_two["final_checkpoint"])
        self.nav(page, "Training")
        runs = page.locator("#runs tbody tr").all_inner_texts()
        self.shot(page, "training-runs-after-stage-II")
        return {"stage_one": stage_one, "stage_two": stage_two, "snapshots": snapshots, "runs": runs}

    # -- d. evaluation --

    def _board_top1(self, page: Any, run_id: int) -> str:
        """The run's Top-1 cell on the leaderboard (the evaluation index)."""
        return page.locator(f"#leaderboard td[data-k='1'] a[href='/evaluation/runs/{run_id}/']").first.inner_text().strip()

    def _report_top1(self, page: Any) -> str:
        return page.inner_text("#topk .topk-mean[data-k='1']").strip()

    def evaluation(self) -> dict:
        page = self.page_for("admin")
        if not self.facts.get("checkpoint_id"):
            raise JourneyError("no final checkpoint to evaluate")
        page.goto(f"{self.base}/training/runs/{self.facts['stage_two_run']}/")
        page.click("#checkpoints tbody tr:has(td:text-is('final')) a")
        page.wait_for_url(re.compile(r"/training/checkpoints/\d+/$"))
        self.shot(page, "checkpoint")
        page.click("#evaluate-form button:has-text('Evaluate this checkpoint')")
        page.wait_for_load_state()
        if not re.search(r"/evaluation/runs/\d+/$", page.url):
            raise JourneyError(f"the evaluation was refused: {page.inner_text('main')[:800]}")
        run_id = self.facts["eval_run_id"] = self._id(page.url, r"/evaluation/runs/(\d+)/")
        self.shot(page, "evaluation-run-started")
        # The page reloads itself when the run ends (data-live-reload-on-end); the status is read either way.
        status = self.wait_text(page, "#status", r"^(done|failed|partially_failed)$", EVALUATION_TIMEOUT_S,
                                "the evaluation did not finish")
        page.wait_for_timeout(2000)
        page.wait_for_load_state()
        self.shot(page, "evaluation-run-report")
        report = {"status": status, "lineage": page.inner_text("#lineage") if page.locator("#lineage").count() else "",
                  "top1": self._report_top1(page) if page.locator("#topk").count() else None,
                  "baseline_rows": page.locator("#baselines tbody tr").all_inner_texts()}
        # Beside it, the demo stand-in diagnoser from the "New run" form (its address is the one the banner names),
        # so that the leaderboard compares the checkpoint with something that answers in the format.
        demo_run = self._new_api_run(page)
        self.nav(page, "Evaluation")
        board = page.locator("#leaderboard")
        model_rows = board.locator("tr.model-row").all_inner_texts()
        baseline_rows = board.locator("tr.baseline").all_inner_texts()
        links = board.locator(f"a[href='/evaluation/runs/{run_id}/']").count()
        intervals = board.locator(".ci").count()
        self.shot(page, "leaderboard")
        page.click(f"#runs a[href='/evaluation/runs/{run_id}/']")
        page.click("a:text-is('Browse samples')")
        page.wait_for_url(re.compile(r"/evaluation/runs/\d+/samples/"))
        cards = page.eval_on_selector_all("#samples .eval-card", "els => els.map(e => [e.dataset.item, e.dataset.verdict])")
        self.shot(page, "evaluation-samples")
        return {"run_id": run_id, "report": report, "demo_run": demo_run, "leaderboard_models": model_rows,
                "leaderboard_baselines": baseline_rows, "leaderboard_links_to_run": links,
                "leaderboard_intervals": intervals, "cards": cards}

    def _new_api_run(self, page: Any) -> dict:
        demo_url = re.search(r"\((http://127\.0\.0\.1:\d+/v1)\)", page.inner_text(".demo-banner")).group(1)
        self.nav(page, "Evaluation")
        page.click("a:text-is('New run')")
        page.wait_for_url(re.compile(r"/evaluation/runs/new/$"))
        page.fill("#id_name", "journey demo diagnoser")
        page.fill("#id_model_name", "demo stand-in LLM")
        page.fill("#id_base_url", demo_url)
        page.fill("#id_endpoint_model", "demo")
        page.select_option("#id_dataset", label=DATASET)
        page.select_option("#id_split", value="test")
        page.fill("#id_judge_repeats", "1")
        self.shot(page, "evaluation-new-run")
        page.click("form.start-form button[type=submit]")
        page.wait_for_load_state()
        if not re.search(r"/evaluation/runs/\d+/$", page.url):
            raise JourneyError(f"the demo evaluation run was refused: {page.inner_text('main')[:800]}")
        run_id = self.facts["demo_eval_run_id"] = self._id(page.url, r"/evaluation/runs/(\d+)/")
        status = self.wait_text(page, "#status", r"^(done|failed|partially_failed)$", EVALUATION_TIMEOUT_S,
                                "the demo evaluation did not finish")
        page.wait_for_timeout(2000)
        page.wait_for_load_state()
        self.shot(page, "evaluation-demo-run-report")
        return {"run_id": run_id, "status": status, "top1": self._report_top1(page) if page.locator("#topk").count() else None}

    # -- e. overrule --

    def overrule(self) -> dict:
        page = self.page_for("dermatologist")
        # The checkpoint's run first; where none of its answers named a disease (the tiny random model writes
        # no appendix-B list, so every answer is malformed and there is no verdict to overrule), the demo run's.
        skipped = {}
        for run_id in (self.facts["eval_run_id"], self.facts.get("demo_eval_run_id")):
            if run_id is None:
                continue
            self.nav(page, "Evaluation")
            board_before = self._board_top1(page, run_id)
            page.click(f"#runs a[href='/evaluation/runs/{run_id}/']")
            page.wait_for_url(re.compile(rf"/evaluation/runs/{run_id}/$"))
            before = self._report_top1(page)
            page.click("a:text-is('Browse samples')")
            page.wait_for_url(re.compile(r"/samples/"))
            # A card whose top-1 prediction was judged: the dermatologist reverses the judge's call on it.
            cards = page.locator("#samples .eval-card:has(.preds .arrow)")
            if cards.count():
                break
            skipped[run_id] = page.eval_on_selector_all("#samples .eval-card", "els => els.map(e => e.dataset.verdict)")
        else:
            raise JourneyError(f"no sample with a judged prediction to overrule: {skipped}")
        cards.first.locator(".thumb").click()
        page.wait_for_url(re.compile(r"/evaluation/items/\d+/$"))
        item_id = self._id(page.url, r"/evaluation/items/(\d+)/")
        self.shot(page, "evaluation-item-before")
        top = page.locator("li.prediction[data-rank='1']")
        judged = top.get_attribute("data-category")
        new = "unrelated" if judged in ("exact", "synonym", "child_specific") else "exact"
        top.locator("select[name=category]").select_option(value=new)
        top.locator("input[name=note]").fill("journey: the dermatologist disagrees")
        top.locator("button:text-is('Save verdict')").click()
        page.wait_for_url(re.compile(r"/evaluation/items/\d+/$"))
        message = page.inner_text("main .msg") if page.locator("main .msg").count() else ""
        now = page.locator("li.prediction[data-rank='1']").get_attribute("data-category")
        self.shot(page, "evaluation-item-overruled")
        page.click(f"a[href='/evaluation/runs/{run_id}/']")
        page.wait_for_url(re.compile(rf"/evaluation/runs/{run_id}/$"))
        after = self._report_top1(page)
        self.shot(page, "evaluation-report-after-overrule")
        self.nav(page, "Evaluation")
        board_top1 = self._board_top1(page, run_id)
        return {"run_id": run_id, "skipped_runs": skipped, "item_id": item_id, "judged": judged, "chosen": new, "now": now, "message": message,
                "top1_before": before, "top1_after": after, "leaderboard_top1_before": board_before,
                "leaderboard_top1_after": board_top1}

    # -- the tour: every page in the nav and one detail page of each kind, for both roles --

    def tour(self) -> dict:
        visited: dict[str, int] = {}
        f = self.facts
        for role in ("admin", "dermatologist"):
            page = self.page_for(role)
            page.goto(self.base + "/")
            nav = page.eval_on_selector_all("header nav a", "els => els.map(e => [e.textContent.trim(), e.getAttribute('href')])")
            details = [("sample list", f"/datasets/{f['dataset_id']}/samples/"),
                       ("review sample", f"/review/samples/{f.get('first_sample', 1)}/"),
                       ("review mine", "/review/mine/"),
                       ("evaluation run", f"/evaluation/runs/{f.get('eval_run_id', 1)}/"),
                       ("evaluation samples", f"/evaluation/runs/{f.get('eval_run_id', 1)}/samples/"),
                       ("evaluation safety", f"/evaluation/runs/{f.get('eval_run_id', 1)}/safety-critical/"),
                       ("evaluation confusions", f"/evaluation/runs/{f.get('eval_run_id', 1)}/confusions/"),
                       ("evaluation item", f"/evaluation/items/{f.get('item_id', 1)}/"),
                       ("evaluation ablation", "/evaluation/ablation/"),
                       ("evaluation demo run", f"/evaluation/runs/{f.get('demo_eval_run_id', 1)}/"),
                       ("evaluation demo samples", f"/evaluation/runs/{f.get('demo_eval_run_id', 1)}/samples/"),
                       ("evaluation compare", f"/evaluation/compare/?a={f.get('eval_run_id', 1)}"
                                              f"&b={f.get('demo_eval_run_id', 1)}"),
                       ("reward validation", "/evaluation/reward-validation/"),
                       ("attention", "/evaluation/attention/")]
            if role == "admin":
                details += [("drafting run", f"/review/runs/{f['drafting_run_id']}/"),
                            ("field stats", "/review/fields/"),
                            ("training run I", f"/training/runs/{f.get('stage_one_run', 1)}/"),
                            ("training run II", f"/training/runs/{f.get('stage_two_run', 1)}/"),
                            ("checkpoint", f"/training/checkpoints/{f.get('checkpoint_id', 1)}/"),
                            ("training launch", "/training/launch/"),
                            ("training compare", f"/training/compare/?runs={f.get('stage_one_run', 1)}"
                                                 f"&runs={f.get('stage_two_run', 1)}"),
                            ("evaluation new run", "/evaluation/runs/new/"),
                            ("manage endpoints", "/manage/endpoints/"),
                            ("manage endpoint", "/manage/endpoints/judge/")]
            for name, href in nav + details:
                response = page.goto(self.base + href)
                page.wait_for_load_state()
                visited[f"{role} {name} {href}"] = response.status if response else 0
                self.shot(page, f"{role}-{name}")
            if role == "admin":  # an account's page, reached from the list
                page.goto(self.base + "/manage/users/")
                page.click("main table a:text-is('dermatologist')")
                page.wait_for_load_state()
                visited["admin manage user"] = 200
                self.shot(page, "admin-manage-user")
        return {"visited": visited}

    def close(self) -> None:
        for page in self.pages.values():
            page.context.close()


def run_journey(browser: Any, server: Server, shots: Path | None = None, out: Callable[[str], None] = print,
                tour: bool | None = None) -> tuple[Journey, dict[str, dict]]:
    """Every step in order; returns the journey (timings, facts) and each step's result."""
    journey = Journey(browser, server.base, server.passwords, shots=shots, out=out)
    results: dict[str, dict] = {}
    try:
        results["drafting"] = journey.timed("a. drafting", journey.drafting)
        results["review"] = journey.timed("b. review", journey.review)
        journey.facts["first_sample"] = results["review"]["first_sample"]
        results["training"] = journey.timed("c. training", journey.training)
        results["evaluation"] = journey.timed("d. evaluation", journey.evaluation)
        results["overrule"] = journey.timed("e. overrule", journey.overrule)
        journey.facts["item_id"] = results["overrule"]["item_id"]
        if (shots is not None) if tour is None else tour:  # the tour is for the pictures, unless asked
            results["tour"] = journey.timed("tour", journey.tour)
    finally:
        journey.close()
    return journey, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=Path, help="save full-page screenshots of every page here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (bin/run's data and log)")
    args = parser.parse_args(argv)
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="browser-journey-"))
    started = time.monotonic()
    server = start_server(tmp)
    print(f"[journey] bin/run: login page after {server.started_s:.1f} s at {server.base} (data {server.data})")
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            try:
                journey, results = run_journey(browser, server, shots=args.shots)
            finally:
                browser.close()
        print(json.dumps(results, indent=1, default=str))
        if browser.csp_violations:
            print("CSP violations:\n" + "\n".join(browser.csp_violations))
            return 1
    except Exception:
        print(server.logs(), file=sys.stderr)
        raise
    finally:
        stop_server(server)
        print(f"[journey] total: {time.monotonic() - started:.1f} s")
        if args.keep:
            print(f"[journey] kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
