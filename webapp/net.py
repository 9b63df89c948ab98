"""Where a request came from and which part of the site it addresses: pure helpers shared by the login
throttle (django-axes, ``AXES_CLIENT_IP_CALLABLE``), the access audit trail and the API's error handlers.

Kept apart from ``webapp.auth_views`` (DRF, knox, axes) so that the audit trail and the middleware can ask
these questions without importing the login machinery.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings

# Everything the REST API serves lives under this prefix (webapp/urls.py); pages never do.
API_PREFIX = "/api/"


def is_api_path(path: str | None) -> bool:
    """True for an address of the REST API (JSON answers), False for pages."""
    return (path or "").startswith(API_PREFIX)


def client_ip(request: Any) -> str | None:
    """The client's address: what axes counts failures for, and what the audit trail records.

    ``REMOTE_ADDR`` unless ``SKINFLOW_TRUSTED_PROXY_COUNT`` proxies sit in front: each appends the address it
    saw to X-Forwarded-For, so the client is the entry that many places from the right. Entries further left
    were written by the client and are never trusted (else a guesser would get a fresh count per request).
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.SKINFLOW_TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= count:
            candidate = forwarded[-count]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass  # a proxy that writes something else ("unknown"): fall back to the connection's address
    return remote
