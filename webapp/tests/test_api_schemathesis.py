"""Schemathesis against the live API: no 500s, and every response is what the OpenAPI schema says.

A real HTTP client that nobody here wrote (schemathesis, on Hypothesis) loads ``/api/schema/`` from a live
server full of awkward data, then sends generated requests to every operation: valid ones (with real ids
and with made-up ones) and invalid ones. Each response must not be a 5xx (``not_a_server_error``), must
carry a status the schema lists for the operation (``status_code_conformance``; ``webapp/api_schema.py``
writes the common 400/401/403/404 into the schema), the documented content type
(``content_type_conformance``) and a body that matches the schema (``response_schema_conformance``).

Why one test that loops over operations instead of ``schemathesis.pytest.from_fixture``: the order matters.
Reads go first, then writes, then deletes, so a deleted LLM endpoint cannot turn later requests into a
different test from run to run; and every failure of every operation is reported at once, with the curl
command that reproduces it.

Bounded: a few examples per operation and mode, no shrinking, a derandomized (fixed) seed. Nothing heavy
starts: Celery tasks go to the test Redis, where no worker listens in this test, and are purged at the end;
a training launch is only queued (and nearly always refused: its base model path does not exist).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import requests
import schemathesis
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from annotations.models import Sample, SampleEvent
from webapp.tests.awkward_data import AwkwardData, seed_awkward_data

_TRACE = bool(os.environ.get("SKINFLOW_SCHEMATHESIS_TRACE"))  # print each operation's requests and time
# Every status must be one the schema lists for the operation (webapp/api_schema.py adds the common errors),
# with the documented content type and body.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
# Examples per (operation, mode): small enough for the whole test to stay near a minute on two cores.
EXAMPLES = {"admin": 6, "dermatologist": 2}
METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}

# Path prefix of each operation with an ``{id}`` -> which seeded object it acts on (AwkwardData.ids keys).
REAL_IDS = {
    "/api/datasets/": "dataset",
    "/api/samples/": "sample",
    "/api/review/samples/": "claimed_sample",
    "/api/review/revisions/": "revision",
    "/api/drafting-runs/": "drafting_run",
    "/api/field-frequency/": "field_frequency",
    "/api/llm-endpoints/": "llm_endpoint",
    "/api/llm-calls/": "llm_call",
    "/api/eval-runs/": "eval_run",
    "/api/training/runs/": "training_run",
    "/api/training/snapshots/": "snapshot",
    "/api/training/checkpoints/": "checkpoint",
}


@dataclass
class Finding:
    operation: str
    mode: str
    error: str
    curl: str = ""


@dataclass
class Live:
    base_url: str
    data: AwkwardData
    ids: dict[str, int] = field(default_factory=dict)
    reviewer: Any = None  # who holds the claim on ids["claimed_sample"] before each review operation

    def before(self, op: Any) -> None:
        """Give the review actions a sample that waits for review under the reviewer's live claim, each time:
        an earlier reject, skip or release must not turn every later save into a 409. (Reads see it
        unclaimed first, so ``claimed_by: null`` is answered too.)"""
        if self.reviewer is None or not op.path.startswith("/api/review/samples/{id}/") or op.method.upper() == "GET":
            return
        Sample.objects.filter(pk=self.ids["claimed_sample"]).update(
            state=Sample.State.NEEDS_EXPERT, rejection_reason="", claimed_by=self.reviewer,
            claim_expires_at=timezone.now() + timedelta(hours=1))


def logged_in_session(base_url: str, user: Any) -> requests.Session:
    """A requests session logged in as ``user``, with the CSRF token that session-authenticated writes need.

    Why a session and not the token endpoint: the login and token code is being hardened (throttles,
    lockouts, hashed expiring tokens) and the fuzzing below sends random credentials to the token endpoint;
    the session login is made server-side (like ``Client.force_login``) so no throttle or token format can
    lock this test out, and the token endpoint is fuzzed like every other operation."""
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set(django_settings.SESSION_COOKIE_NAME, client.cookies[django_settings.SESSION_COOKIE_NAME].value)
    # The login form carries the CSRF token however it is stored (cookie or session); DRF checks it on writes.
    page = session.get(f"{base_url}/login/", timeout=30)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert page.status_code == 200 and match, f"no CSRF token on /login/: {page.status_code} {page.text[:300]}"
    # Cookies the server marked Secure (DJANGO_HTTPS=1) would not travel over the live server's plain HTTP.
    for cookie in list(session.cookies):
        session.cookies.set(cookie.name, cookie.value)
    session.headers["X-CSRFToken"] = match.group(1)
    return session


def _without_credentials(raw: dict[str, Any]) -> dict[str, Any]:
    """The schema less its security schemes: schemathesis would otherwise generate a random ``sessionid``
    cookie and ``Authorization`` header on most requests, replacing the session's, and fuzz the login
    instead of the API. Every request here carries the real session."""
    raw.get("components", {}).pop("securitySchemes", None)
    raw.pop("security", None)
    for operations in raw.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    return raw


def _ordered(schema: schemathesis.BaseSchema) -> list[Any]:
    """Every operation: reads, then writes, then deletes, then the login and logout routes (a logout must
    not end the session the others use; a throttle tripped by fuzzed credentials must not matter)."""
    operations = [result.ok() for result in schema.get_all_operations()]

    def key(op: Any) -> tuple[bool, int, str]:
        return (op.path.startswith("/api/auth/"), METHOD_ORDER.get(op.method.upper(), 9), op.path)

    return sorted(operations, key=key)


def _real_id(live: Live, path: str) -> dict[str, Any] | None:
    """The id of a seeded object for ``path``; None for a route REAL_IDS does not know yet (made-up ids only:
    add the route there to fuzz it on a real object too)."""
    if "{id}" not in path or path[:path.index("{id}")] not in REAL_IDS:
        return None
    return {"id": live.ids[REAL_IDS[path[:path.index("{id}")]]]}


def _variants(live: Live, op: Any) -> Iterator[tuple[str, GenerationMode, dict[str, Any] | None]]:
    """Valid requests on a real object and on made-up ids; invalid ones on a real object and anywhere.

    An invalid request needs something to break: with the id fixed, a query parameter, header or body;
    without, the id itself (asking Hypothesis for the impossible costs seconds before it gives up)."""
    real = _real_id(live, op.path)
    other = len(op.query) + len(op.headers) + len(op.cookies) + len(op.body)
    if real is not None:
        yield "positive, real id", GenerationMode.POSITIVE, real
        if other:
            yield "negative, real id", GenerationMode.NEGATIVE, real
    yield "positive", GenerationMode.POSITIVE, None
    if other or len(op.path_parameters):
        yield "negative", GenerationMode.NEGATIVE, None


def run_schemathesis(live: Live, session: requests.Session, examples: int, *, reads_succeed: bool = False,
                     only: Callable[[Any], bool] | None = None) -> tuple[list[Finding], int]:
    """Fuzz every operation of the live schema (or those ``only`` picks); return what failed and how many
    requests were sent. ``reads_succeed``: every GET of a real object must answer 2xx at least once, so a
    lost login (every answer a 403, which no check looks into) cannot pass for a clean run."""
    loaded = session.get(f"{live.base_url}/api/schema/", params={"format": "json"}, timeout=60)
    assert loaded.status_code == 200, f"/api/schema/: {loaded.status_code} {loaded.text[:300]}"
    schema = schemathesis.openapi.from_dict(_without_credentials(loaded.json()))
    findings: list[Finding] = []
    sent = 0

    for op in _ordered(schema):
        if only is not None and not only(op):
            continue
        for mode_name, mode, path_parameters in _variants(live, op):
            live.before(op)
            started, sent_before, statuses = time.monotonic(), sent, Counter()
            strategy = op.as_strategy(mode, path_parameters=path_parameters)

            @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def check(case: schemathesis.Case) -> None:
                nonlocal sent
                sent += 1
                response = case.call(base_url=live.base_url, session=session, timeout=60)
                statuses[response.status_code] += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except BaseException as exc:  # schemathesis raises an exception group of its failures
                    exc.curl = case.as_curl_command()  # type: ignore[attr-defined]
                    raise

            try:
                check()
            except Unsatisfiable:  # nothing in this request can be made invalid (or valid): nothing to send
                pass
            except (Exception, BaseExceptionGroup) as exc:  # one finding per operation and mode; fuzz the rest
                findings.append(Finding(f"{op.method.upper()} {op.path}", mode_name, _describe(exc),
                                        getattr(exc, "curl", "")))
            if reads_succeed and mode_name == "positive, real id" and op.method.upper() == "GET" \
                    and not any(200 <= code < 300 for code in statuses):
                findings.append(Finding(f"GET {op.path}", mode_name, f"never a 2xx on a real object: {dict(statuses)}"))
            if _TRACE:
                print(f"schemathesis: {op.method.upper()} {op.path} ({mode_name}): {sent - sent_before} "
                      f"requests in {time.monotonic() - started:.1f} s; statuses {dict(statuses)}")
    return findings, sent


def _describe(exc: BaseException) -> str:
    """The failures' own messages (a schemathesis group holds one per failed check), shortened."""
    parts = [str(e) for e in exc.exceptions] if isinstance(exc, BaseExceptionGroup) else [str(exc)]
    return "\n".join(part[:1200] for part in parts)


def _report(findings: list[Finding]) -> str:
    return "\n\n".join(f"{f.operation} ({f.mode}):\n{f.error}\n{f.curl}" for f in findings)


@pytest.fixture
def live_api(live_server, admin_user, dermatologist) -> Iterator[Live]:
    """The live server over awkward data, and a sample for the review actions: unclaimed (``Live.before``
    claims it for the writes), with drafts, a revision and an event the system wrote (``actor: null``)."""
    data = seed_awkward_data(author=dermatologist)
    live = Live(base_url=live_server.url, data=data)
    live.ids = {kind: pks[0] for kind, pks in data.ids.items()}
    live.ids["dataset"] = data.dataset.pk
    review = next(s for s in data.samples if s.state == Sample.State.NEEDS_EXPERT and s.image)
    SampleEvent.objects.create(sample=review, kind=SampleEvent.Kind.NEEDS_EXPERT, actor=None, detail={})
    live.ids["claimed_sample"] = review.pk
    yield live
    _purge_task_queue()


def _purge_task_queue() -> None:
    """Tasks this test queued (drafting, evaluation, training) must not reach a worker in a later test."""
    from webapp.celery_app import app

    try:
        app.control.purge()
    except Exception:  # an unreachable broker queued nothing either  # noqa: BLE001
        pass


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_live_api_keeps_its_schema_and_never_answers_500(live_api: Live, admin_user, settings) -> None:
    settings.SKINFLOW_TRAINING_DIR = str(settings.MEDIA_ROOT.parent / "training")
    live_api.reviewer = admin_user
    findings, sent = run_schemathesis(live_api, logged_in_session(live_api.base_url, admin_user),
                                      EXAMPLES["admin"], reads_succeed=True)
    assert sent > 300, f"only {sent} requests: does the schema still list the API?"
    assert not findings, f"{len(findings)} finding(s) as admin:\n\n{_report(findings)}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_dermatologist_gets_schema_conformant_answers_too(live_api: Live, dermatologist, settings) -> None:
    # Fields hidden from dermatologists must still leave a body the schema describes; admin-only routes
    # answer the documented 403.
    settings.SKINFLOW_TRAINING_DIR = str(settings.MEDIA_ROOT.parent / "training")
    live_api.reviewer = dermatologist
    findings, sent = run_schemathesis(live_api, logged_in_session(live_api.base_url, dermatologist),
                                      EXAMPLES["dermatologist"])
    assert sent > 100, sent
    assert not findings, f"{len(findings)} finding(s) as dermatologist:\n\n{_report(findings)}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_schema_lie_and_a_500_are_reported(live_api: Live, admin_user, monkeypatch) -> None:
    """The runs above are only worth something if a body that contradicts the schema, and a crash, show up."""
    # The schema promises the counts; this answer leaves them out.
    monkeypatch.setattr("evaluation.selectors.progress", lambda run, **_: {"status": run.status, "error": ""})

    def broken(run):
        raise RuntimeError("boom")

    monkeypatch.setattr("training.selectors.metric_points", broken)
    wanted = {"/api/eval-runs/{id}/progress/", "/api/training/runs/{id}/metrics/"}
    findings, _ = run_schemathesis(live_api, logged_in_session(live_api.base_url, admin_user), 2,
                                   only=lambda op: op.path in wanted and op.method.upper() == "GET")
    real = {f.operation: f.error for f in findings if f.mode == "positive, real id"}
    assert "is a required property" in real["GET /api/eval-runs/{id}/progress/"], real
    assert "Server error" in real["GET /api/training/runs/{id}/metrics/"], real


@pytest.mark.django_db
def test_an_api_address_no_route_matches_answers_json_and_a_page_stays_html(admin_client_role) -> None:
    # The router takes whole-number ids only: /api/eval-runs/2.5/ never reaches DRF, and was Django's HTML page.
    response = admin_client_role.get("/api/eval-runs/2.5/progress/", HTTP_ACCEPT="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "Ids are whole numbers" in response.json()["detail"]
    page = admin_client_role.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_the_schema_lists_the_errors_every_operation_can_answer(derm_client) -> None:
    paths = derm_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert {"401", "403", "404"} <= set(paths["/api/eval-runs/{id}/progress/"]["get"]["responses"])
    assert {"400", "404", "409"} <= set(paths["/api/eval-runs/{id}/resume/"]["post"]["responses"])
    assert "400" in paths["/api/training/runs/"]["post"]["responses"]
    detail = paths["/api/samples/{id}/"]["get"]["responses"]["404"]["content"]["application/json"]["schema"]
    assert detail["required"] == ["detail"]
    # A view that documents its own errors is taken at its word: the public token endpoint has no 401.
    assert "401" not in paths["/api/auth/token/"]["post"]["responses"]
