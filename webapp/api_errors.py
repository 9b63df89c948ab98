"""Django-level errors on API addresses answer JSON, as the API's own errors do.

An address under ``/api/`` that no route matches (``/api/eval-runs/2.5/``: the router takes whole-number ids
only) never reaches DRF, so Django answered with its HTML "Not Found" page: a client that asked for JSON got
a page it cannot read, and the OpenAPI schema (which promises JSON) was wrong for it. Pages keep Django's
HTML 404.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from webapp.net import is_api_path

NO_ROUTE = ("Not found: no API route or object at this address. Ids are whole numbers; the routes are listed "
            "at /api/docs/.")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: JSON ``{"detail": ...}`` for the API, Django's page elsewhere."""
    if is_api_path(request.path):
        return JsonResponse({"detail": NO_ROUTE}, status=404)
    return defaults.page_not_found(request, exception)
