"""The "Test connection" button: one real chat-completions call to a role's effective endpoint.

The call goes through ``webapp.llm.LLMGateway`` like every drafting or judging call: the same egress policy
before the request and on the connection (webapp/egress.py), the same key lookup and error texts. It differs
only where a test must: no response cache (a cached answer would prove nothing), no retries, and a deadline of
``TEST_TIMEOUT_S`` at most, so the page answers within about 20 s whatever the endpoint does. The call is
written to the LLM call log (purpose ``connection-test:<role>``).

It runs in the web server's process: a key variable set only in the workers' environment shows up here as
missing, and the result says so.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from webapp import egress
from webapp.gateway import CallRecorder, EffectiveEndpoint, effective_endpoints
from webapp.llm import LLMError, LLMGateway, user_message

TEST_TIMEOUT_S = 20.0
REPLY_SHOWN = 500  # characters of the model's reply shown on the page
PROMPT = ("This is a connection test from SkinFlow Studio. Reply with one short sentence that names "
          "the model you are.")

# What a failed test means and what to do, by the gateway's reason (webapp.llm.LLMError.reason).
ADVICE = {
    "connection": "Nothing answered at the base URL. Check the host and port, that the server is running, and "
                  "that the web server can reach it (a firewall, or a container network name used from outside).",
    "timeout": f"The server accepted the connection but gave no reply within {TEST_TIMEOUT_S:g} s. It may be "
               "loading the model or be overloaded; try again in a minute, or check its logs.",
    "egress_refused": "SkinFlow refused to send the request (webapp/egress.py). A server on your own network "
                      "must be listed in SKINFLOW_ALLOWED_ENDPOINT_HOSTS; a key variable may go only to the "
                      "hosts SKINFLOW_KEY_ENV_HOSTS ties it to.",
    "missing_api_key": "The key variable this endpoint names is not set in the web server's environment. Set it "
                       "for the web and worker processes and restart them, or clear the key variable for a "
                       "server that needs no key.",
    "key_env_not_allowed": "The key variable's name is not one an API key may be read from; name a variable "
                           "ending in _API_KEY or _API_TOKEN.",
    "auth": "The server refused the key (HTTP 401/403): check the key in the named variable and its permissions.",
    "not_found": "HTTP 404: the base URL usually ends in /v1, and the model name must be one the server serves "
                 "(vLLM: the --served-model-name).",
    "bad_request": "The server rejected the request: the model name may be wrong, or the model may not accept a "
                   "temperature setting.",
    "rate_limited": "HTTP 429: the provider's quota or rate limit was hit; wait, or raise the quota.",
    "empty_reply": "The server answered without text; check the model's chat template.",
}
SERVER_ERROR = "The server answered with an error (HTTP 5xx); its logs say why."
OTHER = "Check the endpoint's settings for this role."


@dataclass(frozen=True)
class ConnectionTest:
    """The outcome of one test call, as the page and the API show it."""

    role: str
    ok: bool
    base_url: str
    model: str
    source: str
    latency_ms: int
    reply: str = ""
    reply_model: str = ""
    reason: str = ""
    status: int | None = None
    error: str = ""
    advice: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PROBE_TIMEOUT_S = 3.0


def _connection_detail(base_url: str, key_env: str) -> str:
    """What the operating system said about connecting, for a failed call whose reason is ``connection``.

    The HTTP client's own words ("All connection attempts failed") hide whether the port was closed, the host
    unreachable or the name unknown, which is what the admin has to fix. So the addresses are resolved and
    checked by the same egress policy as the call's, and a bare TCP connection is tried to each (no request,
    no key): its error is the exact one."""
    try:
        target = egress.parse_url(base_url)
        addresses = egress.configured_policy().connect_addresses(target.host, target.port, key_env)
    except egress.EgressError as exc:
        return str(exc)
    errors = []
    for address in addresses[:3]:
        try:
            with socket.create_connection((address, target.port), timeout=PROBE_TIMEOUT_S):
                return (f"{address} port {target.port} accepts TCP connections, so the failure came after connecting "
                        "(TLS, or the server closed the connection): check http vs https and the server's logs")
        except OSError as exc:
            errors.append(f"{address} port {target.port}: {exc.strerror or exc}")
    return "; ".join(errors)


def _advice(reason: str) -> str:
    if reason.startswith("http_5"):
        return SERVER_ERROR
    return ADVICE.get(reason, OTHER)


def run_connection_test(role: str, effective: EffectiveEndpoint | None = None) -> ConnectionTest:
    """Call ``role``'s effective endpoint once and report the reply and latency, or the exact error."""
    effective = effective or effective_endpoints()[role]
    config = dataclasses.replace(effective.config, timeout_s=min(effective.config.timeout_s, TEST_TIMEOUT_S),
                                 max_retries=0, max_concurrency=1, requests_per_minute=0)
    recorder = CallRecorder(purpose=f"connection-test:{role}")
    gateway = LLMGateway({role: config}, cache=None, on_call=recorder)
    base = {"role": role, "base_url": config.base_url, "model": config.model, "source": effective.source}
    started = time.perf_counter()
    try:
        result = gateway.chat(role, [user_message(PROMPT)], use_cache=False)
    except LLMError as exc:
        latency_ms = round((time.perf_counter() - started) * 1000)
        advice = _advice(exc.reason)
        if exc.reason == "missing_api_key" and config.api_key_env:
            advice = f"{config.api_key_env} is not set in the web server's environment. " + advice
        error = str(exc)
        if exc.reason == "connection":
            error += f" Connecting by hand: {_connection_detail(config.base_url, config.api_key_env)}."
        return ConnectionTest(**base, ok=False, latency_ms=latency_ms, reason=exc.reason, status=exc.status,
                              error=error, advice=advice)
    finally:
        gateway.close()
        recorder.flush()
    reply = " ".join(result.text.split())
    if len(reply) > REPLY_SHOWN:
        reply = reply[: REPLY_SHOWN - 1] + "…"
    return ConnectionTest(**base, ok=True, latency_ms=round(result.latency_s * 1000), reply=reply,
                          reply_model=result.model)


def key_is_set(name: str) -> bool | None:
    """Whether the key variable ``name`` is set in this (the web server's) process; None when none is named."""
    return bool(os.environ.get(name, "").strip()) if name else None
