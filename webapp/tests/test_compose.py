"""docker-compose.yml cannot run here; these checks keep it in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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


def test_https_is_the_default_and_the_healthcheck_still_answers_over_plain_http():
    # Production shape: DJANGO_HTTPS defaults to 1 (secure cookies, HSTS, redirect to HTTPS); the file says how
    # to run a plain-HTTP trial.
    env = COMPOSE["x-app-env"]
    assert env["DJANGO_HTTPS"] == "${DJANGO_HTTPS:-1}"
    text = (ROOT / "docker-compose.yml").read_text()
    assert "DJANGO_HTTPS=0 docker compose up" in text
    # The web healthcheck calls /healthz over plain HTTP with no proxy in front: the redirect must spare it.
    from django.conf import settings

    probe = COMPOSE["services"]["web"]["healthcheck"]["test"]
    assert probe == ["CMD", "python", "-m", "webapp.healthcheck"]
    assert any(re.search(pattern, "healthz") for pattern in settings.SECURE_REDIRECT_EXEMPT)
    assert not any(re.search(pattern, "samples/1/image/") for pattern in settings.SECURE_REDIRECT_EXEMPT)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("allowed", ["clinic.example.org", ".example.org,127.0.0.1", "*", "localhost,127.0.0.1"])
def test_the_healthcheck_answers_with_https_on_and_allowed_hosts_naming_the_clinics_domain(allowed, settings,
                                                                                           live_server, monkeypatch):
    # Behind a proxy DJANGO_ALLOWED_HOSTS names the public domain; a probe sent as "127.0.0.1" would get a 400
    # and the container would never turn healthy. The probe presents an allowed host over plain HTTP instead.
    from webapp import healthcheck

    settings.ALLOWED_HOSTS = allowed.split(",")
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", allowed)
    port = int(live_server.url.rsplit(":", 1)[1])
    assert healthcheck.main(port=port) == 0
    if "127.0.0.1" not in allowed and allowed != "*":
        # The old probe (Host: 127.0.0.1) is refused, which is why the Host header matters.
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3)
        assert refused.value.code == 400


def test_the_image_build_uses_a_throw_away_secret_long_enough_for_the_start_up_guard():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "secrets.token_urlsafe(50)" in dockerfile and "build-only" not in dockerfile


def test_web_is_published_on_loopback_only_because_the_app_trusts_forwarded_headers():
    # DJANGO_HTTPS=1 (the default) trusts one proxy's X-Forwarded-For/Proto; a port open on every interface
    # would let any client write them (fresh throttle counts, forged audit addresses, fake "https").
    ports = COMPOSE["services"]["web"]["ports"]
    assert ports == ["127.0.0.1:8000:8000"], ports
    for name, svc in COMPOSE["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith(("127.0.0.1:", "[::1]:")), f"{name} publishes {port} on every interface"
    text = (ROOT / "docker-compose.yml").read_text()
    assert "sets X-Forwarded-Proto itself" in text and "X-Forwarded-For" in text
