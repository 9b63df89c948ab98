"""``{{ run.error|public_error:is_admin_role }}``: an error text without internal addresses unless the viewer is an
admin (``is_admin_role`` comes from the ``webapp.roles.roles_context`` context processor)."""

from __future__ import annotations

from django import template

from webapp import redact

register = template.Library()


@register.filter(name="public_error")
def public_error(text: str | None, is_admin: bool = False) -> str:
    return redact.error_for(text, is_admin=bool(is_admin))
