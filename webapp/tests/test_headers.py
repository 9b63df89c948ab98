"""Issue 12, part 4: the headers every response carries, and what dermatologists are not shown.

- Every page, image and API route (the crawl of ``test_crawl``, for each role) carries the Content-Security-Policy
  and ``Cache-Control: no-store``; images are no longer cached for a day.
- No page holds code the policy would refuse: inline scripts without the nonce, inline event handlers, style
  attributes (the browser tests prove the pages work under it; this proves every crawled page is clean).
- ``manage.py check --deploy`` is clean with DJANGO_HTTPS=1; plain HTTP is redirected except /healthz.
- Endpoint URLs, key-variable names and internal addresses in error texts reach admins only, on every surface.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client, RequestFactory

from annotations.models import CaptionDraft, CaptionRevision, Sample, SampleEvent
from evaluation.models import AttentionAnalysis, EvalRun
from webapp.redact import ADDRESS, KEY_NAME, error_for, public_error
from webapp.security_headers import NO_STORE, SVG_POLICY, SecurityHeadersMiddleware
from webapp.tests.awkward_data import seed_awkward_data
from webapp.tests.test_crawl import _api_get_routes, _crawl, _page_routes

ROOT = Path(__file__).resolve().parents[2]
# "superuser" is staff too: the crawl then walks the Django admin as well.
ROLES = ("anonymous", "no_role_user", "dermatologist", "admin_user", "superuser")


class RecordingClient(Client):
    """A test client that keeps every (path, response) it got, for the crawler to fill."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, object]] = []

    def request(self, **request):
        response = super().request(**request)
        self.seen.append((request.get("PATH_INFO", "?"), response))
        return response


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


class _InlineCode(HTMLParser):
    """Finds what a CSP without 'unsafe-inline' refuses: inline <script>/<style> without the page's nonce,
    on* event-handler attributes, style="" attributes and javascript: links."""

    def __init__(self, nonce: str | None) -> None:
        super().__init__()
        self.nonce, self.problems = nonce, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> (inline event handler)")
            if name == "style":
                self.problems.append(f"<{tag} style={value!r}> (style attribute)")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:...>")
        data_only = tag == "script" and (a.get("type") or "").lower() in ("application/json", "application/ld+json")
        if tag in ("script", "style") and "src" not in a and not data_only:
            if self.nonce is None or a.get("nonce") != self.nonce:
                self.problems.append(f"inline <{tag}> without the response's nonce")


@pytest.fixture
def awkward(db, dermatologist):
    return seed_awkward_data(author=dermatologist)


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_crawled_response_carries_the_csp_and_no_store_and_no_page_holds_inline_code(
        request, role, awkward, admin_user, settings):
    settings.SKINFLOW_TRAINING_DIR = str(settings.MEDIA_ROOT.parent / "training")
    admin = Client()
    admin.force_login(admin_user)
    client = RecordingClient()
    if role == "superuser":
        from django.contrib.auth import get_user_model

        client.force_login(get_user_model().objects.create_superuser("root", "root@example.org", "x" * 20))
    elif role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    extra = ["/admin/"] if role == "superuser" else []
    _crawl(client, extra + _page_routes(awkward) + _api_get_routes(admin, awkward))
    assert len(client.seen) > 30, "the crawl reached too few URLs to prove anything"
    kinds = set()
    problems = []
    for path, response in client.seen:
        kinds.add(response.get("Content-Type", "").split(";")[0])
        csp = response.get("Content-Security-Policy")
        if not csp:
            problems.append(f"{path}: no Content-Security-Policy")
            continue
        if response.get("Cache-Control") != NO_STORE:
            problems.append(f"{path}: Cache-Control is {response.get('Cache-Control')!r}")
        if response.get("Content-Type", "").startswith("image/svg+xml"):
            # plots style themselves inline; their own policy allows that and nothing else
            if csp != SVG_POLICY or "'none'" not in _directives(csp)["default-src"]:
                problems.append(f"{path}: SVG policy is {csp!r}")
            continue
        d = _directives(csp)
        script = d.get("script-src", [])
        if "'self'" not in script or "'unsafe-inline'" in script or "'unsafe-eval'" in script:
            problems.append(f"{path}: script-src is {script}")
        for name, want in (("default-src", "'self'"), ("frame-ancestors", "'none'"), ("form-action", "'self'"),
                           ("base-uri", "'none'"), ("object-src", "'none'")):
            if d.get(name) != [want]:
                problems.append(f"{path}: {name} is {d.get(name)}, want {want}")
        if "'unsafe-inline'" in d.get("style-src", []):
            problems.append(f"{path}: style-src allows 'unsafe-inline'")
        if response.get("Content-Type", "").startswith("text/html") and not getattr(response, "streaming", False):
            nonce = next((w[len("'nonce-"):-1] for w in script if w.startswith("'nonce-")), None)
            parser = _InlineCode(nonce)
            parser.feed(response.content.decode("utf-8", "replace"))
            problems += [f"{path}: {p}" for p in parser.problems]
    assert not problems, "\n".join(problems[:40])
    if role == "superuser":
        assert sum(path.startswith("/admin/") for path, _ in client.seen) > 5, "the admin was not crawled"
    if role in ("dermatologist", "admin_user", "superuser"):
        # the crawl covered pages, JSON and the patient images themselves
        assert {"text/html", "application/json", "image/jpeg", "image/svg+xml"} <= kinds, kinds


@pytest.mark.django_db
def test_a_sample_image_is_never_cached(derm_client, awkward):
    sample = next(s for s in awkward.samples if s.image)
    response = derm_client.get(f"/samples/{sample.pk}/image/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    assert "max-age" not in response["Cache-Control"]


def test_static_files_stay_cacheable_and_a_view_cannot_opt_out_of_no_store():
    from django.http import HttpResponse

    def view(request):
        response = HttpResponse("x")
        response["Cache-Control"] = "public, max-age=86400"
        return response

    rf = RequestFactory()
    assert SecurityHeadersMiddleware(view)(rf.get("/samples/1/image/"))["Cache-Control"] == NO_STORE
    assert SecurityHeadersMiddleware(view)(rf.get("/static/webapp/style.css"))["Cache-Control"] == "public, max-age=86400"


def test_one_middleware_sets_the_security_headers_and_the_file_view_leaves_them_to_it(settings, tmp_path):
    from annotations.files import protected_file

    assert "webapp.security_headers.SecurityHeadersMiddleware" in settings.MIDDLEWARE
    settings.MEDIA_ROOT = str(tmp_path)
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    response = protected_file("a.jpg", "image/jpeg")
    response.file_to_stream.close()  # response.close() would fire request_finished (a database touch)
    assert "Cache-Control" not in response  # set once, by the middleware, for every response but static files


@pytest.mark.django_db
def test_swagger_ui_runs_its_inline_start_up_script_under_the_nonce(derm_client):
    response = derm_client.get("/api/docs/")
    assert response.status_code == 200
    nonces = re.findall(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert len(set(nonces)) == 1, response["Content-Security-Policy"]
    html = response.content.decode()
    assert html.count(f'nonce="{nonces[0]}"') == 2  # the <style> and the start-up <script>
    assert "SwaggerUIBundle(" in html


@pytest.mark.django_db
def test_each_response_gets_its_own_nonce(derm_client):
    first, second = (derm_client.get("/api/docs/")["Content-Security-Policy"] for _ in range(2))
    assert re.search(r"'nonce-[^']+'", first) and first != second


@pytest.mark.django_db
def test_a_page_without_inline_code_sends_no_nonce(derm_client):
    # django-csp adds the nonce only to responses that used it: the policy of an ordinary page is fixed.
    assert "nonce" not in derm_client.get("/")["Content-Security-Policy"]


def _deploy_check_env(tmp_path, **extra) -> dict[str, str]:
    import secrets

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SKINFLOW_"))}
    env.update(DJANGO_SETTINGS_MODULE="webapp.settings", DJANGO_HTTPS="1", SKINFLOW_DATA_DIR=str(tmp_path),
               DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="skinflow.example.org")
    env.update(extra)
    return env


def test_manage_py_check_deploy_is_clean_with_https(tmp_path):
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=_deploy_check_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_still_catches_plain_http(tmp_path):
    # the test above is only worth something if the check fails where it should
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=_deploy_check_env(tmp_path, DJANGO_HTTPS="0"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout  # SECURE_SSL_REDIRECT


def test_https_settings_when_django_https_is_on(tmp_path):
    code = ("from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
            "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.X_FRAME_OPTIONS, s.SECURE_REFERRER_POLICY, s.SECURE_CROSS_ORIGIN_OPENER_POLICY)")
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT,
                            env=_deploy_check_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["True", "31536000", "True", "False", "True", "True", "DENY", "same-origin",
                                     "same-origin"], result.stderr


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_but_healthz_answers(settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200
    # behind the proxy the same request counts as HTTPS
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert Client().get("/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200


# --- redaction --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "LLM call for role 'drafter' (model 'm' at http://10.0.0.5:8009/v1) failed: connection refused",
    "Server error '503' for url 'https://vllm.internal.clinic/v1/chat/completions'",
    "could not reach redis:6379",
    "timed out talking to localhost:8009",
    "metadata at 169.254.169.254 answered",
    "refused [::1]:8000",
    "refused fe80::1%eth0",
    "aimed at 0x7f000001",
    "ray://10.1.2.3:10001 is down",
    "error at 2130706433",
    "refused 0177.0.0.1:6379",
])
def test_public_error_removes_every_address_form(text):
    shown = public_error(text)
    assert ADDRESS in shown
    for leak in ("10.0.0.5", "8009", "vllm", "redis", "6379", "localhost", "169.254", "::1", "fe80", "0x7f", "10.1.2.3"):
        assert leak not in shown, (text, shown)


def test_public_error_keeps_the_words_that_say_what_went_wrong():
    assert public_error("set OPENAI_API_KEY on the worker") == f"set {KEY_NAME} on the worker"
    kept = "the diagnoser's answer was malformed at 12:30:45; top-3 was 0.5, verl.parquet line 3"
    assert public_error(kept) == kept
    assert public_error("") == "" and public_error(None) == ""
    assert error_for("http://10.0.0.5/v1", is_admin=True) == "http://10.0.0.5/v1"


@pytest.mark.parametrize("text,shown", [
    # A whole IPv4 address as one number, as resolvers read it: decimal (2130706433 = 127.0.0.1) and hex.
    ("error at 2130706433", f"error at {ADDRESS}"),
    ("error at 2130706433.", f"error at {ADDRESS}."),
    ("connecting to 167772165:6379 failed", f"connecting to {ADDRESS} failed"),  # 10.0.0.5 with a port
    ("metadata at 2852039166 answered", f"metadata at {ADDRESS} answered"),  # 169.254.169.254
    ("aimed at 0x7f000001", f"aimed at {ADDRESS}"),
    ("aimed at 0X0A000005:8000", f"aimed at {ADDRESS}"),
    ("aimed at 0x7f00001", f"aimed at {ADDRESS}"),  # 7 hex digits: 7.240.0.1
    ("refused 0x7f.0.0.1", f"refused {ADDRESS}"),
    ("16777216 is the smallest, 4294967295 the largest", f"{ADDRESS} is the smallest, {ADDRESS} the largest"),
    # Ordinary numbers stay: counts, codes, record numbers, times, sizes, and numbers outside 2**24..2**32.
    ("3 of 12 failed", None),
    ("HTTP 500 from the judge", None),
    ("MRN 123456 and 1234567", None),
    ("sample 12345678 failed", None),  # 8 digits but below 2**24: would be 0.188.97.78
    ("16777215 and 4294967296", None),
    ("Image size (178956970 pixels) exceeds limit of 89478485 pixels", None),  # Pillow's bomb message
    ("file of 52428800 bytes", None),
    ("retry at 12:30:45", None),
    ("<object at 0x7f3a2c1b4e50>", None),  # a 64-bit pointer is no IPv4 address
    ("0x00ffffff", None),
    ("run_2130706433 and 2130706433x", None),
])
def test_public_error_removes_integer_addresses_and_keeps_ordinary_numbers(text, shown):
    assert public_error(text) == (text if shown is None else shown)


SECRET_ERROR = "LLM call for role 'judge' (model 'm' at http://10.9.8.7:8009/v1) failed; key OPENAI_API_KEY"
LEAKS = ("10.9.8.7", "OPENAI_API_KEY", "8009")


def _leaks(text: str) -> list[str]:
    return [leak for leak in LEAKS if leak in text]


@pytest.fixture
def errors(awkward):
    """Every stored error a dermatologist can be shown, holding an internal URL and a key name."""
    sample = next(s for s in awkward.samples if s.state == Sample.State.NEEDS_EXPERT and s.image)
    Sample.objects.filter(pk=sample.pk).update(last_error=SECRET_ERROR)
    CaptionDraft.objects.filter(sample=sample).update(caption_error=SECRET_ERROR, consistent=False)
    CaptionRevision.objects.filter(sample=sample).update(check_error=SECRET_ERROR)
    run = EvalRun.objects.get(pk=awkward.ids["eval_run"][0])
    EvalRun.objects.filter(pk=run.pk).update(error=SECRET_ERROR, base_url="http://10.9.8.7:8009/v1",
                                             api_key_env="OPENAI_API_KEY")
    item = run.items.order_by("id").first()
    type(item).objects.filter(pk=item.pk).update(inferred=True, parse_ok=False, parse_error=SECRET_ERROR)
    AttentionAnalysis.objects.create(name="attn", checkpoint="/ckpt", status=AttentionAnalysis.Status.FAILED,
                                     error=SECRET_ERROR)
    # The sample's history keeps the LLM's error in each event's detail (nested in the review API's answer).
    Event = SampleEvent.Kind
    for kind, detail in ((Event.DRAFT_FAILED, {"run": 1, "attempts": 3, "error": SECRET_ERROR}),
                         (Event.DRAFTED, {"run": 1, "attempt": 1, "consistent": False, "error": SECRET_ERROR}),
                         (Event.CHECK_FAILED, {"version": 1, "error": SECRET_ERROR})):
        SampleEvent.objects.create(sample=sample, kind=kind, detail=detail)
    return {"sample": sample.pk, "run": run.pk, "item": item.pk, "dataset": awkward.dataset.pk}


def _surfaces(ids: dict[str, int]) -> dict[str, str]:
    return {
        "review page": f"/review/samples/{ids['sample']}/",
        "review API": f"/api/review/samples/{ids['sample']}/",
        "sample list": f"/datasets/{ids['dataset']}/samples/?state=needs_expert",
        "eval run page": f"/evaluation/runs/{ids['run']}/",
        "eval run API": f"/api/eval-runs/{ids['run']}/",
        "eval run list API": "/api/eval-runs/",
        "eval progress API": f"/api/eval-runs/{ids['run']}/progress/",
        "eval progress page JSON": f"/evaluation/runs/{ids['run']}/progress.json",
        "eval item page": f"/evaluation/items/{ids['item']}/",
        "attention page": "/evaluation/attention/",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("surface", list(_surfaces({"sample": 0, "run": 0, "item": 0, "dataset": 0})))
def test_dermatologists_see_no_internal_address_or_key_name_in_errors(surface, errors, dermatologist, admin_user):
    dermatologist_client, admin_client_role = _logged_in(dermatologist), _logged_in(admin_user)
    url = _surfaces(errors)[surface]
    derm = dermatologist_client.get(url, HTTP_ACCEPT="application/json" if "API" in surface else "text/html")
    assert derm.status_code == 200, (url, derm.status_code)
    body = derm.content.decode()
    assert not _leaks(body), f"{surface} shows {_leaks(body)} to a dermatologist"
    assert ADDRESS in body, f"{surface} does not show the (redacted) error at all"
    # the admin, who has to fix the endpoint, still reads the whole text
    admin = admin_client_role.get(url, HTTP_ACCEPT="application/json" if "API" in surface else "text/html")
    assert "10.9.8.7" in admin.content.decode(), surface


@pytest.mark.django_db
def test_event_details_in_the_review_api_carry_no_internal_address_for_dermatologists(errors, dermatologist,
                                                                                       admin_user):
    url = f"/api/review/samples/{errors['sample']}/"
    failed = ("draft_failed", "drafted", "check_failed")
    derm = [e for e in _logged_in(dermatologist).get(url).json()["events"] if e["kind"] in failed]
    assert sorted(e["kind"] for e in derm) == sorted(failed)
    for event in derm:
        assert not _leaks(event["detail"]["error"]) and ADDRESS in event["detail"]["error"], event
        assert KEY_NAME in event["detail"]["error"]
    assert {e["kind"]: e["detail"].get("attempts") for e in derm}["draft_failed"] == 3  # the rest is untouched
    admin = [e for e in _logged_in(admin_user).get(url).json()["events"] if e["kind"] in failed]
    assert all(e["detail"]["error"] == SECRET_ERROR for e in admin)


def test_errors_in_an_event_detail_are_redacted_at_any_depth_and_nothing_else():
    from webapp.redact import errors_in

    detail = {"error": SECRET_ERROR, "note": "at 10.9.8.7 by hand", "calls": [{"check_error": SECRET_ERROR}]}
    shown = errors_in(detail, is_admin=False)
    assert not _leaks(shown["error"]) and not _leaks(shown["calls"][0]["check_error"])
    assert shown["note"] == detail["note"]  # a reviewer's own words are not an error text
    assert errors_in(detail, is_admin=True) is detail


# --- configured hosts and key names (redaction finding 8) ----------------------------------------------------

def test_bare_hosts_and_other_key_names_are_removed_when_given_and_setting_names_stay():
    text = ("Cannot resolve the host 'llm.internal' (Name or service not known); requests to gpu-box.lan refused; "
            "MY_LLM_CRED is unset; add it to SKINFLOW_KEY_ENV_HOSTS or SKINFLOW_ALLOWED_ENDPOINT_HOSTS")
    shown = public_error(text, hosts={"gpu-box.lan"}, key_names={"MY_LLM_CRED"})
    for leak in ("llm.internal", "gpu-box", "MY_LLM_CRED"):
        assert leak not in shown, shown
    assert "SKINFLOW_KEY_ENV_HOSTS" in shown and "SKINFLOW_ALLOWED_ENDPOINT_HOSTS" in shown
    assert public_error("Failed to resolve \"vllm\"") == f"Failed to resolve \"{ADDRESS}\""
    # a SKINFLOW_ name that holds a secret itself is still a key variable
    assert public_error("SKINFLOW_JUDGE_API_TOKEN is empty") == f"{KEY_NAME} is empty"
    # one-label hosts match as written: "LLM call" keeps its subject when the host is called "llm"
    assert public_error("LLM call to llm failed", hosts={"llm"}) == f"LLM call to {ADDRESS} failed"
    assert public_error("vllm-proxy answered", hosts={"vllm"}) == "vllm-proxy answered"


@pytest.mark.django_db
def test_error_for_removes_the_hosts_and_key_names_this_installation_is_configured_with(settings, monkeypatch):
    from webapp import redact
    from webapp.models import LLMEndpoint

    monkeypatch.setenv("SKINFLOW_JUDGE_BASE_URL", "http://judge-host.corp/v1")
    monkeypatch.setenv("SKINFLOW_JUDGE_API_KEY_ENV", "JUDGE_CRED")
    settings.SKINFLOW_ALLOWED_ENDPOINT_HOSTS = "llm.internal:8000,10.0.0.0/8"
    LLMEndpoint.objects.create(role="drafter", base_url="http://drafter-box.lan:8000/v1", model="m",
                               api_key_env="MY_LLM_CRED")
    redact.clear_names_cache()  # the environment changed under a cache another test may have filled
    text = ("Cannot reach drafter-box.lan; llm.internal refused; judge-host.corp timed out; "
            "MY_LLM_CRED and JUDGE_CRED are unset; see SKINFLOW_KEY_ENV_HOSTS")
    shown = error_for(text, is_admin=False)
    for leak in ("drafter-box", "llm.internal", "judge-host", "MY_LLM_CRED", "JUDGE_CRED"):
        assert leak not in shown, shown
    assert "SKINFLOW_KEY_ENV_HOSTS" in shown and error_for(text, is_admin=True) == text
    # a saved endpoint is hidden at once, not after the cache's TTL
    LLMEndpoint.objects.create(role="judge", base_url="http://new-judge.lan/v1", model="m")
    assert "new-judge" not in error_for("new-judge.lan is down", is_admin=False)


@pytest.mark.django_db
def test_the_progress_error_is_redacted_in_one_place_with_the_runs_own_host(errors, dermatologist, admin_user):
    from evaluation import selectors

    run = EvalRun.objects.get(pk=errors["run"])
    EvalRun.objects.filter(pk=run.pk).update(error="Cannot resolve the eval box eval-box.lan",
                                             base_url="http://eval-box.lan/v1")
    run.refresh_from_db()
    assert "eval-box" not in selectors.progress(run)["error"]  # the safe side by default
    assert selectors.progress(run, is_admin=True)["error"] == run.error
    for user, whole in ((dermatologist, False), (admin_user, True)):
        client = _logged_in(user)
        for url in (f"/api/eval-runs/{run.pk}/progress/", f"/evaluation/runs/{run.pk}/progress.json"):
            assert ("eval-box.lan" in client.get(url).json()["error"]) is whole, (url, user)


@pytest.mark.django_db
def test_evaluation_run_endpoint_and_key_variable_are_for_admins_only(errors, dermatologist, admin_user):
    dermatologist_client, admin_client_role = _logged_in(dermatologist), _logged_in(admin_user)
    url = f"/api/eval-runs/{errors['run']}/"
    derm = dermatologist_client.get(url).json()
    assert "base_url" not in derm and "api_key_env" not in derm
    assert all("base_url" not in r and "api_key_env" not in r
               for r in dermatologist_client.get("/api/eval-runs/").json()["results"])
    admin = admin_client_role.get(url).json()
    assert admin["base_url"] == "http://10.9.8.7:8009/v1" and admin["api_key_env"] == "OPENAI_API_KEY"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/llm-endpoints/", "/api/llm-calls/", "/admin/webapp/llmendpoint/",
                                 "/admin/webapp/llmcall/"])
def test_llm_endpoint_rows_and_call_records_are_not_shown_to_dermatologists(url, awkward, derm_client):
    response = derm_client.get(url)
    assert response.status_code in (302, 403), (url, response.status_code)
    assert b"127.0.0.1:9" not in response.content


@pytest.mark.django_db
def test_failed_drafting_jobs_with_their_errors_are_for_admins_only(awkward, derm_client):
    assert derm_client.get(f"/review/runs/{awkward.ids['drafting_run'][0]}/").status_code in (403, 404)
