"""Reads behind the administration pages: the account list with roles and lockouts, and the effective
LLM endpoint of every role with where it comes from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Max, Prefetch, Q, QuerySet
from django.utils import timezone

from webapp import roles
from webapp.gateway import DEFAULT, ROW, EffectiveEndpoint, effective_endpoints
from webapp.manage.connection import key_is_set


def user_list(query: str = "", state: str = "") -> QuerySet:
    """Accounts by name, with their role groups prefetched; ``query`` matches part of the name, ``state`` is
    ``active``/``inactive`` or empty for all."""
    from django.contrib.auth.models import Group

    users = get_user_model().objects.order_by("username").prefetch_related(
        Prefetch("groups", queryset=Group.objects.filter(name__in=roles.ROLES), to_attr="role_groups"))
    if query:
        users = users.filter(username__icontains=query)
    if state == "active":
        users = users.filter(is_active=True)
    elif state == "inactive":
        users = users.filter(is_active=False)
    return users


def held_roles(user: AbstractBaseUser) -> list[str]:
    """The roles an account holds, whether it is active or not (a superuser holds them all)."""
    if user.is_superuser:
        return list(roles.ROLES)
    groups = getattr(user, "role_groups", None)
    names = {g.name for g in groups} if groups is not None else set(
        user.groups.filter(name__in=roles.ROLES).values_list("name", flat=True))
    return [r for r in roles.ROLES if r in names]


@dataclass(frozen=True)
class Lockout:
    failures: int
    locked: bool
    until: datetime | None  # None with a lock: until an admin unlocks it


def lockouts(usernames: Iterable[str]) -> dict[str, Lockout]:
    """django-axes' failure count per account name (one query for a page of accounts); only names with
    failures in the cool-off window appear. Lockouts by client address are not shown here (admin: Access
    attempts)."""
    names = list(usernames)
    if not names:
        return {}
    from axes.models import AccessAttempt

    attempts = AccessAttempt.objects.filter(username__in=names)
    cool_off = settings.AXES_COOLOFF_TIME
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    out: dict[str, Lockout] = {}
    for row in attempts.values("username").annotate(failures=Max("failures_since_start"), last=Max("attempt_time")):
        locked = row["failures"] >= settings.AXES_FAILURE_LIMIT
        until = row["last"] + cool_off if (locked and cool_off is not None) else None
        out[row["username"]] = Lockout(row["failures"], locked, until)
    return out


def active_admin_count() -> int:
    return get_user_model().objects.filter(Q(is_superuser=True) | Q(groups__name=roles.ADMIN),
                                           is_active=True).distinct().count()


@dataclass(frozen=True)
class EndpointRow:
    role: str
    effective: EffectiveEndpoint
    key_set: bool | None  # whether the key variable is set in the web server's process

    @property
    def config(self) -> Any:
        return self.effective.config

    @property
    def source_label(self) -> str:
        if self.effective.source == ROW:
            return "saved on this page"
        if self.effective.source == DEFAULT:
            return "built-in default"
        return "environment variables"

    @property
    def field_sources(self) -> list[tuple[str, str]]:
        labels = {ROW: "saved row", DEFAULT: "built-in default"}
        return [(field, labels.get(where, where)) for field, where in self.effective.fields.items()]


def endpoint_rows() -> list[EndpointRow]:
    """One row per role, in the gateway's role order."""
    return [EndpointRow(role, effective, key_is_set(effective.config.api_key_env))
            for role, effective in effective_endpoints().items()]


def endpoint_row(role: str) -> EndpointRow | None:
    return next((row for row in endpoint_rows() if row.role == role), None)
