"""The Django side of the LLM gateway: endpoint configuration from settings, environment and the
database, and a recorder that stores each call's tokens and latency."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from django.conf import settings

from webapp.llm import ROLES, CallRecord, EndpointConfig, LLMGateway, SQLiteCache


ROW = "row"
VARIABLE = "variable"
DEFAULT = "default"


@dataclass(frozen=True)
class EffectiveEndpoint:
    """The endpoint a role's calls go to, and where each of its values comes from (the endpoints page shows
    this: an admin who edits a variable while an enabled row exists would otherwise wonder why nothing moved).

    ``source`` is ``row`` (an enabled LLMEndpoint row wins), ``variable`` (at least one SKINFLOW_* variable
    is set for it) or ``default``; ``fields`` names, per value, the row, the variable it was read from, or
    ``default``. ``row_id``/``row_enabled`` describe the role's row, if there is one (a disabled row is kept
    but not used)."""

    config: EndpointConfig
    source: str
    fields: dict[str, str]
    row_id: int | None = None
    row_enabled: bool | None = None


def _from_variables(role: str) -> tuple[EndpointConfig, dict[str, str]]:
    prefix = f"SKINFLOW_{role.upper()}_"
    values: dict[str, str] = {}
    fields: dict[str, str] = {}
    for field, suffix, default in (("base_url", "BASE_URL", settings.SKINFLOW_LLM_BASE_URL),
                                   ("model", "MODEL", settings.SKINFLOW_LLM_MODEL),
                                   ("api_key_env", "API_KEY_ENV", settings.SKINFLOW_LLM_API_KEY_ENV)):
        if prefix + suffix in os.environ:
            values[field], fields[field] = os.environ[prefix + suffix], prefix + suffix
        else:
            values[field] = default
            fields[field] = f"SKINFLOW_LLM_{suffix}" if f"SKINFLOW_LLM_{suffix}" in os.environ else DEFAULT
    return EndpointConfig(role=role, **values), fields


def effective_endpoints() -> dict[str, EffectiveEndpoint]:
    """Per role: its enabled database row, else the per-role variables, else the global ones (or defaults)."""
    from webapp.models import LLMEndpoint

    rows = {row.role: row for row in LLMEndpoint.objects.all()}
    out: dict[str, EffectiveEndpoint] = {}
    for role in ROLES:
        row = rows.get(role)
        if row is not None and row.enabled:
            out[role] = EffectiveEndpoint(row.to_config(), ROW, dict.fromkeys(("base_url", "model", "api_key_env"), ROW),
                                          row.pk, True)
            continue
        config, fields = _from_variables(role)
        source = VARIABLE if any(where != DEFAULT for where in fields.values()) else DEFAULT
        out[role] = EffectiveEndpoint(config, source, fields, row.pk if row else None, False if row else None)
    return out


def endpoint_configs() -> dict[str, EndpointConfig]:
    """One config per role: database row if enabled, else per-role env vars, else the global defaults."""
    return {role: effective.config for role, effective in effective_endpoints().items()}


class CallRecorder:
    """Buffers CallRecords from the gateway's thread; ``flush`` writes them from the caller's thread
    (Django connections are per thread, and tests run inside a transaction)."""

    def __init__(self, purpose: str = "") -> None:
        self.purpose = purpose
        self._lock = threading.Lock()
        self._pending: list[CallRecord] = []

    def __call__(self, record: CallRecord) -> None:
        with self._lock:
            self._pending.append(record)

    def flush(self) -> int:
        from webapp.models import LLMCall

        with self._lock:
            pending, self._pending = self._pending, []
        LLMCall.objects.bulk_create(
            LLMCall(
                role=r.role, model=r.model, purpose=self.purpose, cache_key=r.cache_key,
                prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                latency_ms=round(r.latency_s * 1000), cached=r.cached, attempts=r.attempts, ok=r.ok,
                error=r.error or "",
            )
            for r in pending
        )
        return len(pending)


def build_gateway(recorder: CallRecorder | None = None) -> LLMGateway:
    """A gateway configured for every role, with the shared on-disk response cache."""
    cache = SQLiteCache(settings.SKINFLOW_LLM_CACHE) if settings.SKINFLOW_LLM_CACHE else None
    return LLMGateway(endpoint_configs(), cache=cache, on_call=recorder)


_shared_lock = threading.Lock()
_shared: tuple[tuple, LLMGateway] | None = None


def shared_gateway() -> LLMGateway:
    """One gateway per process (worker threads share its connections and limits), rebuilt when an admin
    changes an endpoint. Calls are recorded by the callers' own CallRecorders through ``record_calls``."""
    global _shared
    configs = endpoint_configs()
    fingerprint = (tuple(sorted(configs.items())), settings.SKINFLOW_LLM_CACHE)
    with _shared_lock:
        if _shared is None or _shared[0] != fingerprint:
            # The old gateway is not closed here: other threads may be mid-call on it. It stops its loop
            # thread by itself once the last of them lets go of it.
            _shared = (fingerprint, build_gateway(_dispatch_record))
        return _shared[1]


_recorders = threading.local()


def _dispatch_record(record: CallRecord) -> None:
    recorder = getattr(_recorders, "current", None)
    if recorder is not None:
        recorder(record)


class record_calls:  # noqa: N801 - used as a context manager, reads like a function
    """Within this block, calls this thread makes through the shared gateway go to ``recorder``."""

    def __init__(self, recorder: CallRecorder) -> None:
        self.recorder = recorder

    def __enter__(self) -> CallRecorder:
        self._previous = getattr(_recorders, "current", None)
        _recorders.current = self.recorder
        return self.recorder

    def __exit__(self, *exc: object) -> None:
        _recorders.current = self._previous
