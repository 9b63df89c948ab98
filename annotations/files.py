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
    response = FileResponse(path.open("rb"), content_type=content_type)
    # Patient photos are never kept by the browser or any cache on the way (a shared workstation, a proxy):
    # every view fetches them again, after the role check. webapp.security_headers sets the same on all pages.
    response["Cache-Control"] = "no-store, private"
    return response
