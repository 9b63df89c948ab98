"""A malformed JSON body is a 400 with a clear message on every write route of the API, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from webapp.tests.api_routes import IdFiller, schema_paths
from webapp.tests.awkward_data import seed_awkward_data

BAD_BODIES = {
    "invalid JSON": "{not json",
    "a list": "[]",
    "a number": "42",
    "a string": '"x"',
}


def _write_routes(admin: Client, data) -> list[tuple[str, str]]:
    """(method, path) for every POST/PUT/PATCH of the API schema, ids filled with real objects."""
    fill = IdFiller(admin, data)
    return [(method, fill(path)) for path, methods in schema_paths().items()
            for method in ("post", "put", "patch") if method in methods]


@pytest.mark.django_db
def test_every_write_route_refuses_a_malformed_json_body(admin_user, dermatologist):
    data = seed_awkward_data(author=dermatologist)
    admin = Client()
    admin.force_login(admin_user)
    routes = _write_routes(admin, data)
    assert len(routes) >= 10, routes  # the schema still lists the API's writes
    assert ("post", "/api/field-frequency/") in routes
    assert ("post", f"/api/eval-runs/{data.ids['eval_run'][0]}/resume/") in routes
    wrong = []
    for method, path in routes:
        for what, body in BAD_BODIES.items():
            response = getattr(admin, method)(path, body, content_type="application/json")
            # 400 even on routes that never read their body (cancel, release) or take only forms (upload)
            if response.status_code != 400 or "detail" not in response.json():
                wrong.append(f"{method.upper()} {path} with {what}: {response.status_code} {response.content[:200]!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.django_db
def test_the_message_says_what_the_api_expects(admin_client_role):
    response = admin_client_role.post("/api/field-frequency/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "The request body must be a JSON object such as {\"name\": \"value\"}, "
                                         "not a list; send the fields by name."}
    response = admin_client_role.post("/api/field-frequency/", "{oops", content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"].startswith("JSON parse error")


@pytest.mark.django_db
def test_an_action_that_ignores_its_body_does_nothing_on_a_malformed_one(admin_client_role, dermatologist):
    from training.models import TrainingRun

    data = seed_awkward_data(author=dermatologist)
    run_id = data.ids["training_run"][0]
    TrainingRun.objects.filter(pk=run_id).update(state="running")
    response = admin_client_role.post(f"/api/training/runs/{run_id}/cancel/", "[]", content_type="application/json")
    assert response.status_code == 400
    assert not TrainingRun.objects.get(pk=run_id).cancel_requested
    # An empty body and a JSON object are what the route takes.
    assert admin_client_role.post(f"/api/training/runs/{run_id}/cancel/", "{}",
                                  content_type="application/json").status_code == 200
    assert TrainingRun.objects.get(pk=run_id).cancel_requested


@pytest.mark.django_db
def test_the_early_400_for_a_malformed_body_carries_the_security_headers(admin_user):
    # JsonBodyMiddleware answers before any view; it sits inside the header middlewares, so even this answer
    # is no-store, framed by nobody, and under the CSP like every other response.
    admin = Client()
    admin.force_login(admin_user)
    response = admin.post("/api/field-frequency/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response["Cache-Control"] == "no-store, private"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
