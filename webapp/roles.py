"""Roles: ``dermatologist`` reviews captions and verdicts; ``admin`` manages datasets, LLM endpoints,
training and evaluation runs. A role is a Django group; superusers hold every role.

Every page and API endpoint asks for a role, not only a login: an account nobody has given a role yet
sees a page telling it to ask an admin, never patient images.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser, Group
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.permissions import BasePermission

DERMATOLOGIST = "dermatologist"
ADMIN = "admin"
ROLES = (DERMATOLOGIST, ADMIN)


def user_roles(user: Any) -> frozenset[str]:
    """The roles a user holds, cached on the user object for the request."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_skinflow_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(ROLES)
        else:
            cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._skinflow_roles = cached
    return cached


def has_role(user: Any, *roles: str) -> bool:
    """True when the user holds any of ``roles`` (any role at all when none are named)."""
    held = user_roles(user)
    return bool(held & set(roles)) if roles else bool(held)


def ensure_role_groups() -> None:
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def grant_role(user: Any, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    if hasattr(user, "_skinflow_roles"):
        del user._skinflow_roles


def role_required(*roles: str) -> Callable:
    """View decorator: login first, then one of ``roles`` (any role when none are named), else 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, *roles):
                return render(request, "webapp/forbidden.html", {"needed": roles or ROLES}, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class HasAnyRole(BasePermission):
    message = "Your account has no SkinFlow role yet; ask an admin to grant 'dermatologist' or 'admin'."

    def has_permission(self, request: Any, view: Any) -> bool:
        return has_role(request.user)


class IsAdminRole(BasePermission):
    message = "This needs the 'admin' role."

    def has_permission(self, request: Any, view: Any) -> bool:
        return has_role(request.user, ADMIN)


class IsAdminOrReadOnly(BasePermission):
    """Any role may read; only admins write."""

    message = "Changing this needs the 'admin' role."

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return has_role(request.user)
        return has_role(request.user, ADMIN)


def roles_context(request: HttpRequest) -> dict[str, Any]:
    roles = user_roles(getattr(request, "user", None))
    return {"user_roles": roles, "is_admin_role": ADMIN in roles, "is_dermatologist_role": DERMATOLOGIST in roles}
