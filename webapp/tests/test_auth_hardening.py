"""Issue 12, login and tokens: throttled logins with an admin unlock, hashed expiring tokens only for users
with a role and revoked at logout, Django's full password validators plus ours, and a start-up guard that
refuses empty and short secret keys."""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from knox.models import AuthToken

from webapp.net import client_ip
from webapp.passwords import distinct_length

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"  # conftest's users
TOKEN_URL = "/api/auth/token/"


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 0


def login(client: Client, username: str, password: str, ip: str = "10.0.0.1", path: str = "/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def get_token(client: Client, username: str, password: str = PASSWORD, ip: str = "10.0.0.1"):
    return client.post(TOKEN_URL, {"username": username, "password": password}, content_type="application/json",
                       REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return client.get(reverse("home")).status_code == 200


def refused(client: Client, key: str) -> bool:
    """The API refuses ``key`` as a token (not for a missing role). 403 rather than 401 on the routes whose first
    authentication class is the session's: DRF answers 401 only when that class names a WWW-Authenticate scheme."""
    resp = client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}")
    return resp.status_code in (401, 403) and "expired or was revoked" in resp.json()["detail"]


# --- Throttling -----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_login_page_locks_after_the_configured_failures_and_then_refuses_the_right_password(client, dermatologist):
    first = login(client, "derm", "wrong password 1")
    assert first.status_code == 200
    page = first.content.decode()
    assert "didn't match" in page and "After 3 failed attempts logging in is locked for 15 minutes" in page
    assert login(client, "derm", "wrong password 2").status_code == 200
    locked = login(client, "derm", "wrong password 3")
    assert locked.status_code == 429 and locked["Retry-After"] == "900"
    assert "Too many failed logins for this account or from this address" in locked.content.decode()
    assert "ask an admin to unlock it" in locked.content.decode()
    right = login(client, "derm", PASSWORD)
    assert right.status_code == 429 and not logged_in(client)


@pytest.mark.django_db
def test_the_account_stays_locked_from_another_address(client, dermatologist):
    for i in range(3):
        login(client, "derm", f"guess {i}", ip=f"10.0.1.{i}")
    assert login(Client(), "derm", PASSWORD, ip="10.9.9.9").status_code == 429


@pytest.mark.django_db
def test_an_address_spraying_many_accounts_is_locked_but_others_are_not(client, dermatologist):
    for name in ("alice", "bob", "carol"):
        login(client, name, "Winter2026!", ip="10.0.2.1")
    assert login(Client(), "derm", PASSWORD, ip="10.0.2.1").status_code == 429
    other = Client()
    assert login(other, "derm", PASSWORD, ip="10.0.2.2").status_code == 302 and logged_in(other)


@pytest.mark.django_db
def test_the_lock_lifts_after_the_cool_off(client, dermatologist):
    for i in range(3):
        login(client, "derm", f"guess {i}")
    assert login(client, "derm", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert login(client, "derm", PASSWORD).status_code == 302 and logged_in(client)
    assert not AccessAttempt.objects.exists()  # a correct login clears the count


@pytest.mark.django_db
def test_without_a_cool_off_the_lock_lasts_until_an_admin_lifts_it(client, settings, dermatologist):
    settings.AXES_COOLOFF_TIME = None  # SKINFLOW_LOGIN_COOLOFF_MINUTES=0
    for i in range(3):
        locked = login(client, "derm", f"guess {i}")
    assert locked.status_code == 429 and "Retry-After" not in locked
    assert "locked until an admin unlocks it" in locked.content.decode()
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(days=30))
    assert login(client, "derm", PASSWORD).status_code == 429
    api = get_token(client, "derm")
    assert api.status_code == 429 and "until an admin unlocks it" in api.json()["detail"]


@pytest.mark.django_db
def test_a_correct_login_before_the_limit_resets_the_count(client, dermatologist):
    login(client, "derm", "typo 1")
    login(client, "derm", "typo 2")
    assert login(client, "derm", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    login(client, "derm", "typo 3")
    assert login(client, "derm", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_an_admin_unlocks_an_account_on_the_admin_page(client, dermatologist):
    for i in range(3):
        login(client, "derm", f"guess {i}")
    boss = get_user_model().objects.create_superuser("chief", password="a long admin password")
    admin = Client()
    admin.force_login(boss)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "derm" in listing.content.decode()
    ids = [str(pk) for pk in AccessAttempt.objects.filter(username="derm").values_list("pk", flat=True)]
    done = admin.post("/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": ids,
                                                      "post": "yes"})
    assert done.status_code == 302
    assert login(client, "derm", PASSWORD).status_code == 302 and logged_in(client)


@pytest.mark.django_db
def test_an_admin_unlocks_an_account_from_the_command_line(client, dermatologist):
    for i in range(3):
        login(client, "derm", f"guess {i}")
    call_command("axes_reset_username", "derm", stdout=io.StringIO())
    assert login(client, "derm", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_admin_login_is_throttled_too(client):
    get_user_model().objects.create_superuser("chief", password="a long admin password")
    for i in range(2):
        assert login(client, "chief", f"guess {i}", path="/admin/login/").status_code == 200
    locked = login(client, "chief", "guess 3", path="/admin/login/")
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    assert login(client, "chief", "a long admin password", path="/admin/login/").status_code == 429


@pytest.mark.django_db
def test_the_token_endpoint_is_throttled_with_json_that_says_what_to_do(client, dermatologist):
    wrong = get_token(client, "derm", "guess 1")
    assert wrong.status_code == 400
    assert wrong.json()["detail"].startswith("Unable to log in with the username and password given.")
    assert get_token(client, "derm", "guess 2").status_code == 400
    locked = get_token(client, "derm", "guess 3")
    assert locked.status_code == 429 and locked["Retry-After"] == "900"
    assert "Too many failed logins" in locked.json()["detail"] and "ask an admin" in locked.json()["detail"]
    assert get_token(client, "derm").status_code == 429
    assert not AuthToken.objects.exists()


@pytest.mark.django_db
def test_failures_on_the_login_page_count_on_the_token_endpoint(client, dermatologist):
    for i in range(3):
        login(client, "derm", f"guess {i}")
    assert get_token(Client(), "derm", ip="10.7.7.7").status_code == 429


def test_forwarded_addresses_are_trusted_only_behind_the_configured_proxies(rf, settings):
    spoofed = rf.get("/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 0
    assert client_ip(spoofed) == "172.18.0.5"  # no proxy: the header is the client's own words
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 1
    assert client_ip(spoofed) == "203.0.113.9"  # what our proxy saw; "1.2.3.4" was written by the client
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 2
    assert client_ip(spoofed) == "1.2.3.4"
    garbage = rf.get("/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="unknown")
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 1
    assert client_ip(garbage) == "172.18.0.5"


@pytest.mark.django_db
def test_behind_a_proxy_each_client_is_counted_on_its_own(settings, dermatologist):
    settings.SKINFLOW_TRUSTED_PROXY_COUNT = 1
    attacker = Client(HTTP_X_FORWARDED_FOR="198.51.100.7")
    for name in ("alice", "bob", "carol"):
        login(attacker, name, "Winter2026!", ip="172.18.0.5")
    assert login(attacker, "derm", PASSWORD, ip="172.18.0.5").status_code == 429
    colleague = Client(HTTP_X_FORWARDED_FOR="198.51.100.8")  # same proxy, another client
    assert login(colleague, "derm", PASSWORD, ip="172.18.0.5").status_code == 302


# --- Tokens -----------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_token_is_issued_expiring_and_stored_only_as_a_digest(client, dermatologist):
    before = timezone.now()
    resp = get_token(client, "derm")
    assert resp.status_code == 200 and set(resp.json()) == {"token", "expiry"}
    key, expiry = resp.json()["token"], parse_datetime(resp.json()["expiry"])
    assert timedelta(hours=11, minutes=59) < expiry - before <= timedelta(hours=12, seconds=5)
    row = AuthToken.objects.get(user=dermatologist)
    assert key not in (row.digest, row.token_key) and len(row.digest) == 128 and key.startswith(row.token_key)
    api = client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}")
    assert api.status_code == 200


@pytest.mark.django_db
def test_the_token_lifetime_comes_from_the_setting(client, settings, dermatologist):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(hours=1)}
    expiry = parse_datetime(get_token(client, "derm").json()["expiry"])
    assert timedelta(minutes=59) < expiry - timezone.now() <= timedelta(hours=1)


@pytest.mark.django_db
def test_no_token_without_a_role(client, no_role_user):
    resp = get_token(client, "nobody")
    assert resp.status_code == 403
    assert "no SkinFlow role yet, so no API token is issued" in resp.json()["detail"]
    assert not AuthToken.objects.exists()


@pytest.mark.django_db
def test_an_expired_token_is_refused_with_what_to_do(client, dermatologist):
    key = get_token(client, "derm").json()["token"]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    resp = client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}")
    assert resp.status_code == 403
    assert "expired or was revoked" in resp.json()["detail"] and "POST /api/auth/token/" in resp.json()["detail"]
    on_logout = client.post("/api/auth/logout/", HTTP_AUTHORIZATION=f"Token {key}")  # token auth first: a 401
    assert on_logout.status_code == 401 and on_logout["WWW-Authenticate"] == "Token"
    assert not AuthToken.objects.exists()  # knox removes it on sight


@pytest.mark.django_db
def test_api_logout_revokes_the_presented_token_only(client, dermatologist):
    first, second = get_token(client, "derm").json()["token"], get_token(client, "derm").json()["token"]
    out = client.post("/api/auth/logout/", HTTP_AUTHORIZATION=f"Token {first}")
    assert out.status_code == 204
    assert refused(client, first)
    assert client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {second}").status_code == 200
    assert client.post("/api/auth/logout/").status_code == 401  # no token: nothing to log out


@pytest.mark.django_db
def test_logout_all_revokes_every_token_of_the_caller_only(client, dermatologist, admin_user):
    mine = [get_token(client, "derm").json()["token"] for _ in range(2)]
    theirs = get_token(client, "boss").json()["token"]
    out = client.post("/api/auth/logout-all/", HTTP_AUTHORIZATION=f"Token {mine[0]}")
    assert out.status_code == 200 and out.json() == {"revoked": 2}
    for key in mine:
        assert refused(client, key)
    assert client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {theirs}").status_code == 200


@pytest.mark.django_db
def test_logout_all_from_a_browser_session_needs_its_csrf_token(dermatologist):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(dermatologist)
    key = get_token(browser, "derm").json()["token"]
    assert browser.post("/api/auth/logout-all/").status_code == 403  # no CSRF token: a forged form cannot
    browser.get(reverse("home"))
    out = browser.post("/api/auth/logout-all/", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert out.status_code == 200 and out.json() == {"revoked": 1}
    assert refused(Client(), key)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/logout/", "/admin/logout/"])
def test_browser_logout_ends_the_session_and_revokes_the_users_tokens(client, admin_user, path):
    admin_user.is_staff = True
    admin_user.save()
    key = get_token(client, "boss").json()["token"]
    assert login(client, "boss", PASSWORD).status_code == 302
    out = client.post(path)
    assert out.status_code == 302 and out["Location"] == reverse("login")
    assert not logged_in(client)
    assert refused(client, key)


@pytest.mark.django_db
def test_a_token_stops_opening_the_api_when_the_role_is_taken_away(client, dermatologist):
    key = get_token(client, "derm").json()["token"]
    dermatologist.groups.clear()
    resp = client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}")
    assert resp.status_code == 403 and "no SkinFlow role yet" in resp.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"username": "derm"}, {"username": "", "password": "x"},
                                  {"username": ["derm"], "password": {"a": 1}}])
def test_a_token_request_without_usable_fields_is_a_400_that_names_them(client, dermatologist, body):
    resp = client.post(TOKEN_URL, body, content_type="application/json")
    assert resp.status_code == 400 and "Send both 'username' and 'password'" in resp.json()["detail"]


@pytest.mark.django_db
def test_a_username_longer_than_djangos_limit_is_a_400_not_a_500(client, dermatologist):
    # axes stores the username in AccessAttempt.username (varchar 255): on PostgreSQL a longer one was a 500.
    resp = client.post(TOKEN_URL, {"username": "x" * 300, "password": "wrong"}, content_type="application/json")
    assert resp.status_code == 400 and "longer than 150 characters" in resp.json()["detail"]
    assert client.post(TOKEN_URL, {"username": "x" * 150, "password": "wrong"},
                       content_type="application/json").status_code == 400  # 150 is a username: a wrong login
    assert AccessAttempt.objects.filter(username="x" * 150).exists()
    assert get_token(client, "derm").status_code == 200


@pytest.mark.django_db
def test_a_new_password_revokes_the_accounts_tokens(client, dermatologist, admin_user):
    mine, theirs = get_token(client, "derm").json()["token"], get_token(client, "boss").json()["token"]
    dermatologist.set_password("a new and long passphrase")
    dermatologist.save()
    assert refused(client, mine)
    assert client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {theirs}").status_code == 200
    # saves that leave the password alone keep the tokens
    key = get_token(client, "derm", password="a new and long passphrase").json()["token"]
    dermatologist.first_name = "Dana"
    dermatologist.save()
    get_user_model().objects.get(pk=dermatologist.pk).save(update_fields=["last_login"])
    assert client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


@pytest.mark.django_db
def test_the_admin_password_form_revokes_tokens_but_a_hash_upgrade_does_not(client, dermatologist):
    key = get_token(client, "derm").json()["token"]
    # Django re-hashing the same password at login (more iterations after an upgrade) is no change
    user = get_user_model().objects.get(pk=dermatologist.pk)
    user._password = None
    user.password = user.password + "x"  # any new hash, written the way check_password's setter writes it
    user.save(update_fields=["password"])
    assert client.get("/api/samples/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    form = SetPasswordForm(dermatologist, {"new_password1": "another long passphrase",
                                           "new_password2": "another long passphrase"})
    assert form.is_valid(), form.errors
    form.save()
    assert refused(client, key)


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Token", "Token a b", "Token \u00e9\u00e9", "Token " + "0" * 64, "Token x"])
def test_a_malformed_or_unknown_token_is_refused_never_a_500(client, dermatologist, header):
    resp = client.get("/api/samples/", HTTP_AUTHORIZATION=header)
    assert resp.status_code == 403 and resp.json()["detail"]
    resp = client.post("/api/auth/logout/", HTTP_AUTHORIZATION=header)
    assert resp.status_code == 401 and resp.json()["detail"]


@pytest.mark.django_db
def test_the_schema_documents_the_token_endpoints(derm_client):
    schema = derm_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    issue = schema["paths"]["/api/auth/token/"]["post"]
    assert set(issue["responses"]) == {"200", "400", "403", "429"}
    ref = issue["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"token", "expiry"}
    assert "204" in schema["paths"]["/api/auth/logout/"]["post"]["responses"]
    assert "/api/auth/logout-all/" in schema["paths"]
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert scheme["type"] == "http" or scheme.get("in") == "header"


# --- Passwords --------------------------------------------------------------------------------------------

def _problems(password: str, user=None) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return [e.code for e in exc.error_list]
    return []


def test_derm3derm3x_and_other_weak_passwords_are_refused():
    assert "password_repetitive" in _problems("derm3derm3x") and "password_too_short" in _problems("derm3derm3x")
    assert _problems("derm3derm3xy") == ["password_repetitive"]  # long enough: only the repetition refuses it
    assert _problems("abcabcabcabcabc") == ["password_repetitive"]
    assert "password_entirely_numeric" in _problems("382910475610")
    assert "password_too_common" in _problems("password1234")
    assert "password_too_short" in _problems("Xq7#mz!pR2")  # 10 characters: the minimum is 12 now


@pytest.mark.django_db
def test_a_password_like_the_username_is_refused():
    user = get_user_model()(username="dermatologist", email="derm@clinic.example")
    assert "password_too_similar" in _problems("dermatologist1", user)


def test_good_passwords_pass():
    for password in ("correct horse battery", "Tr0ub4dor&3-staple", "hello world, 2026"):
        assert _problems(password) == [], password
    assert distinct_length("correct horse battery") == 21


def test_the_repetition_check_costs_little_on_a_huge_input():
    assert distinct_length("x" * 1_000_000) == 2
    assert distinct_length(secrets.token_hex(500_000)) > 100


@pytest.mark.django_db
def test_password_forms_apply_the_validators(dermatologist):
    form = SetPasswordForm(dermatologist, {"new_password1": "derm3derm3xy", "new_password2": "derm3derm3xy"})
    assert not form.is_valid() and "repeats itself" in str(form.errors)


@pytest.mark.django_db
def test_seed_demo_creates_passwords_that_pass_the_validators():
    from annotations.management.commands.seed_demo import DEMO_DATASET
    from annotations.models import Dataset

    Dataset.objects.create(name=DEMO_DATASET, source="demo")  # the accounts are what is checked here
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    passwords = dict(re.findall(r"account '(\w+)' \(\w+\): password (\S+)", out.getvalue()))
    assert set(passwords) == {"dermatologist", "admin"}
    for username, password in passwords.items():
        user = get_user_model().objects.get(username=username)
        validate_password(password, user)
        assert user.check_password(password)
    for _ in range(2000):  # the generator seed_demo uses, many times over
        assert _problems(secrets.token_urlsafe(12)) == []



@pytest.mark.django_db
def test_seed_demo_again_keeps_the_roles_an_admin_changed():
    # bin/run seeds on every start: a demo account an admin demoted must not get its role back by a restart.
    from annotations.management.commands.seed_demo import DEMO_DATASET
    from annotations.models import Dataset
    from webapp.roles import ADMIN, DERMATOLOGIST, grant_role, has_role, revoke_role

    Dataset.objects.create(name=DEMO_DATASET, source="demo")
    call_command("seed_demo", stdout=io.StringIO())
    derm = get_user_model().objects.get(username="dermatologist")
    revoke_role(derm, DERMATOLOGIST)
    grant_role(derm, ADMIN)
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", "--reset-passwords", stdout=io.StringIO())
    derm = get_user_model().objects.get(pk=derm.pk)
    assert has_role(derm, ADMIN) and not has_role(derm, DERMATOLOGIST)


# --- Secret key guard -----------------------------------------------------------------------------------------

def _start(key: str | None, debug: bool = False, command: tuple[str, ...] = ("-c", "import django; django.setup()"),
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Starts Django with the production settings and ``key`` as DJANGO_SECRET_KEY (None: unset)."""
    env = {**{k: v for k, v in os.environ.items()
              if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG") and not k.startswith("SKINFLOW_LOGIN_")
              and k != "SKINFLOW_TOKEN_HOURS"}, **(env or {})}
    env["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    if key is not None:
        env["DJANGO_SECRET_KEY"] = key
    if debug:
        env["DJANGO_DEBUG"] = "1"
    return subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("key, message", [
    ("", "DJANGO_SECRET_KEY is empty"),
    ("   ", "DJANGO_SECRET_KEY is empty"),
    ("x", "it has 1 characters (1 different)"),
    ("a" * 64, "it has 64 characters (1 different)"),
    (secrets.token_urlsafe(36), "it needs at least 50 characters"),  # 48 characters
    ("django-insecure-" + secrets.token_urlsafe(50), "no 'django-insecure-' prefix"),
])
def test_the_start_refuses_empty_and_weak_keys_and_says_how_to_make_one(key, message):
    proc = _start(key)
    assert proc.returncode != 0
    assert message in proc.stderr and "secrets.token_urlsafe(50)" in proc.stderr


def test_throttle_and_token_settings_come_from_the_environment():
    show = ("-c", "import django; django.setup(); from django.conf import settings as s; "
                  "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME, s.REST_KNOX['TOKEN_TTL'])")
    key = secrets.token_urlsafe(50)
    proc = _start(key, command=show, env={"SKINFLOW_LOGIN_FAILURE_LIMIT": "7", "SKINFLOW_LOGIN_COOLOFF_MINUTES": "30",
                                         "SKINFLOW_TOKEN_HOURS": "2"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[-2] == "7 0:30:00 2:00:00"
    forever = _start(key, command=show, env={"SKINFLOW_LOGIN_COOLOFF_MINUTES": "0"})
    assert forever.stdout.split("\n")[-2] == "5 None 12:00:00"
    zero = _start(key, env={"SKINFLOW_LOGIN_FAILURE_LIMIT": "0"})
    assert zero.returncode != 0 and "SKINFLOW_LOGIN_FAILURE_LIMIT must be 1 or more" in zero.stderr


def test_manage_py_check_refuses_a_short_key():
    proc = _start("short", command=("manage.py", "check"))
    assert proc.returncode != 0 and "DJANGO_SECRET_KEY is too weak" in proc.stderr


def test_a_good_key_starts_and_debug_still_allows_the_development_default():
    assert _start(secrets.token_urlsafe(50)).returncode == 0
    assert _start(None, debug=True).returncode == 0
    empty_in_debug = _start("", debug=True)  # an empty key breaks every request even in development
    assert empty_in_debug.returncode != 0 and "DJANGO_SECRET_KEY is empty" in empty_in_debug.stderr
