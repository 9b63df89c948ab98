"""The web container's healthcheck: GET /healthz on the container's own port, as a configured host.

    python -m webapp.healthcheck          (exit 0 when the app answers 200)

The probe connects to 127.0.0.1 over plain HTTP (no proxy in front; /healthz is exempt from the HTTPS
redirect), but Django checks the Host header against DJANGO_ALLOWED_HOSTS: behind a proxy that list names the
clinic's domain, not 127.0.0.1, so the probe presents the first allowed host instead. Pure Python, no Django: it
runs every few seconds.
"""

from __future__ import annotations

import os
import sys
import urllib.request

DEFAULT_ALLOWED_HOSTS = "localhost,127.0.0.1,[::1]"  # the settings' default


def probe_host(allowed_hosts: str) -> str:
    """A Host header Django accepts: the first concrete entry of DJANGO_ALLOWED_HOSTS (".example.org" matches
    "example.org"; "*" matches anything, so localhost)."""
    for entry in allowed_hosts.split(","):
        entry = entry.strip().lstrip(".")
        if entry and entry != "*":
            return entry
    return "localhost"


def main(port: int = 8000, timeout: float = 3.0) -> int:
    host = probe_host(os.environ.get("DJANGO_ALLOWED_HOSTS", DEFAULT_ALLOWED_HOSTS))
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: /healthz as {host!r} failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
