"""Issue 13's acceptance journey, in the browser on a fresh ``bin/run`` with the demo rules and no shell step:
drafting → review with chips and shortcuts → Stage I then Stage II on the tiny CPU model → evaluating the final
checkpoint from its page → leaderboard and per-sample pages with the baselines → a dermatologist's overrule
moves the metric. The steps are ``scripts/browser_journey.py``'s (also runnable by hand, with screenshots);
here each step's outcome is asserted. It runs against bin/run's own SQLite, not the test database."""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.celery_worker]


def _script():
    spec = importlib.util.spec_from_file_location("browser_journey", ROOT / "scripts" / "browser_journey.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("browser_journey", module)
    spec.loader.exec_module(module)
    return module


journey_script = _script()


@pytest.fixture
def bin_run(tmp_path):
    server = journey_script.start_server(tmp_path)
    try:
        yield server
    finally:
        journey_script.stop_server(server)


def test_the_first_run_journey_in_the_browser_needs_no_shell(browser, bin_run, capsys):
    started = time.monotonic()
    lines: list[str] = []
    try:
        journey, results = journey_script.run_journey(browser, bin_run, out=lines.append, tour=False)
    except Exception:
        print(bin_run.logs())
        raise
    finally:
        with capsys.disabled():
            print(f"\nbin/run login page after {bin_run.started_s:.1f} s; " + "; ".join(lines))
    context = bin_run.logs

    # a. The demo drafting run, followed live on its page: most samples accepted by the machine, some for experts.
    a = results["drafting"]
    assert a["banner"], "the page does not say the answers are synthetic"
    assert a["state"] == "succeeded", (a, context())
    assert a["followed_live"]
    assert len(a["row_states"]) == 24 and set(a["row_states"]) == {"auto accepted", "needs expert"}, a["row_states"]
    needs_expert = int(a["chips"]["needs expert"])
    assert 1 <= needs_expert <= 8 and int(a["chips"]["auto accepted"]) == 24 - needs_expert, a["chips"]

    # b. The dermatologist's queue counts them; a chip added by its digit and saved with Alt+S lands in the
    # history and "my recent reviews"; Alt+N / Alt+A (with an override where the re-check disagrees) empty it.
    b = results["review"]
    assert b["counts_before"]["needs expert"] == b["waiting_before"] == needs_expert, b
    assert b["chip_on"] and b["saved_in_history"] and b["in_recent"], b
    assert len(set(b["reviewed"])) == needs_expert, b
    assert b["counts_after"]["needs expert"] == 0 and b["waiting_after"] == 0, b
    decided = b["counts_after"]["expert-accepted"] + b["counts_after"]["expert overrides"]
    assert decided == needs_expert and b["counts_after"]["expert overrides"] == b["overrides"], b
    assert "Nothing is waiting for review" in b["message"]

    # c. Stage I on the tiny CPU model from the launch form, then Stage II from its final checkpoint; both pages
    # follow the run live (device, steps, metrics) to the end without a reload.
    c = results["training"]
    for name, run in (("Stage I", c["stage_one"]), ("Stage II", c["stage_two"])):
        assert run["state"] == "succeeded", (name, run, context())
        assert run["device"] == "cpu" and run["followed_live"], (name, run)
        assert run["metric_rows"] == 4 and "4" in run["steps_seen"] and len(run["steps_seen"]) > 1, (name, run)
        assert run["final_checkpoint"], (name, run)
    # The overrides of the train split (the others sit in val/test) are in Stage I's snapshot.
    in_snapshot = re.search(r"the snapshot contains (\d+) caption", c["stage_one"]["overrides_line"])
    assert in_snapshot and 1 <= int(in_snapshot.group(1)) <= b["overrides"], c["stage_one"]["overrides_line"]
    assert any(row.startswith("Demo dermatology set\ttrain\tI\t") for row in c["snapshots"]), c["snapshots"]
    stage_two_row = next(r for r in c["runs"] if "journey stage II" in r)
    assert "journey stage I step 4 (final)" in stage_two_row, stage_two_row

    # d. The final checkpoint evaluated from its page: the report has its lineage and its image-blind baselines,
    # the leaderboard the run with the baselines' rows and intervals, the per-sample page a verdict per sample.
    d = results["evaluation"]
    assert d["report"]["status"] == "done", (d, context())
    assert "journey stage II" in d["report"]["lineage"] and "tiny CPU model" in d["report"]["lineage"]
    titles = [row.split("\t")[0] for row in d["report"]["baseline_rows"]]
    assert "Label prior" in titles and "Best constant list" in titles, titles
    assert any(row.startswith("journey/journey stage II step 4 (final)") for row in d["leaderboard_models"])
    assert any(row.startswith("demo stand-in LLM") for row in d["leaderboard_models"]), d["leaderboard_models"]
    assert len(d["leaderboard_baselines"]) == 2 and d["leaderboard_links_to_run"] >= 6, d
    assert d["leaderboard_intervals"] > 0
    assert d["cards"] and all(verdict for _, verdict in d["cards"]), d["cards"]
    assert d["demo_run"]["status"] == "done", d["demo_run"]

    # e. A dermatologist overrules a top-1 verdict on a per-sample page: the report's and the leaderboard's
    # Top-1 change. (The tiny random model writes no diagnosis list, so its run has no verdict to overrule; the
    # journey then overrules on the demo diagnoser's run, which stands beside it on the leaderboard.)
    e = results["overrule"]
    assert e["now"] == e["chosen"] != e["judged"] and "metrics recomputed" in e["message"], e
    assert e["top1_before"] != e["top1_after"], e
    assert e["leaderboard_top1_before"] != e["leaderboard_top1_after"] == e["top1_after"], e
    assert set(e["skipped_runs"]) <= {d["run_id"]}, e

    for step in ("a. drafting", "b. review", "c. training", "d. evaluation", "e. overrule"):
        assert step in journey.timings
    assert all(re.match(r"\[journey\] .+: \d+\.\d s$", line) for line in lines), lines
    print(f"journey: {time.monotonic() - started:.0f} s")
