"""docker-compose.yml cannot run here; these checks keep it in step with the code."""

from __future__ import annotations

from pathlib import Path

import yaml

from webapp.celery_app import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _queues(service: str) -> set[str]:
    cmd = COMPOSE["services"][service]["command"]
    return set(cmd[cmd.index("-Q") + 1].split(","))


def test_workers_consume_the_app_queues_and_the_gpu_worker_reserves_a_gpu():
    app_queues = {q.name for q in app.conf.task_queues}
    assert _queues("worker") == {"default", "llm"}
    assert _queues("gpu-worker") == {"gpu"}
    assert _queues("worker") | _queues("gpu-worker") == app_queues
    devices = COMPOSE["services"]["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


def test_every_app_variable_is_one_the_code_reads():
    code = "".join(p.read_text() for p in (ROOT / "webapp").glob("*.py"))
    env = COMPOSE["x-app-env"]
    for name in env:
        if name != "OPENAI_API_KEY":  # read through the endpoint's api_key_env, by name
            assert f'"{name}"' in code, f"{name} is set in docker-compose.yml but no setting reads it"


def test_services_have_healthchecks_and_wait_for_their_dependencies():
    for name, svc in COMPOSE["services"].items():
        assert "healthcheck" in svc, name
    for name in ("web", "worker", "gpu-worker"):
        deps = COMPOSE["services"][name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
