"""Every browser test also checks the Content-Security-Policy: a page the policy breaks fails the test.

``conftest.browser`` hands tests a ``WatchedBrowser``: each page it opens reports CSP violations twice over,
from Chromium's own console message ("Refused to execute inline script because it violates ...") and from the
``securitypolicyviolation`` DOM event (which also names the directive and the blocked source). At the end of
the test the fixture fails when any was seen.
"""

from __future__ import annotations

import time
from typing import Any

# Runs before the page's own scripts on every navigation; injected by Playwright through the DevTools
# protocol, so the page's CSP does not apply to it.
_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
});
"""


def csp_safe_wait_for_function(page: Any, expression: str, arg: Any = None, *, timeout: float | None = None,
                               polling: Any = None) -> Any:
    """``page.wait_for_function`` that works under the app's CSP.

    Playwright's own version compiles the predicate with ``eval`` inside the page, which a policy without
    'unsafe-eval' rightly refuses (an EvalError, and a violation report). ``page.evaluate`` goes through the
    DevTools protocol, which the page's CSP does not govern, so polling it from Python tests the same condition.
    """
    deadline = time.monotonic() + (30_000 if timeout is None else timeout) / 1000
    interval = polling if isinstance(polling, (int, float)) else 100
    while True:
        value = page.evaluate(expression) if arg is None else page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {expression!r}")
        page.wait_for_timeout(interval)


def is_csp_message(text: str) -> bool:
    return "Content Security Policy" in text or text.startswith("CSP violation:")


class WatchedBrowser:
    """A Playwright ``Browser`` whose contexts and pages collect CSP violations in ``csp_violations``."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self.csp_violations: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)

    def _watch(self, page: Any) -> None:
        page.add_init_script(_LISTENER)
        page.on("console", self._console)
        page.wait_for_function = lambda expression, arg=None, **kw: csp_safe_wait_for_function(page, expression, arg, **kw)

    def _console(self, message: Any) -> None:
        if is_csp_message(message.text):
            self.csp_violations.append(message.text)

    def new_context(self, **kwargs: Any) -> Any:
        context = self._browser.new_context(**kwargs)
        context.add_init_script(_LISTENER)
        context.on("page", self._watch)
        return context

    def new_page(self, **kwargs: Any) -> Any:
        page = self._browser.new_page(**kwargs)
        self._watch(page)
        return page
