"""DRF side of ``webapp.redact``: error fields and admin-only fields in API answers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from webapp.redact import error_for
from webapp.roles import ADMIN, has_role


def viewer_is_admin(context: dict[str, Any]) -> bool:
    """True when the serializer's request comes from an admin; False without a request (the safe side)."""
    request = context.get("request")
    return request is not None and has_role(getattr(request, "user", None), ADMIN)


class PublicErrorField(serializers.CharField):
    """A stored error text, read-only: whole for admins, without internal URLs/hosts/key names for anyone else."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("help_text", "Why it failed, in words (internal addresses are shown to admins only).")
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return error_for(super().to_representation(value), is_admin=viewer_is_admin(self.context))


def drop_unless_admin(data: dict[str, Any], context: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Removes ``names`` (endpoint URLs, key-variable names) from a serialized object unless the viewer is an admin."""
    if not viewer_is_admin(context):
        for name in names:
            data.pop(name, None)
    return data
