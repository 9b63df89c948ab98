"""OpenAPI post-processing: the error answers every API operation can give, written into the schema.

drf-spectacular documents the success answer of each operation, and the errors only where a view says so.
The API also answers, from DRF and from this project's middleware, on every operation:
400 (``JsonBodyMiddleware``: a write whose body is not a JSON object; a serializer's or filter's validation),
401/403 (not logged in, no role, a missing CSRF token) and 404 (an unknown id in the address or the body, a
page past the end; ``webapp.api_errors.not_found`` makes Django's own 404 JSON under /api/ too). A client
must be able to rely on the schema for those too, and the schemathesis run
(``webapp/tests/test_api_schemathesis.py``) holds every answer to it (``status_code_conformance``).
"""

from __future__ import annotations

from typing import Any

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong and what to do."}},
    "required": ["detail"],
}
# A DRF validation error: {"field": ["message", ...], ...}, {"non_field_errors": [...]}, or {"detail": "..."}.
_VALIDATION = {
    "type": "object",
    "additionalProperties": True,
    "description": "Messages per field (lists of strings), or a ``detail`` message.",
}
_WRITE_METHODS = {"post", "put", "patch", "delete"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors_of(path: str, method: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The errors ``operation`` can answer beyond what its view documents.

    An unknown id in the address is a 404 everywhere; every write can answer 400 (``JsonBodyMiddleware``); an
    operation that needs a login (it lists ``security``) can answer 401 and 403. An operation whose view
    documents none of its 4xx answers also gets the generic ones: 400 (a body or query parameters to validate)
    and 404 (a page past the end, an object named in the body). A view that documents its own 4xx answers
    (the token endpoint, the review actions) is taken at its word for those."""
    query = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
    errors: dict[str, dict[str, Any]] = {}
    if "{" in path:
        errors["404"] = _json(_DETAIL, "No such object at this address.")
    if method in _WRITE_METHODS:  # JsonBodyMiddleware refuses a body that is not a JSON object on every write
        errors["400"] = _json(_VALIDATION, "Invalid request; the body says what to fix.")
    if any(requirement for requirement in operation.get("security", [])):
        errors["401"] = _json(_DETAIL, "Not logged in (no session and no valid token).")
        errors["403"] = _json(_DETAIL, "Your role may not do this, or a session write lacks its CSRF token.")
    if not any(str(code).startswith("4") for code in operation.get("responses", {})):
        if "requestBody" in operation or query:
            errors["400"] = _json(_VALIDATION, "Invalid request; the body says what to fix.")
        if "page" in query or "requestBody" in operation:
            errors["404"] = _json(_DETAIL, "No such object (in the address or named in the body), or a page "
                                           "past the end.")
    return errors


def document_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: add the common errors an operation does not document."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, response in _errors_of(path, method, operation).items():
                responses.setdefault(status, response)
    return result
