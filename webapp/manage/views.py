"""Administration pages (admin role): accounts at /manage/users/, LLM endpoints at /manage/endpoints/.

Thin: a form, one service call, one audit event after the service succeeded (a refused action records
nothing), then a redirect, or the page again with the reason. A generated password is shown once, in the
response to the POST that made it, and is never stored anywhere else (not in a message, not in the trail).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from webapp import audit
from webapp.llm import ROLES as LLM_ROLES
from webapp.manage import selectors, services
from webapp.manage.connection import TEST_TIMEOUT_S, run_connection_test
from webapp.manage.forms import EndpointForm, PasswordResetForm, RolesForm, UserCreateForm
from webapp.models import LLMEndpoint
from webapp.roles import ADMIN, role_required

PER_PAGE = 50


@role_required(ADMIN)
def index(request: HttpRequest) -> HttpResponse:
    return redirect("manage-users")


# --- Accounts -------------------------------------------------------------------------------------------------


def _users_page(request: HttpRequest, form: UserCreateForm, status: int = 200,
                created: Any = None, password: str = "") -> HttpResponse:
    query = request.GET.get("q", "").strip()
    state = request.GET.get("state", "")
    if state not in ("", "active", "inactive"):
        messages.error(request, f"Unknown state filter {state!r}: showing every account (choose active or inactive).")
        state = ""
    page = Paginator(selectors.user_list(query, state), PER_PAGE).get_page(request.GET.get("page"))
    locks = selectors.lockouts(u.get_username() for u in page)
    rows = [{"user": u, "roles": selectors.held_roles(u), "lock": locks.get(u.get_username())} for u in page]
    return render(request, "webapp/manage/users.html", {
        "page": page, "rows": rows, "form": form, "q": query, "state": state, "created": created,
        "password": password, "admins": selectors.active_admin_count(),
        "min_password_length": settings.SKINFLOW_PASSWORD_MIN_LENGTH,
    }, status=status)


@role_required(ADMIN)
def users(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _users_page(request, UserCreateForm())
    form = UserCreateForm(request.POST)
    if not form.is_valid():
        return _users_page(request, form, status=400)
    password, generated = form.chosen_password()
    try:
        user = services.create_user(username=form.cleaned_data["username"], role_set=form.cleaned_data["role"],
                                    password=password)
    except services.ManageError as exc:
        form.add_error(None, str(exc))
        return _users_page(request, form, status=exc.status)
    audit.record(request, services.USER_CREATE, user, username=user.get_username(), roles=form.cleaned_data["role"],
                 password="generated" if generated else "typed")
    if generated:
        return _users_page(request, UserCreateForm(), created=user, password=password)
    messages.success(request, f"Account {user.get_username()} created; it can log in now.")
    return redirect("manage-user", user_id=user.pk)


def _user_page(request: HttpRequest, user: Any, *, status: int = 200, error: str = "", password: str = "",
               roles_form: RolesForm | None = None, password_form: PasswordResetForm | None = None) -> HttpResponse:
    lock = selectors.lockouts([user.get_username()]).get(user.get_username())
    return render(request, "webapp/manage/user.html", {
        "account": user, "roles": selectors.held_roles(user), "lock": lock, "error": error, "password": password,
        "roles_form": roles_form or RolesForm(initial={"role": services.role_set_of(user)}),
        "password_form": password_form or PasswordResetForm(user=user),
        "is_self": user.pk == request.user.pk, "min_password_length": settings.SKINFLOW_PASSWORD_MIN_LENGTH,
    }, status=status)


def _account(user_id: int) -> Any:
    return get_object_or_404(get_user_model(), pk=user_id)


@role_required(ADMIN)
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    return _user_page(request, _account(user_id))


@role_required(ADMIN)
@require_POST
def user_roles(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _account(user_id)
    form = RolesForm(request.POST)
    if not form.is_valid():
        return _user_page(request, user, status=400, roles_form=form)
    before = services.role_set_of(user)
    try:
        changed = services.set_roles(actor=request.user, user=user, role_set=form.cleaned_data["role"])
    except services.ManageError as exc:
        return _user_page(request, user, status=exc.status, error=str(exc), roles_form=form)
    if changed:
        audit.record(request, services.USER_ROLES, user, username=user.get_username(), before=before,
                     after=form.cleaned_data["role"])
        messages.success(request, f"{user.get_username()} now has the role {form.cleaned_data['role']}.")
    return redirect("manage-user", user_id=user.pk)


@role_required(ADMIN)
@require_POST
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _account(user_id)
    active = request.POST.get("active")
    if active not in ("0", "1"):
        return _user_page(request, user, status=400, error="Send active=0 to deactivate or active=1 to reactivate.")
    was_active = user.is_active
    try:
        revoked = services.set_active(actor=request.user, user=user, active=active == "1")
    except services.ManageError as exc:
        return _user_page(request, user, status=exc.status, error=str(exc))
    if active == "1" and not was_active:
        audit.record(request, services.USER_REACTIVATE, user, username=user.get_username())
        messages.success(request, f"{user.get_username()} is active again and can log in.")
    elif revoked is not None:
        audit.record(request, services.USER_DEACTIVATE, user, username=user.get_username(),
                     tokens_revoked=revoked.tokens, sessions_ended=revoked.sessions)
        messages.success(request, f"{user.get_username()} is deactivated: logins refused, {revoked.tokens} API "
                                  f"token(s) revoked, {revoked.sessions} browser session(s) ended.")
    return redirect("manage-user", user_id=user.pk)


@role_required(ADMIN)
@require_POST
def user_password(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _account(user_id)
    form = PasswordResetForm(request.POST, user=user)
    if not form.is_valid():
        return _user_page(request, user, status=400, password_form=form)
    is_self = user.pk == request.user.pk
    try:
        password, generated = form.chosen_password()
        revoked = services.reset_password(actor=request.user, user=user, password=password,
                                          keep_session_key=request.session.session_key if is_self else None)
    except services.ManageError as exc:
        return _user_page(request, user, status=exc.status, error=str(exc))
    if is_self:
        update_session_auth_hash(request, user)  # the admin's own browser session stays signed in
    audit.record(request, services.USER_PASSWORD, user, username=user.get_username(),
                 password="generated" if generated else "typed", tokens_revoked=revoked.tokens,
                 sessions_ended=revoked.sessions)
    done = (f"New password set for {user.get_username()}: the old one no longer works, {revoked.tokens} API "
            f"token(s) revoked, {revoked.sessions} other browser session(s) ended.")
    messages.success(request, done)
    if generated:
        return _user_page(request, user, password=password)
    return redirect("manage-user", user_id=user.pk)


@role_required(ADMIN)
@require_POST
def user_unlock(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _account(user_id)
    removed = services.unlock(user=user)
    audit.record(request, services.USER_UNLOCK, user, username=user.get_username(), attempts_removed=removed)
    messages.success(request, f"Failed logins of {user.get_username()} cleared ({removed} record(s)); the account "
                              "can log in again. A lock on a client address is lifted in Django's admin "
                              "(Axes → Access attempts).")
    return redirect("manage-user", user_id=user.pk)


# --- LLM endpoints ---------------------------------------------------------------------------------------------


def _role(role: str) -> str:
    if role not in LLM_ROLES:
        raise Http404(f"No LLM role {role!r}; the roles are {', '.join(LLM_ROLES)}.")
    return role


def _endpoints_page(request: HttpRequest, test: Any = None, status: int = 200) -> HttpResponse:
    return render(request, "webapp/manage/endpoints.html", {
        "rows": selectors.endpoint_rows(), "test": test, "timeout_s": TEST_TIMEOUT_S}, status=status)


@role_required(ADMIN)
def endpoints(request: HttpRequest) -> HttpResponse:
    return _endpoints_page(request)


@role_required(ADMIN)
def endpoint_edit(request: HttpRequest, role: str) -> HttpResponse:
    row = selectors.endpoint_row(_role(role))
    instance = LLMEndpoint.objects.filter(role=role).first()
    if instance is None:  # the form starts from what the role uses now
        config = row.config
        instance = LLMEndpoint(role=role, base_url=config.base_url, model=config.model, api_key_env=config.api_key_env)
    form = EndpointForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_endpoint(form)
        except services.ManageError as exc:
            form.add_error(None, str(exc))
            return render(request, "webapp/manage/endpoint_edit.html", {
                "role": role, "form": form, "row": row, "has_row": False}, status=exc.status)
        audit.record(request, services.ENDPOINT_SAVE, saved, role=role, base_url=saved.base_url, model=saved.model,
                     api_key_env=saved.api_key_env, enabled=saved.enabled)
        messages.success(request, f"Endpoint for {role} saved; it applies to the next call. Test the connection "
                                  "to see that it answers.")
        return redirect("manage-endpoints")
    return render(request, "webapp/manage/endpoint_edit.html", {
        "role": role, "form": form, "row": row, "has_row": instance.pk is not None,
    }, status=400 if form.errors else 200)


@role_required(ADMIN)
@require_POST
def endpoint_remove(request: HttpRequest, role: str) -> HttpResponse:
    row = LLMEndpoint.objects.filter(role=_role(role)).first()
    if services.remove_endpoint(role):
        audit.record(request, services.ENDPOINT_DELETE, row, role=role)
        messages.success(request, f"The saved endpoint of {role} was removed; the SKINFLOW_{role.upper()}_* "
                                  "variables (or the defaults) apply again.")
    return redirect("manage-endpoints")


@role_required(ADMIN)
@require_POST
def endpoint_test(request: HttpRequest, role: str) -> HttpResponse:
    result = run_connection_test(_role(role))
    audit.record(request, services.ENDPOINT_TEST, LLMEndpoint.objects.filter(role=role).first(), role=role,
                 ok=result.ok, reason=result.reason, latency_ms=result.latency_ms)
    return _endpoints_page(request, test=result)
