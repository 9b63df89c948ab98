"""API tokens: issued only to users with a role, stored hashed, expiring, revoked at logout.

The storage and the check are django-rest-knox's (a SHA-512 digest per token, an expiry column, a constant-time
comparison); only the first 15 characters are kept in clear, as the lookup key. This module adds what knox
leaves to the project: the rule that a token needs a role, the services that issue and revoke (views call
these, never the ORM), an authentication class whose refusal says what to do next, and the rule that a
new password revokes the account's tokens (``connect_password_revocation``).

Clients send ``Authorization: Token <key>``, as they did with DRF's plaintext tokens.
"""

from __future__ import annotations

import binascii
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import exceptions

from webapp.roles import has_role

REFUSED = ("The token is not valid: it is unknown, expired or was revoked at logout. Get a new one with "
           "POST /api/auth/token/ (username and password), then send 'Authorization: Token <key>'.")
NO_ROLE = ("Your account has no SkinFlow role yet, so no API token is issued; ask an admin to grant "
           "'dermatologist' or 'admin'.")


class NoRole(exceptions.PermissionDenied):
    default_detail = NO_ROLE


def issue_token(user: AbstractBaseUser) -> tuple[AuthToken, str]:
    """A new token for ``user`` with the configured lifetime (``REST_KNOX['TOKEN_TTL']``).

    Returns the stored row (digest and expiry) and the key, which exists only in this return value: it is
    never stored and cannot be shown again. Raises ``NoRole`` for an account without a role, since every
    endpoint a token could open asks for one.
    """
    if not has_role(user):
        raise NoRole()
    # Expired tokens are refused anyway; removing this user's now keeps the table from growing with each login.
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    return AuthToken.objects.create(user=user)


def revoke_token(token: AuthToken) -> None:
    """The presented token stops working at once (API logout)."""
    token.delete()


def revoke_all_tokens(user: AbstractBaseUser) -> int:
    """Every token of ``user`` stops working (API logout-all, browser logout). Returns how many there were."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


def _note_password_change(sender: type, instance: AbstractBaseUser, raw: bool = False,
                          update_fields: frozenset[str] | None = None, **kwargs: Any) -> None:
    """``pre_save`` of the user model: remember whether this save writes a new password hash.

    The stored hash is compared rather than ``set_password`` watched, so every way a password changes counts:
    the admin's password form, ``changepassword``, the password-change page, a script assigning a hash. A hash
    *upgrade* (Django re-hashing the same password at login with more iterations: ``save(update_fields=
    ["password"])`` with no new raw password) is not a change, or every Django upgrade would log scripts out.
    """
    instance._skinflow_password_changed = False  # type: ignore[attr-defined]
    if raw or instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return  # a fixture load, a new account (no tokens yet), or a save that leaves the password alone
    upgrade = update_fields is not None and set(update_fields) == {"password"}
    if upgrade and getattr(instance, "_password", None) is None:
        return  # check_password's hash upgrade (it clears _password, the raw one set_password keeps)
    stored = type(instance)._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    changed = stored is not None and stored != instance.password
    instance._skinflow_password_changed = changed  # type: ignore[attr-defined]


def _revoke_after_password_change(sender: type, instance: AbstractBaseUser, **kwargs: Any) -> None:
    """``post_save``: a new password ends every API token of the account (after the save, so a failed save
    revokes nothing). Whoever changed it because it leaked must not leave a token made with it working."""
    if getattr(instance, "_skinflow_password_changed", False):
        instance._skinflow_password_changed = False  # type: ignore[attr-defined]
        revoke_all_tokens(instance)


def connect_password_revocation() -> None:
    """Hooks the two handlers above to the user model (``WebappConfig.ready``); idempotent."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_save, pre_save

    user_model = get_user_model()
    pre_save.connect(_note_password_change, sender=user_model, dispatch_uid="skinflow-token-password-pre")
    post_save.connect(_revoke_after_password_change, sender=user_model, dispatch_uid="skinflow-token-password-post")


class ExpiringTokenAuthentication(TokenAuthentication):
    """knox's check, with a refusal that tells the client how to get a new token.

    A header that is not valid UTF-8 is refused like any wrong token (knox would raise UnicodeDecodeError: a 500).
    """

    def authenticate_credentials(self, token: bytes) -> tuple[Any, AuthToken]:
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(REFUSED) from None
        try:
            return super().authenticate_credentials(token)
        except (exceptions.AuthenticationFailed, binascii.Error, TypeError, ValueError) as exc:
            if isinstance(exc, exceptions.AuthenticationFailed) and "inactive" in str(exc.detail):
                raise exceptions.AuthenticationFailed("This account is deactivated; ask an admin.") from None
            raise exceptions.AuthenticationFailed(REFUSED) from None


class ExpiringTokenScheme(OpenApiAuthenticationExtension):
    """How the schema describes the token header (drf-spectacular matches auth classes by exact class)."""

    target_class = "webapp.tokens.ExpiringTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
