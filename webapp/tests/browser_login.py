"""Logging in through the login page in a real browser, as every browser test starts."""

from __future__ import annotations

from urllib.parse import quote

TEST_PASSWORD = "correct horse battery"


def log_in(context, base: str, username: str, *, password: str = TEST_PASSWORD, path: str = "/"):
    """A new page of ``context`` (a Playwright browser or context), logged in as ``username``, showing ``path``
    (the login page's ``next``, as a bookmark behind the login would)."""
    page = context.new_page()
    page.goto(base + "/login/" + ("" if path == "/" else "?next=" + quote(path)))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + path)
    return page
