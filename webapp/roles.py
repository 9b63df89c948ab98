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


# What the admin group may do in Django's admin (/admin/), and nothing more. Users and LLM endpoints are
# administered on the product's own pages (/manage/), which check the role, refuse privilege escalation and
# write the access audit trail; Django's user admin would let any holder of auth.change_user tick
# "superuser" on an account, so no auth permission is ever granted. What stays in /admin/ is read-mostly:
# the LLM call log and endpoints (read: they are edited at /manage/endpoints/), and django-axes' records,
# where deleting an access attempt is how a locked-out client address is unlocked. The access events
# (audit trail) page checks the admin role itself (webapp/admin.py) and needs no permission row.
ADMIN_GROUP_PERMISSIONS = (
    ("webapp", "view_llmcall"),
    ("webapp", "view_llmendpoint"),
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
    ("axes", "view_accesslog"),
    ("axes", "view_accessfailurelog"),
)


def ensure_role_groups() -> None:
    """Create the role groups and give the admin group exactly ``ADMIN_GROUP_PERMISSIONS`` (the
    dermatologist group none). Idempotent: run by ``seed_demo`` and after every ``migrate``; a permission
    added to the group by hand is taken away again, so the list above stays the whole truth."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
    wanted = Q(pk__in=[])
    for app_label, codename in ADMIN_GROUP_PERMISSIONS:
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    # A permission row exists once its app's post_migrate ran; the next run adds what is missing then.
    groups[ADMIN].permissions.set(Permission.objects.filter(wanted))
    groups[DERMATOLOGIST].permissions.clear()


def ensure_role_groups_after_migrate(sender: Any, **kwargs: Any) -> None:
    """``post_migrate`` receiver: every database (a fresh one, docker-compose's, the tests') gets the groups
    and the admin group's permissions without anyone running ``seed_demo``. Permissions are made by each app's
    own post_migrate, so this acts on the last installed app's signal, when all of them exist."""
    from django.apps import apps

    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if not with_models or sender is not with_models[-1]:
        return
    using = kwargs.get("using", "default")
    if using != "default":
        return
    ensure_role_groups()


def connect_role_groups() -> None:
    """Hooks :func:`ensure_role_groups_after_migrate` to ``post_migrate``; idempotent."""
    from django.db.models.signals import post_migrate

    post_migrate.connect(ensure_role_groups_after_migrate, dispatch_uid="skinflow-role-groups")


def grant_role(user: Any, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    if hasattr(user, "_skinflow_roles"):
        del user._skinflow_roles


def revoke_role(user: Any, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    user.groups.remove(*Group.objects.filter(name=role))
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
