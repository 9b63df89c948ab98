"""The whole chain, run as its users run it (scripts/journey.py), and the fault drill (scripts/fault_drill.py):
both start real Celery worker processes and the project's local OpenAI-compatible server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(*args: str, timeout: int) -> dict:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, tail
    return json.loads(proc.stdout.strip().splitlines()[-1])


def services_installed() -> bool:
    return bool(shutil.which("redis-server")) and bool(shutil.which("initdb") or list(
        Path("/usr/lib/postgresql").glob("*/bin/initdb")))


@pytest.mark.celery_worker
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded", "services"])
def test_the_journey_holds(backend):
    """import → drafting → review (edit, override, each rejection reason, one left undecided) → both
    snapshots → evaluation → two dermatologists overrule: states, counts and memberships exact (the script
    checks each step and says which promise broke)."""
    if backend == "services" and not services_installed():
        pytest.skip("needs Debian's postgresql and redis-server")
    seen = run_script("scripts/journey.py", "--backend", backend, timeout=600)
    assert seen["drafting"] == {"state": "succeeded",
                                "progress": {"total": 13, "accepted": 6, "needs_expert": 7, "failed": 0}}
    states = list(seen["review"]["states"].values())
    assert states.count("rejected") == 4 and states.count("expert_override") == 1
    assert states.count("needs_expert") == 1  # left undecided: it must not reach Stage I
    assert seen["snapshots"]["stage1"] == 6 and len(seen["snapshots"]["stage1_overrides"]) == 1
    assert seen["snapshots"]["stage2"] == 7
    assert seen["evaluation"]["items"] == 2 and seen["evaluation"]["overrules"] == 2
    assert seen["evaluation"]["top1_after_overrule"] < seen["evaluation"]["top1"]


@pytest.mark.celery_worker
@pytest.mark.slow
def test_faults_heal_by_themselves_with_the_default_settings():
    """kill -9 of the worker, PostgreSQL stopped for 17 s, Redis restarted without persistence, a run
    created while Redis is down, six runs finishing together: every run ends in the right state by itself,
    no draft is stored twice, and no answered LLM call is paid again (only calls in flight at a kill -9)."""
    if not services_installed():
        pytest.skip("needs Debian's postgresql and redis-server")
    results = run_script("scripts/fault_drill.py", "--samples", "40", timeout=1500)
    for name, r in results.items():
        assert set(r["run_states"]) == {"succeeded"}, (name, r)
        assert r["duplicate_drafts"] == 0, (name, r)
        assert r["heal_s"] < 300, (name, r)
    for name in ("kill9", "postgres", "redis"):
        assert results[name]["jobs"] == {"auto_accepted": 32, "needs_expert": 8}, (name, results[name])
    assert results["together"]["jobs"] == {"auto_accepted": 48}
    assert results["broker_down"]["create_status"] == 201 and results["broker_down"]["page_says_queued"]
    assert results["kill9"]["repeated_requests"] <= 8  # at most the calls in flight on the killed worker's 8 threads
    for name in ("postgres", "redis", "broker_down", "together"):
        assert results[name]["repeated_requests"] == 0, (name, results[name])
