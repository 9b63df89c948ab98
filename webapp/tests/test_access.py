"""Every page and endpoint needs a login and a role; settings refuse an unsafe start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse
from knox.models import AuthToken

from annotations.models import Dataset, Sample

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sample(db):
    ds = Dataset.objects.create(name="D", source="folder")
    return Sample.objects.create(dataset=ds, external_id="x", label="acne")


def pages(sample):
    return [reverse("home"), reverse("sample-list", args=[sample.dataset_id]),
            reverse("sample-image", args=[sample.id]), reverse("sample-thumbnail", args=[sample.id]),
            reverse("dataset-upload")]


@pytest.mark.django_db
def test_pages_redirect_anonymous_users_to_login(client, sample):
    for url in pages(sample):
        resp = client.get(url)
        assert resp.status_code == 302 and resp["Location"].startswith("/login/"), url


@pytest.mark.django_db
def test_a_user_without_role_sees_forbidden_with_advice(client, no_role_user, sample):
    client.force_login(no_role_user)
    for url in pages(sample):
        resp = client.get(url)
        assert resp.status_code == 403, url
        assert "Ask an admin to grant it" in resp.content.decode()


@pytest.mark.django_db
def test_api_needs_a_token_or_session_and_a_role(client, no_role_user, dermatologist, sample):
    for url in ("/api/datasets/", "/api/samples/", f"/api/samples/{sample.id}/", "/api/schema/", "/api/docs/"):
        assert client.get(url).status_code in (401, 403), url
    _, key = AuthToken.objects.create(user=no_role_user)  # made directly: the endpoint gives none without a role
    resp = client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}")
    assert resp.status_code == 403 and "no SkinFlow role yet" in resp.json()["detail"]
    _, key = AuthToken.objects.create(user=dermatologist)
    resp = client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}")
    assert resp.status_code == 200 and resp.json()["results"][0]["label"] == "acne"


@pytest.mark.django_db
def test_token_endpoint_issues_a_token(client, dermatologist):
    resp = client.post("/api/auth/token/", {"username": "derm", "password": "correct horse battery"})
    assert resp.status_code == 200
    key = resp.json()["token"]
    assert AuthToken.objects.get(user=dermatologist).token_key == key[:15]  # only a prefix is kept in clear
    assert client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


@pytest.mark.django_db
def test_openapi_schema_and_docs_page(derm_client):
    schema = derm_client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/samples/{id}/thumbnail/" in text and "/api/datasets/upload/" in text
    docs = derm_client.get("/api/docs/")
    assert docs.status_code == 200 and "swagger-ui" in docs.content.decode()


@pytest.mark.django_db
def test_dermatologist_reads_but_cannot_write_datasets(derm_client):
    assert derm_client.get("/api/datasets/").status_code == 200
    assert derm_client.post("/api/datasets/upload/", {"dataset": "x"}).status_code == 403


@pytest.mark.django_db
def test_login_page_logs_in(client, dermatologist):
    resp = client.post(reverse("login"), {"username": "derm", "password": "correct horse battery"})
    assert resp.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_settings_refuse_the_default_secret_key_with_debug_off():
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    proc = subprocess.run([sys.executable, "-c", "import webapp.settings"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY is not set and DEBUG is off" in proc.stderr


def test_api_key_env_must_be_a_variable_name():
    from django.core.exceptions import ValidationError

    from webapp.models import validate_env_var_name

    validate_env_var_name("OPENAI_API_KEY")
    with pytest.raises(ValidationError, match="NAME of an environment variable"):
        validate_env_var_name("sk-live-abc123")


@pytest.mark.django_db
def test_only_admins_edit_llm_endpoints_and_keys_are_never_accepted(client, derm_client, admin_user, settings):
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = "judge:8000"  # an in-cluster name, listed (webapp/egress.py)
    assert derm_client.get("/api/llm-endpoints/").status_code == 403
    client.force_login(admin_user)
    ok = client.post("/api/llm-endpoints/", {"role": "judge", "base_url": "http://judge:8000/v1",
                                             "model": "gemini-2.5-pro", "api_key_env": "GEMINI_API_KEY"})
    assert ok.status_code == 201
    bad = client.post("/api/llm-endpoints/", {"role": "scorer", "base_url": "http://s/v1", "model": "m",
                                              "api_key_env": "sk-abc123secret"})
    assert bad.status_code == 400 and "NAME of an environment variable" in bad.json()["api_key_env"][0]
    leak = client.post("/api/llm-endpoints/", {"role": "scorer", "base_url": "http://s/v1", "model": "m",
                                               "api_key_env": "DATABASE_URL"})
    assert leak.status_code == 400 and "not an API-key variable" in leak.json()["api_key_env"][0]
