"""Login page, logout, and the API token endpoints (issue 12: login and tokens).

Throttling is django-axes' (settings ``AXES_*``): every ``authenticate()`` call that carries the request is
counted, so the login page, the admin's login and the token endpoint share one count per account and one per
client address. This module supplies what axes leaves to the project: which address is the client's
(``webapp.net.client_ip``), and what a locked-out client is told (``lockout_response`` for pages,
``LockedOut`` for the token endpoint).

Tokens are django-rest-knox's, issued and revoked through ``webapp.tokens``; the response keeps the shape
clients already read, ``{"token": ..., "expiry": ...}``.
"""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in, user_logged_out
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp import tokens
from webapp.net import client_ip  # noqa: F401 - re-exported: axes and older imports name it here


# --- Throttling: the lockout answer (the client's address is webapp.net.client_ip) -------------------------

def _cool_off_minutes(request: HttpRequest | None = None) -> int | None:
    """Minutes a lock lasts after the last failure; None when it lasts until an admin lifts it."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    return max(1, math.ceil(cool_off.total_seconds() / 60))


def lock_duration(request: HttpRequest | None = None) -> str:
    minutes = _cool_off_minutes(request)
    return "until an admin unlocks it" if minutes is None else f"for {minutes} minutes"


def lockout_message(request: HttpRequest | None = None) -> str:
    if _cool_off_minutes(request) is None:
        return ("Too many failed logins for this account or from this address, so logging in is locked until an "
                "admin unlocks it. Ask an admin.")
    return (f"Too many failed logins for this account or from this address, so logging in is locked "
            f"{lock_duration(request)}. Wait and try again, or ask an admin to unlock it.")


def _retry_after_s(request: HttpRequest | None = None) -> int | None:
    minutes = _cool_off_minutes(request)
    return None if minutes is None else minutes * 60


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    """What axes answers a locked-out login page with (``AXES_LOCKOUT_CALLABLE``): 429, with Retry-After.

    The login page again, with the reason in place of the form's error (the admin's login too: one page to
    explain it). Only pages get here: AxesMiddleware reads ``axes_locked_out`` from Django's request, and
    the token endpoint, the one API view that authenticates, hands axes DRF's Request wrapper, where the flag
    lands instead; that view answers its lockout itself (``LockedOut``, JSON).
    """
    message = lockout_message(request)
    response = render(request, "webapp/login.html", {
        "form": AuthenticationForm(request), "locked_out": message,
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }, status=status.HTTP_429_TOO_MANY_REQUESTS)
    if (retry := _retry_after_s(request)) is not None:
        response["Retry-After"] = str(retry)
    return response


class LockedOut(exceptions.Throttled):
    """The token endpoint's lockout: 429 with a Retry-After header (DRF's handler sets it from ``wait``)."""

    def __init__(self, request: Request) -> None:
        super().__init__(wait=_retry_after_s(request), detail=lockout_message(request))


# --- Pages ------------------------------------------------------------------------------------------------

class LoginView(auth_views.LoginView):
    """Django's login page, which also says how many failures lock an account and for how long."""

    template_name = "webapp/login.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "failure_limit": settings.AXES_FAILURE_LIMIT,
                "lock_duration": lock_duration(self.request)}


class LogoutView(auth_views.LogoutView):
    """Browser logout (the app's and the admin's) ends the session and revokes the user's API tokens too.

    "Log out" at a shared clinic workstation must leave nothing of that user working, and a token lives at
    most a working day anyway; a script that needs a token past a logout gets a new one.
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            tokens.revoke_all_tokens(request.user)
        return super().post(request, *args, **kwargs)


# --- API ----------------------------------------------------------------------------------------------------

# Django's own limit for a username (AbstractUser.username). A longer one cannot name an account, and axes
# would try to store it in AccessAttempt.username (varchar 255): PostgreSQL refuses that with a 500.
USERNAME_MAX_LENGTH = 150


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=USERNAME_MAX_LENGTH)
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, write_only=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as 'Authorization: Token <token>'. Shown only once.")
    expiry = serializers.DateTimeField(help_text="When the token stops working (SKINFLOW_TOKEN_HOURS after issue).")


_DETAIL = inline_serializer("AuthDetail", {"detail": serializers.CharField()})
# JsonBodyMiddleware answers a body that is not a JSON object before any view runs, on every API write.
_NOT_AN_OBJECT = OpenApiResponse(_DETAIL, description="A body was sent that is not a JSON object.")
_WRONG_LOGIN = ("Unable to log in with the username and password given. After "
                "{limit} failed attempts logging in is locked {duration}.")


class BadTokenRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


class ObtainTokenView(APIView):
    """POST username and password; get an expiring token. Counted by the login throttle like the login page."""

    authentication_classes: tuple = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        operation_id="auth_token_create", tags=["auth"], auth=[], request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(_DETAIL, description="Username or password missing or wrong, or a body that is "
                                                      "not a JSON object."),
            403: OpenApiResponse(_DETAIL, description="The account has no role: no token is issued."),
            429: OpenApiResponse(_DETAIL, description="Locked after too many failed logins; see Retry-After."),
        },
    )
    def post(self, request: Request) -> Response:
        fields = TokenRequestSerializer(data=request.data)
        if not fields.is_valid():
            codes = fields.errors.get("username", [])
            if any(getattr(error, "code", "") == "max_length" for error in codes):
                raise BadTokenRequest(f"The username is longer than {USERNAME_MAX_LENGTH} characters, so no account "
                                      "has it; send the username you log in with.")
            missing = ", ".join(sorted(fields.errors))
            raise BadTokenRequest(f"Send both 'username' and 'password' as non-empty text (problem with: {missing}).")
        # The request goes to authenticate() so that axes can count this attempt and refuse a locked one.
        user = authenticate(request, username=fields.validated_data["username"],
                            password=fields.validated_data["password"])
        if user is None:
            if getattr(request, "axes_locked_out", False):
                raise LockedOut(request)
            raise BadTokenRequest(_WRONG_LOGIN.format(limit=settings.AXES_FAILURE_LIMIT,
                                                      duration=lock_duration(request)))
        instance, key = tokens.issue_token(user)
        # As a login: updates last_login, and axes clears this account's and address's failure count.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response(TokenSerializer({"token": key, "expiry": instance.expiry}).data)


class LogoutTokenView(APIView):
    """The token this request carries stops working."""

    authentication_classes = (tokens.ExpiringTokenAuthentication,)
    permission_classes = (IsAuthenticated,)  # no role needed: anyone may give up their own token

    @extend_schema(operation_id="auth_logout_create", tags=["auth"], request=None,
                   responses={204: OpenApiResponse(description="The token is revoked."),
                              400: _NOT_AN_OBJECT,
                              401: OpenApiResponse(_DETAIL, description="No valid token was sent.")})
    def post(self, request: Request) -> Response:
        tokens.revoke_token(request.auth)
        user_logged_out.send(sender=request.user.__class__, request=request, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    """Every token of the caller stops working (a lost laptop, a leaked script). A token or a session may ask."""

    authentication_classes = (SessionAuthentication, tokens.ExpiringTokenAuthentication)
    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="auth_logout_all_create", tags=["auth"], request=None,
                   responses={200: inline_serializer("LogoutAll", {"revoked": serializers.IntegerField()}),
                              400: _NOT_AN_OBJECT,
                              401: OpenApiResponse(_DETAIL, description="Not logged in."),
                              403: OpenApiResponse(_DETAIL, description="Not logged in, or a missing CSRF token.")})
    def post(self, request: Request) -> Response:
        revoked = tokens.revoke_all_tokens(request.user)
        user_logged_out.send(sender=request.user.__class__, request=request, user=request.user)
        return Response({"revoked": revoked})
