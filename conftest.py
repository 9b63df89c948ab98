"""Fixtures shared by every app's tests."""

from __future__ import annotations

import os
import shutil

import pytest
from django.contrib.auth import get_user_model

from webapp.roles import ADMIN, DERMATOLOGIST, grant_role
from webapp.tests.csp_watch import WatchedBrowser


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    """Each test gets its own media folder and LLM response cache."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SKINFLOW_LLM_CACHE = str(tmp_path / "llm-cache.sqlite3")


@pytest.fixture(autouse=True, scope="session")
def _services_are_real(django_db_setup, django_db_blocker):
    """Under bin/test the suite must really run on PostgreSQL and Redis, never silently on SQLite."""
    from django.conf import settings
    from django.db import connection

    if os.environ.get("SKINFLOW_REQUIRE_SERVICES"):
        assert connection.vendor == "postgresql", f"tests must run on PostgreSQL, got {connection.vendor}"
        assert settings.CELERY_BROKER_URL.startswith("redis://"), settings.CELERY_BROKER_URL
    yield
    if connection.vendor == "postgresql":
        # Threads of live servers and background loops may still hold a session on the test database,
        # which would stop it from being dropped; it is a throw-away database, so end those sessions.
        with django_db_blocker.unblock(), connection.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser():
    """Debian's Chromium, headless, driven by Playwright (which cannot download browsers here)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("SKINFLOW_REQUIRE_SERVICES"):
            pytest.fail("Chromium is missing: apt-get install -y chromium")
        pytest.skip("Chromium is not installed")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
            "--no-first-run", "--disable-component-update", "--disable-sync"])
        watched = WatchedBrowser(b)  # every browser test also fails on a Content-Security-Policy violation
        try:
            yield watched
        finally:
            b.close()
        if watched.csp_violations:
            pytest.fail("the page broke the Content-Security-Policy:\n" + "\n".join(watched.csp_violations))


def _user(username: str, *roles: str):
    user = get_user_model().objects.create_user(username=username, password="correct horse battery")
    for role in roles:
        grant_role(user, role)
    return user


@pytest.fixture
def dermatologist(db):
    return _user("derm", DERMATOLOGIST)


@pytest.fixture
def admin_user(db):
    return _user("boss", ADMIN)


@pytest.fixture
def no_role_user(db):
    return _user("nobody")


@pytest.fixture
def derm_client(client, dermatologist):
    client.force_login(dermatologist)
    return client


@pytest.fixture
def admin_client_role(client, admin_user):
    client.force_login(admin_user)
    return client
