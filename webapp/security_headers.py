"""Response headers that keep patient data out of caches and the page out of powers it never uses.

The Content-Security-Policy itself comes from django-csp (``csp.middleware.CSPMiddleware``, policy in
``settings.CONTENT_SECURITY_POLICY``); the HTTPS headers from Django's ``SecurityMiddleware``. This module adds
what neither does:

- ``Cache-Control: no-store, private`` on every response Django renders (the one place it is set: views,
  the image views included, leave it to this middleware). The rule is deliberately "everything
  but static files" rather than a list of patient pages: almost every page, image and API answer carries a
  photo, a label or a caption, and a page added later cannot forget it. Static files (CSS, JS, icons) are served
  by WhiteNoise before this middleware runs and stay cacheable; they hold no patient data.
- A policy of its own for SVG images (matplotlib plots): they style themselves with a <style> element and
  style attributes, which the page policy refuses when a plot is opened on its own in a tab. An SVG may
  therefore use inline styles, and nothing else: no script, no fetch, no frame (``default-src 'none'``).
- ``Permissions-Policy`` switching off device powers (camera, microphone, location, payment) no page uses, so a
  script that got in anyway cannot ask for them.
"""

from __future__ import annotations

from typing import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

NO_STORE = "no-store, private"
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def _static_prefix() -> str:
    url = settings.STATIC_URL or "/static/"
    return url if url.startswith("/") else "/" + url


def is_static_path(path: str) -> bool:
    """True for a static asset's URL (served by WhiteNoise, or by runserver under DEBUG)."""
    return path.startswith(_static_prefix())


class SecurityHeadersMiddleware:
    """The three headers of this module's docstring: ``no-store`` (overriding any Cache-Control a view set,
    e.g. an image's max-age), the SVG policy, and ``Permissions-Policy``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not is_static_path(request.path_info):
            response["Cache-Control"] = NO_STORE
            # An HTTP/1.0 cache reads only these; an old Expires would otherwise let it keep the page.
            response["Pragma"] = "no-cache"
            response["Expires"] = "0"
        if response.get("Content-Type", "").startswith("image/svg+xml"):
            # django-csp sits earlier in MIDDLEWARE, so it sees the response after this and keeps a header already set
            response["Content-Security-Policy"] = SVG_POLICY
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
