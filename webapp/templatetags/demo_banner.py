"""``{% demo_banner %}``: the banner every page shows while answers come from the demo stand-in LLM.

bin/run starts the demo server (webapp/demo_llm.py) and exports its URL as ``SKINFLOW_DEMO_LLM_URL``; the
banner shows while any role's effective endpoint (row, variable or default) is that URL. The check reads the
environment and the endpoint rows (one query), never the network, so it costs a page nothing noticeable.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django import template
from django.db import DatabaseError

register = template.Library()

DEMO_URL_ENV = "SKINFLOW_DEMO_LLM_URL"
_LOOPBACK_NAMES = {"localhost": "127.0.0.1", "::1": "127.0.0.1", "[::1]": "127.0.0.1"}


def _where(url: str) -> tuple[str, int | None, str]:
    """(host, port, path) with loopback names made equal: localhost:8009 is the same server as 127.0.0.1:8009."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return _LOOPBACK_NAMES.get(host, host), port, parts.path.rstrip("/")


def demo_llm_roles() -> list[str]:
    """The roles whose calls go to the demo stand-in LLM that bin/run started (empty when none, or when it
    was not started: then nothing on this machine claims to be a demo)."""
    demo_url = os.environ.get(DEMO_URL_ENV, "")
    if not demo_url:
        return []
    from webapp.gateway import endpoint_configs

    try:
        configs = endpoint_configs()
    except DatabaseError:  # a page must still render while the database hiccups; the banner is a hint
        return []
    demo = _where(demo_url)
    return [role for role, config in configs.items() if _where(config.base_url) == demo]


@register.inclusion_tag("webapp/_demo_banner.html", takes_context=True)
def demo_banner(context: template.Context) -> dict:
    return {"demo_roles": demo_llm_roles(), "is_admin_role": context.get("is_admin_role", False), "user": context.get("user"),
            "demo_url": os.environ.get(DEMO_URL_ENV, "")}
