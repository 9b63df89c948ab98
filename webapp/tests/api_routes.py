"""The API's routes, read from its OpenAPI schema, with path parameters filled with real objects."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from webapp.tests.awkward_data import AwkwardData

# Routes with no list of their own: whose ids they take.
_NO_LIST = {"/api/review/samples/": "sample"}
MISSING_ID = "999999"


def schema_paths() -> dict[str, dict[str, Any]]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)["paths"]


class IdFiller:
    """Replaces ``{id}`` in a schema path with the first object its list route returns to an admin."""

    def __init__(self, admin: Client, data: AwkwardData) -> None:
        self.admin, self.data = admin, data
        self.first: dict[str, str] = {}

    def _first_id(self, list_path: str) -> str:
        if list_path in _NO_LIST:
            return str(self.data.ids[_NO_LIST[list_path]][0])
        response = self.admin.get(list_path, HTTP_ACCEPT="application/json")
        if response.status_code != 200 or not response.get("Content-Type", "").startswith("application/json"):
            return MISSING_ID
        body = response.json()
        items = body.get("results", []) if isinstance(body, dict) else body
        if items and isinstance(items[0], dict) and "id" in items[0]:
            return str(items[0]["id"])
        return MISSING_ID

    def __call__(self, path: str) -> str:
        if "{" not in path:
            return path
        list_path = path[:path.index("{")]
        if list_path not in self.first:
            self.first[list_path] = self._first_id(list_path)
        return re.sub(r"\{[^}]+\}", self.first[list_path], path)
