"""The administration pages in a real browser: "Test connection" against the project's local LLM server, and
creating an account with a generated password (the page's behaviours are static JS under the CSP)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from webapp.llm_testserver import ScriptedLLMServer
from webapp.models import LLMEndpoint
from webapp.roles import ADMIN, DERMATOLOGIST, grant_role, has_role
from webapp.tests.browser_login import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def boss(db):
    user = get_user_model().objects.create_user("boss", password="correct horse battery")
    grant_role(user, ADMIN)
    return user


def test_test_connection_button_shows_the_reply(browser, live_server, boss, settings):
    with ScriptedLLMServer(lambda request: "Hello from the scripted judge.") as server:
        settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = f"127.0.0.1:{server.port}"
        LLMEndpoint.objects.create(role="judge", base_url=server.base_url, model="judge-model")
        page = log_in(browser.new_context(), live_server.url, "boss")
        page.click("nav >> text=Manage")
        page.click(".manage-nav >> text=LLM endpoints")
        button = page.locator('button[data-test-role="judge"]')
        assert button.inner_text() == "Test connection"
        # Hold the navigation for a moment (a listener after the page's own cancels this one submission), so
        # the busy state the click produced can be read: the button says so and cannot start a second call.
        page.evaluate("window.__hold = (e) => e.preventDefault(); window.addEventListener('submit', window.__hold)")
        button.click()
        page.wait_for_timeout(50)  # the disabling runs in the task after the click's
        busy = page.evaluate("(() => { const b = document.querySelector('button[data-test-role=judge]');"
                             " return [b.textContent, b.getAttribute('aria-busy'), b.disabled]; })()")
        assert busy[0].startswith("Testing") and busy[1] == "true" and busy[2] is True, busy
        assert server.request_count == 0
        with page.expect_navigation():
            page.evaluate("window.removeEventListener('submit', window.__hold);"
                          " document.querySelector('button[data-test-role=judge]').form.submit()")
        page.wait_for_selector("#test-result")
        result = page.inner_text("#test-result")
        assert "judge: the endpoint answered" in result and "Hello from the scripted judge." in result
        assert server.request_count == 1


def test_create_an_account_in_the_browser(browser, live_server, boss):
    page = log_in(browser.new_context(), live_server.url, "boss")
    page.goto(live_server.url + "/manage/users/")
    assert not page.is_visible("#id_password1")  # "generate" is the default: no password boxes
    page.check('input[name="password_mode"][value="type"]')
    assert page.is_visible("#id_password1")
    page.check('input[name="password_mode"][value="generate"]')
    page.fill("#id_username", "dr.lena")
    page.check('input[name="role"][value="both"]')
    page.click("text=Create account")
    shown = page.inner_text("code.secret")
    assert len(shown) >= 12
    lena = get_user_model().objects.get(username="dr.lena")
    assert has_role(lena, ADMIN) and has_role(lena, DERMATOLOGIST) and lena.check_password(shown)
