"""Serving media files only through views that have checked login and role."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404


def protected_file(rel: str, content_type: str | None = None) -> FileResponse:
    media = Path(settings.MEDIA_ROOT).resolve()
    path = (media / rel).resolve()
    if not rel or media not in path.parents or not path.is_file():
        raise Http404("The image file is missing on the server; re-import the sample's image.")
    # No Cache-Control here: webapp.security_headers.SecurityHeadersMiddleware sets no-store on every response
    # but static files, so a photo is never kept by the browser or a cache on the way (a shared workstation).
    return FileResponse(path.open("rb"), content_type=content_type)
