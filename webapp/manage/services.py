"""Writes behind the administration pages: accounts, roles, passwords, lockouts and LLM endpoint rows.

The rules live here, not in the views, so every door (page, a future API, a shell) keeps them:
- nothing here sets ``is_superuser``; an admin who is not a superuser cannot change a superuser's account
  (a password reset would hand them that account, and with it every permission);
- the system is never left without an active admin (one holding the role, or a superuser): the last one
  cannot be deactivated or lose the role, and nobody deactivates or demotes themself here;
- a new password or a deactivation ends the account's API tokens and browser sessions at once.

The active admins are locked (``SELECT ... FOR UPDATE``) while the "is another admin left?" question is asked,
so two admins demoting each other at the same moment cannot both succeed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Iterable

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from webapp import roles, tokens

# Access-audit actions of this area (AccessEvent.action; see webapp/audit.py).
USER_CREATE = "user.create"
USER_ROLES = "user.roles"
USER_DEACTIVATE = "user.deactivate"
USER_REACTIVATE = "user.reactivate"
USER_PASSWORD = "user.password_reset"
USER_UNLOCK = "user.unlock"
ENDPOINT_SAVE = "llm_endpoint.save"
ENDPOINT_DELETE = "llm_endpoint.delete"
ENDPOINT_TEST = "llm_endpoint.test"
ACTIONS = {
    USER_CREATE: "created an account", USER_ROLES: "changed an account's roles",
    USER_DEACTIVATE: "deactivated an account", USER_REACTIVATE: "reactivated an account",
    USER_PASSWORD: "reset an account's password", USER_UNLOCK: "unlocked an account's logins",
    ENDPOINT_SAVE: "saved an LLM endpoint", ENDPOINT_DELETE: "removed an LLM endpoint row",
    ENDPOINT_TEST: "tested an LLM endpoint",
}

# The choices the pages offer: one role, or both.
ROLE_SETS: dict[str, tuple[str, ...]] = {
    roles.DERMATOLOGIST: (roles.DERMATOLOGIST,),
    roles.ADMIN: (roles.ADMIN,),
    "both": (roles.DERMATOLOGIST, roles.ADMIN),
}


class ManageError(Exception):
    """A refused administration action; the message says why and what to do instead."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Revoked:
    tokens: int
    sessions: int


def _admins() -> QuerySet:
    User = get_user_model()
    return User.objects.filter(Q(is_superuser=True) | Q(groups__name=roles.ADMIN), is_active=True).distinct()


def _other_admins_locked(user: AbstractBaseUser) -> int:
    """How many active admins other than ``user`` there are. Every admin's row (``user``'s too) is locked first
    and the count is taken after the lock: two admins demoting each other at once then run one after the
    other, and the second one sees the first one's change (READ COMMITTED reads afresh per statement)."""
    User = get_user_model()
    ids = list(_admins().values_list("pk", flat=True)) + [user.pk]
    # DISTINCT and FOR UPDATE do not go together in PostgreSQL: lock the rows by id, in a stable order.
    list(User.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    return _admins().exclude(pk=user.pk).count()


def _check_may_change(actor: AbstractBaseUser, user: AbstractBaseUser) -> None:
    if user.is_superuser and not actor.is_superuser:
        raise ManageError(f"{user.get_username()} is a superuser account; only a superuser may change it "
                          "(python manage.py changepassword, or Django's admin as a superuser).", status=403)


def role_set_of(user: AbstractBaseUser) -> str:
    """Which of ``ROLE_SETS`` the user holds ("" for none)."""
    held = set(user.groups.filter(name__in=roles.ROLES).values_list("name", flat=True))
    for name, wanted in ROLE_SETS.items():
        if set(wanted) == set(held):
            return name
    return ""


def _apply_roles(user: AbstractBaseUser, wanted: Iterable[str]) -> None:
    wanted = set(wanted)
    for role in roles.ROLES:
        (roles.grant_role if role in wanted else roles.revoke_role)(user, role)
    # Staff status opens Django's admin (the audit trail, login lockouts); it follows the admin role.
    staff = roles.ADMIN in wanted or user.is_superuser
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])


def validate_new_password(password: str, user: AbstractBaseUser) -> None:
    """Django's validators with the project's (length, similarity, common, numeric, repetition)."""
    password_validation.validate_password(password, user)


def generate_password(user: AbstractBaseUser) -> str:
    """A random password that passes the validators (20 URL-safe characters, about 120 bits)."""
    for _ in range(20):
        password = secrets.token_urlsafe(15)
        try:
            validate_new_password(password, user)
        except ValidationError:
            continue
        return password
    raise ManageError("No generated password passed the password rules; type one instead.")


def revoke_access(user: AbstractBaseUser, keep_session_key: str | None = None) -> Revoked:
    """End every API token and browser session of ``user`` (all but ``keep_session_key``, the caller's own).

    Django would refuse those sessions anyway on their next request (a new password changes the session hash;
    a deactivated account is not loaded), but deleting them is what makes "signed out everywhere" true at once
    and leaves no session row that a later reactivation would bring back to life."""
    revoked_tokens = tokens.revoke_all_tokens(user)
    sessions = 0
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        from django.contrib.sessions.models import Session

        # The user id is inside the encoded session data, so the live sessions are read one by one; a clinic
        # has hundreds of them at most (they expire after DJANGO_SESSION_HOURS).
        mine = [s.pk for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
                if s.get_decoded().get("_auth_user_id") == str(user.pk) and s.pk != keep_session_key]
        sessions, _ = Session.objects.filter(pk__in=mine).delete()
    return Revoked(revoked_tokens, sessions)


def create_user(*, username: str, role_set: str, password: str) -> AbstractBaseUser:
    """A new active account with the roles of ``role_set``; never a superuser. The password is validated by
    the form (it needs the user's name for the similarity check) and again here by Django's hasher only."""
    if role_set not in ROLE_SETS:
        raise ManageError(f"Choose one of {', '.join(ROLE_SETS)} as the role.")
    User = get_user_model()
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise ManageError(f"An account named {username!r} exists already (names are compared without case). "
                              "Choose another name, or open that account to change it.")
        user = User(username=username, is_active=True, is_superuser=False)
        user.set_password(password)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # another admin created the same name between the check and this save
            raise ManageError(f"An account named {username!r} was created a moment ago by someone else. Choose "
                              "another name, or open that account to change it.", status=409) from None
        _apply_roles(user, ROLE_SETS[role_set])
    return user


def set_roles(*, actor: AbstractBaseUser, user: AbstractBaseUser, role_set: str) -> bool:
    """Give ``user`` exactly the roles of ``role_set``; returns whether anything changed."""
    if role_set not in ROLE_SETS:
        raise ManageError(f"Choose one of {', '.join(ROLE_SETS)} as the role.")
    _check_may_change(actor, user)
    wanted = ROLE_SETS[role_set]
    with transaction.atomic():
        if roles.ADMIN not in wanted and roles.has_role(user, roles.ADMIN) and not user.is_superuser:
            if user.pk == actor.pk:
                raise ManageError("You cannot take the admin role from yourself here: you would lose this page. "
                                  "Ask another admin to do it.", status=409)
            if user.is_active and _other_admins_locked(user) == 0:
                raise ManageError(f"{user.get_username()} is the only active admin; give another account the admin "
                                  "role first.", status=409)
        before = role_set_of(user)
        _apply_roles(user, wanted)
    return before != role_set


def set_active(*, actor: AbstractBaseUser, user: AbstractBaseUser, active: bool) -> Revoked | None:
    """Deactivate (tokens and sessions end at once) or reactivate ``user``. Returns what a deactivation
    revoked, None for a reactivation or when nothing changed."""
    _check_may_change(actor, user)
    if user.is_active == active:
        return None
    with transaction.atomic():
        if not active:
            if user.pk == actor.pk:
                raise ManageError("You cannot deactivate your own account. Ask another admin.", status=409)
            is_admin = user.is_superuser or user.groups.filter(name=roles.ADMIN).exists()
            if is_admin and _other_admins_locked(user) == 0:
                raise ManageError(f"{user.get_username()} is the only active admin; give another account the admin "
                                  "role first.", status=409)
        user.is_active = active
        user.save(update_fields=["is_active"])
        return revoke_access(user) if not active else None


def reset_password(*, actor: AbstractBaseUser, user: AbstractBaseUser, password: str,
                   keep_session_key: str | None = None) -> Revoked:
    """Set a new (already validated) password; the old one stops working, and so do the account's tokens and
    sessions (the caller's own session is kept when admins reset their own password)."""
    _check_may_change(actor, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])  # webapp.tokens revokes the tokens on this save as well
        return revoke_access(user, keep_session_key=keep_session_key)


def unlock(*, user: AbstractBaseUser) -> int:
    """Lift a django-axes lockout of the account's name (failures counted per account); returns how many
    attempt records were removed. Lockouts of a client address are lifted in the admin (Access attempts)."""
    from axes.utils import reset

    return reset(username=user.get_username())


# --- LLM endpoints ------------------------------------------------------------------------------------------


def save_endpoint(form: Any) -> Any:
    """Store a validated endpoint form (its model validation ran the egress policy and the key binding)."""
    try:
        with transaction.atomic():
            return form.save()
    except IntegrityError:  # two admins saved the role's first row at once: the other save came first
        role = form.instance.role
        raise ManageError(f"Another admin saved the endpoint of {role} a moment ago. Open it again to see what "
                          "it holds now, then save your change on top of it.", status=409) from None


def remove_endpoint(role: str) -> bool:
    """Delete the role's row, so the SKINFLOW_<ROLE>_* variables (or the defaults) apply again."""
    from webapp.models import LLMEndpoint

    deleted, _ = LLMEndpoint.objects.filter(role=role).delete()
    return bool(deleted)
