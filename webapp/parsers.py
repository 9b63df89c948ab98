"""Request body parsing for the whole API.

Every write endpoint of this API takes a JSON object (or a form); views read ``request.data`` as a
mapping. A body that is valid JSON but not an object — ``[]``, ``42``, ``"x"`` — would reach them and fail
with a server error, so it is refused here as a 400 that says what the API expects. ``ObjectJSONParser``
is the API's JSON parser; ``JsonBodyMiddleware`` runs it on every API write before the view, so that a
route which ignores its body refuses a malformed one too.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Mapping

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from webapp.net import is_api_path

_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true or false",
          type(None): "null"}


class ObjectJSONParser(JSONParser):
    """JSONParser that accepts only a JSON object at the top level."""

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = super().parse(stream, media_type, parser_context)
        if not isinstance(data, dict):
            kind = _KINDS.get(type(data), type(data).__name__)
            raise ParseError(f"The request body must be a JSON object such as {{\"name\": \"value\"}}, not {kind}; "
                             "send the fields by name.")
        return data


class JsonBodyMiddleware:
    """Checks the JSON body of every API write before any view runs.

    Actions such as ``cancel`` or ``release`` never read their body, so the parser alone would let them
    answer 200 to ``[]`` or to broken JSON, and a client's bug would pass unnoticed. Here every POST, PUT
    and PATCH to ``/api/`` with a JSON body is parsed once with the same parser the views use; a body it
    refuses is a 400 with the parser's message.
    """

    METHODS = ("POST", "PUT", "PATCH")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (request.method in self.METHODS and is_api_path(request.path)
                and request.content_type == ObjectJSONParser.media_type and request.body):
            try:
                ObjectJSONParser().parse(io.BytesIO(request.body), request.content_type,
                                         {"encoding": request.encoding or settings.DEFAULT_CHARSET})
            except ParseError as exc:
                return JsonResponse({"detail": str(exc.detail)}, status=400)
        return self.get_response(request)
