"""The LLM gateway: every LLM call of SkinFlow Studio goes through here (pure Python, no Django).

One OpenAI-compatible endpoint per role (drafter, structurer, diagnoser, judge,
scorer), called through the official ``openai`` client, with retries (429, 5xx,
timeouts, dropped connections), a concurrency cap and a requests-per-minute
limiter per endpoint, a content-addressed response cache, tolerant JSON
extraction, and one :class:`CallRecord` per call handed to ``on_call``.

Threading model
---------------
The gateway owns one background thread running one asyncio event loop. Every
asyncio object that is bound to a loop (the ``AsyncOpenAI`` clients and their
connection pools, the semaphores, the rate limiters, the in-flight table) lives
on that loop only, so:

* ``chat`` (sync) works from any thread - Django views, Celery worker threads,
  many threads at once - by submitting to the loop and blocking on the result;
* ``achat`` works from *any* running loop (pytest-asyncio, verl's async reward
  functions): from a foreign loop it awaits ``asyncio.wrap_future`` of the same
  submission, so connections and limits are shared by all callers;
* the concurrency cap and the RPM limit hold for the whole process, whichever
  mix of threads and loops calls.

A forked child (Celery prefork) notices that the loop thread did not survive
the fork and starts its own.

``on_call`` runs outside the gateway loop: in the caller's thread for ``chat``
and in a worker thread of the caller's loop for ``achat`` (awaited, so the
record is handed over before the call returns). A Django ``on_call`` may
therefore use the ORM without tripping its async-context check.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import mimetypes
import os
import random
import re
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import openai

try:  # openai >= 3 is built on httpx2; older releases on httpx.
    import httpx2 as _httpx
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx as _httpx  # type: ignore[no-redef]

from webapp import egress
from webapp.llm_cache import MemoryCache, ResponseCache, SQLiteCache, cache_key
from webapp.llm_json import JSONExtractionError, extract_json

__all__ = [
    "ROLES",
    "EndpointConfig",
    "LLMResult",
    "LLMError",
    "JSONExtractionError",
    "extract_json",
    "image_data_url",
    "user_message",
    "cache_key",
    "ResponseCache",
    "MemoryCache",
    "SQLiteCache",
    "CallRecord",
    "GatewayStats",
    "LLMGateway",
    "key_env_allowed",
    "KEY_ENV_RULE",
]

logger = logging.getLogger(__name__)

ROLES = ("drafter", "structurer", "diagnoser", "judge", "scorer")

PLACEHOLDER_API_KEY = "no-key-required"

# An endpoint's key is read from the environment variable it names, and sent to its base URL. Only
# variables meant to hold API keys may be named: never DATABASE_URL, DJANGO_SECRET_KEY or the like.
_KEY_ENV_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*_(API_KEY|API_TOKEN)$")
KEY_ENV_RULE = ("Name a variable ending in _API_KEY or _API_TOKEN (e.g. OPENAI_API_KEY), or list it in "
                "SKINFLOW_ALLOWED_KEY_ENVS.")


def key_env_allowed(name: str) -> bool:
    """Whether an endpoint may read its API key from the environment variable ``name``."""
    extra = {n.strip() for n in os.environ.get("SKINFLOW_ALLOWED_KEY_ENVS", "").split(",") if n.strip()}
    return bool(_KEY_ENV_PATTERN.match(name)) or name in extra

T = TypeVar("T")


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class EndpointConfig:
    role: str
    base_url: str  # OpenAI-compatible, e.g. "http://127.0.0.1:8009/v1"
    model: str
    api_key_env: str = ""  # the NAME of the environment variable holding the key ("" -> a placeholder key)
    temperature: float = 0.0
    max_concurrency: int = 8
    requests_per_minute: int = 0  # 0 = unlimited
    timeout_s: float = 60.0
    max_retries: int = 5

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency for role {self.role!r} must be >= 1, got {self.max_concurrency}")
        if self.requests_per_minute < 0:
            raise ValueError(f"requests_per_minute for role {self.role!r} must be >= 0 (0 = unlimited)")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s for role {self.role!r} must be > 0, got {self.timeout_s}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries for role {self.role!r} must be >= 0, got {self.max_retries}")


@dataclass(frozen=True)
class LLMResult:
    """One answered call.

    For a cache hit, ``cached`` is True, ``attempts`` is 0, ``latency_s`` is the
    lookup time, and the token counts are those of the original (paid) call.
    """

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool
    attempts: int
    cache_key: str


@dataclass(frozen=True)
class CallRecord:
    """What ``on_call`` receives for every call, answered or failed, cached or not."""

    role: str
    model: str
    cache_key: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool
    attempts: int
    ok: bool
    error: str


@dataclass(frozen=True)
class GatewayStats:
    """Counters since the gateway was created. Tokens count only paid (non-cached) calls."""

    http_requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LLMError(Exception):
    """An LLM call that did not produce a usable reply.

    ``reason`` is one of: ``timeout``, ``connection``, ``rate_limited``,
    ``http_<status>`` (5xx and other statuses), ``bad_request``, ``auth``,
    ``not_found``, ``empty_reply``, ``missing_api_key``, ``key_env_not_allowed``, ``unknown_role``,
    ``egress_refused`` (the endpoint's host or the key's destination is not allowed: webapp/egress.py).
    ``retryable`` says whether the condition is transient; when the gateway
    raises a retryable error it has already used up ``max_retries``.
    """

    def __init__(
        self,
        message: str,
        *,
        role: str = "",
        reason: str = "error",
        retryable: bool = False,
        status: int | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.role = role
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.attempts = attempts


# --------------------------------------------------------------------------- messages & images

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def _sniff_image_mime(data: bytes) -> str | None:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_data_url(image: bytes | str | os.PathLike, mime: str | None = None) -> str:
    """A base64 ``data:`` URL for an image given as bytes or a file path.

    A string that already is a ``data:`` URL is returned unchanged. The MIME
    type is taken from ``mime``, else from the bytes' magic number, else from
    the file extension.
    """
    if isinstance(image, str) and image.startswith("data:"):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        data, name = bytes(image), None
    else:
        path = Path(image)
        data, name = path.read_bytes(), path.name
    mime = mime or _sniff_image_mime(data) or (mimetypes.guess_type(name)[0] if name else None)
    if not mime:
        raise ValueError(
            "cannot tell the image type (not PNG/JPEG/GIF/WEBP/BMP by content"
            + (f", no known extension on {name!r}" if name else "")
            + "); pass mime='image/...'"
        )
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def user_message(text: str, images: Sequence[bytes | str | os.PathLike] = ()) -> dict:
    """An OpenAI chat ``user`` message; images (as data URLs) come before the text.

    Without images the content is a plain string, which every server accepts.
    """
    if not images:
        return {"role": "user", "content": text}
    parts: list[dict] = [{"type": "image_url", "image_url": {"url": image_data_url(img)}} for img in images]
    parts.append({"type": "text", "text": text})
    return {"role": "user", "content": parts}


# --------------------------------------------------------------------------- loop-bound helpers


class _RateLimiter:
    """Spaces request starts at least ``60 / rpm`` seconds apart.

    A token bucket that holds one token: over any stretch of time the endpoint
    sees at most ``rpm`` requests per minute, and they are spread evenly rather
    than burst at the start of each minute. It lives on the gateway loop only;
    reserving a slot involves no ``await``, so no lock is needed.
    """

    def __init__(self, requests_per_minute: int) -> None:
        self.interval = 60.0 / requests_per_minute if requests_per_minute > 0 else 0.0
        self._next_start = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class _EndpointRuntime:
    """The loop-bound objects of one endpoint: its client, concurrency cap and RPM limiter."""

    def __init__(self, config: EndpointConfig, client: openai.AsyncOpenAI) -> None:
        self.config = config
        self.client = client
        self.semaphore = asyncio.Semaphore(config.max_concurrency)
        self.limiter = _RateLimiter(config.requests_per_minute)


class _LoopThread:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="llm-gateway-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def usable(self) -> bool:
        return self.pid == os.getpid() and self.thread.is_alive() and not self.loop.is_closed()

    def stop_soon(self) -> None:
        """Stop the loop without waiting (used when the gateway is garbage-collected unclosed)."""
        if self.usable():
            self.loop.call_soon_threadsafe(self.loop.stop)


@dataclass(frozen=True)
class _Outcome:
    record: CallRecord
    result: LLMResult | None = None
    error: LLMError | None = None

    def unwrap(self) -> LLMResult:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# --------------------------------------------------------------------------- the gateway

# What to tell the operator, by failure reason.
_HINTS = {
    "timeout": "the model is slow or the server overloaded: raise timeout_s or lower max_concurrency for this role",
    "connection": "check base_url and that the server is running and reachable",
    "rate_limited": "lower requests_per_minute or max_concurrency for this role, or raise the provider's quota",
    "server_error": "check the server's health and logs, or raise max_retries for this role",
    "bad_request": "the request was rejected and is not retried: check the model name, the messages "
    "(image format and size) and max_tokens",
    "auth": "check the API key in the environment variable named by api_key_env",
    "not_found": "check base_url (usually ends in /v1) and the model name",
    "empty_reply": "the server answered without text: check max_tokens and the model's chat template",
    "other": "check the endpoint settings for this role",
}


class LLMGateway:
    """Calls the configured endpoint of a role; see the module docstring for the threading model.

    ``backoff_base_s``/``backoff_max_s`` shape the retry delays (exponential,
    with jitter, capped); a ``Retry-After`` header from the server is honoured
    up to ``retry_after_max_s``.

    ``egress_policy`` gives the :class:`~webapp.egress.EgressPolicy` asked before every call and on every
    new connection (default: the configured one, read each time so a changed setting applies at once).
    """

    def __init__(
        self,
        endpoints: Mapping[str, EndpointConfig],
        cache: ResponseCache | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        *,
        backoff_base_s: float = 0.05,
        backoff_max_s: float = 2.0,
        retry_after_max_s: float = 30.0,
        egress_policy: Callable[[], egress.EgressPolicy] | None = None,
    ) -> None:
        for role, config in endpoints.items():
            if config.role != role:
                raise ValueError(f"endpoint registered under role {role!r} says role={config.role!r}")
        self._endpoints = dict(endpoints)
        self.cache = cache
        self.on_call = on_call
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self._egress = egress_policy or egress.configured_policy
        self._lock = threading.Lock()
        self._loop_thread: _LoopThread | None = None
        # Both dicts below are touched only on the gateway loop.
        self._runtimes: dict[str, _EndpointRuntime] = {}
        self._inflight: dict[str, asyncio.Future] = {}
        self._counts = dict.fromkeys(GatewayStats.__dataclass_fields__, 0)
        self._rng = random.Random()
        self._finalizer: weakref.finalize | None = None
        # A fork while another thread holds the lock would leave it locked forever in the child.
        this = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_lock_after_fork(this))

    # ----------------------------------------------------------------- public API

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self._endpoints)

    def endpoint(self, role: str) -> EndpointConfig:
        try:
            return self._endpoints[role]
        except KeyError:
            configured = ", ".join(sorted(self._endpoints)) or "none"
            raise LLMError(
                f"No LLM endpoint is configured for role {role!r} (configured: {configured}). "
                f"Add an endpoint for {role!r} in the LLM endpoint settings.",
                role=role,
                reason="unknown_role",
            ) from None

    @property
    def stats(self) -> GatewayStats:
        with self._lock:
            return GatewayStats(**self._counts)

    async def achat(
        self,
        role: str,
        messages: list[dict],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache_salt: str = "",
        use_cache: bool = True,
    ) -> LLMResult:
        config = self.endpoint(role)
        loop = self._loop()
        coro = self._call(config, messages, temperature, max_tokens, cache_salt, use_cache)
        if _running_loop() is loop:
            outcome = await coro
        else:
            outcome = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))
        if self.on_call is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._report, outcome.record)
        return outcome.unwrap()

    def chat(
        self,
        role: str,
        messages: list[dict],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache_salt: str = "",
        use_cache: bool = True,
    ) -> LLMResult:
        config = self.endpoint(role)
        loop = self._loop()
        if _running_loop() is loop:
            raise RuntimeError("chat() would block the gateway's own event loop; use `await achat()` there")
        coro = self._call(config, messages, temperature, max_tokens, cache_salt, use_cache)
        outcome = asyncio.run_coroutine_threadsafe(coro, loop).result()
        self._report(outcome.record)
        return outcome.unwrap()

    async def achat_json(
        self, role: str, messages: list[dict], *, validate: Callable[[Any], T] | None = None, **kwargs: Any
    ) -> tuple[T, LLMResult]:
        """``achat`` + :func:`extract_json` + ``validate``.

        An unparseable reply, or one that ``validate`` rejects (any exception),
        raises :class:`JSONExtractionError` carrying ``.text`` and ``.result``, so
        the caller can decide about a repair (use a new ``cache_salt`` to re-ask).
        Such a reply is dropped from the cache: a re-run asks again instead of
        being served the same unusable answer forever.
        """
        result = await self.achat(role, messages, **kwargs)
        try:
            return _parse_reply(role, result, validate), result
        except JSONExtractionError:
            await asyncio.get_running_loop().run_in_executor(None, self.forget, result.cache_key)
            raise

    def chat_json(
        self, role: str, messages: list[dict], *, validate: Callable[[Any], T] | None = None, **kwargs: Any
    ) -> tuple[T, LLMResult]:
        result = self.chat(role, messages, **kwargs)
        try:
            return _parse_reply(role, result, validate), result
        except JSONExtractionError:
            self.forget(result.cache_key)
            raise

    def forget(self, cache_key: str) -> None:
        """Drop one reply from the response cache: the caller found it unusable (malformed, failed
        validation), so it must never be served again. Only good answers stay cached."""
        if self.cache is None or not cache_key:
            return
        try:
            self.cache.delete(cache_key)
        except Exception:  # a broken cache costs money, not correctness
            logger.warning("LLM gateway: dropping a reply from the cache failed", exc_info=True)

    def close(self) -> None:
        """Cancel calls still in flight, close the HTTP clients and stop the loop thread.

        Using the gateway afterwards starts afresh.
        """
        with self._lock:
            loop_thread, self._loop_thread = self._loop_thread, None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
        if loop_thread is None or not loop_thread.usable():
            return
        if threading.current_thread() is loop_thread.thread:
            raise RuntimeError("close() cannot run on the gateway's own loop")
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop_thread.loop)
        try:
            future.result(timeout=10)
        except (concurrent.futures.TimeoutError, Exception):  # closing is best effort
            logger.warning("LLM gateway: closing HTTP clients failed", exc_info=True)
        loop_thread.loop.call_soon_threadsafe(loop_thread.loop.stop)
        loop_thread.thread.join(timeout=10)
        if not loop_thread.thread.is_alive():
            loop_thread.loop.close()

    def __enter__(self) -> "LLMGateway":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- loop plumbing

    def _loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop_thread is None or not self._loop_thread.usable():
                # First use, after close(), or in a forked child: the old loop's objects are unusable here.
                self._runtimes = {}
                self._inflight = {}
                self._loop_thread = _LoopThread()
                # An unclosed gateway must not leave its thread running after it is garbage-collected.
                self._finalizer = weakref.finalize(self, self._loop_thread.stop_soon)
            return self._loop_thread.loop

    async def _shutdown(self) -> None:
        # Callers blocked in chat() get a CancelledError instead of waiting forever on a stopped loop.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        runtimes, self._runtimes = self._runtimes, {}
        for runtime in runtimes.values():
            await runtime.client.close()

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    def _report(self, record: CallRecord) -> None:
        if self.on_call is None:
            return
        try:
            self.on_call(record)
        except Exception:  # a broken recorder must not turn an answered call into a failure
            logger.exception("LLM gateway: on_call failed for a %s call", record.role)

    def _api_key(self, config: EndpointConfig) -> str:
        if not config.api_key_env:
            return PLACEHOLDER_API_KEY
        if not key_env_allowed(config.api_key_env):
            raise LLMError(
                f"The LLM endpoint for role {config.role!r} names {config.api_key_env!r} as its key variable, which is "
                f"not an API-key variable. {KEY_ENV_RULE}",
                role=config.role,
                reason="key_env_not_allowed",
            )
        key = os.environ.get(config.api_key_env, "").strip()
        if not key:
            raise LLMError(
                f"The LLM endpoint for role {config.role!r} reads its API key from the environment variable "
                f"{config.api_key_env!r}, which is not set (or empty) in this process. Set {config.api_key_env} "
                "in the environment of the web and worker processes, or clear api_key_env if the endpoint "
                "needs no key.",
                role=config.role,
                reason="missing_api_key",
            )
        return key

    def _runtime(self, config: EndpointConfig) -> _EndpointRuntime:
        runtime = self._runtimes.get(config.role)
        if runtime is None:
            # Every new connection (redirects too) resolves and checks the host and connects to the checked
            # address: what was allowed at save may resolve elsewhere by now (DNS rebinding).
            transport = egress.checked_transport(
                self._egress, config.api_key_env,
                limits=_httpx.Limits(
                    max_connections=config.max_concurrency + 4,
                    max_keepalive_connections=config.max_concurrency,
                ),
            )
            http_client = openai.DefaultAsyncHttpxClient(transport=transport)
            client = openai.AsyncOpenAI(
                api_key=self._api_key(config),
                base_url=config.base_url,
                timeout=config.timeout_s,
                max_retries=0,  # the gateway retries itself, with its own policy and accounting
                http_client=http_client,
            )
            runtime = self._runtimes[config.role] = _EndpointRuntime(config, client)
        return runtime

    # ----------------------------------------------------------------- one call

    async def _call(
        self,
        config: EndpointConfig,
        messages: list[dict],
        temperature: float | None,
        max_tokens: int | None,
        cache_salt: str,
        use_cache: bool,
    ) -> _Outcome:
        """Cache lookup, single-flight, HTTP with retries. Runs on the gateway loop; never raises LLMError."""
        started = time.perf_counter()
        temperature = config.temperature if temperature is None else temperature
        params = {"temperature": temperature, "max_tokens": max_tokens, "cache_salt": cache_salt}
        key = cache_key(config, messages, params)
        cache = self.cache if use_cache else None

        leader: asyncio.Future | None = None
        if cache is not None:
            while True:
                hit = self._cache_get(cache, key)
                if hit is not None:
                    self._count(cache_hits=1)
                    return self._answered(config, key, hit, time.perf_counter() - started, cached=True, attempts=0)
                pending = self._inflight.get(key)
                if pending is None:
                    break
                # The same request is already on the wire: wait for it instead of paying twice.
                await asyncio.shield(pending)
            leader = self._inflight[key] = asyncio.get_running_loop().create_future()

        try:
            try:
                value, attempts = await self._request_with_retries(config, messages, temperature, max_tokens)
            except LLMError as error:
                self._count(failures=1)
                record = CallRecord(
                    role=config.role, model=config.model, cache_key=key, prompt_tokens=0, completion_tokens=0,
                    latency_s=time.perf_counter() - started, cached=False, attempts=error.attempts,
                    ok=False, error=str(error),
                )
                return _Outcome(record=record, error=error)
            self._count(prompt_tokens=value["prompt_tokens"], completion_tokens=value["completion_tokens"])
            if cache is not None:
                self._cache_set(cache, key, value)
            return self._answered(config, key, value, time.perf_counter() - started, cached=False, attempts=attempts)
        finally:
            if leader is not None:
                del self._inflight[key]
                leader.set_result(None)

    def _answered(
        self, config: EndpointConfig, key: str, value: dict, latency_s: float, *, cached: bool, attempts: int
    ) -> _Outcome:
        result = LLMResult(
            text=value["text"], model=value.get("model") or config.model,
            prompt_tokens=int(value.get("prompt_tokens", 0)), completion_tokens=int(value.get("completion_tokens", 0)),
            latency_s=latency_s, cached=cached, attempts=attempts, cache_key=key,
        )
        record = CallRecord(
            role=config.role, model=result.model, cache_key=key, prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens, latency_s=latency_s, cached=cached, attempts=attempts,
            ok=True, error="",
        )
        return _Outcome(record=record, result=result)

    def _cache_get(self, cache: ResponseCache, key: str) -> dict | None:
        try:
            return cache.get(key)
        except Exception:  # a broken cache costs money, not correctness
            logger.warning("LLM gateway: cache lookup failed; calling the endpoint", exc_info=True)
            return None

    def _cache_set(self, cache: ResponseCache, key: str, value: dict) -> None:
        try:
            cache.set(key, value)
        except Exception:
            logger.warning("LLM gateway: storing a reply in the cache failed", exc_info=True)

    async def _request_with_retries(
        self, config: EndpointConfig, messages: list[dict], temperature: float, max_tokens: int | None
    ) -> tuple[dict, int]:
        try:
            # Syntax and the key's destination, before a key is read or a client built (no DNS on the loop:
            # the addresses are checked by the transport, in a thread, when it connects).
            self._egress().check_url(config.base_url, config.api_key_env, resolve=False)
        except egress.EgressError as refused:
            raise self._egress_refused(config, refused, 0) from None
        try:
            runtime = self._runtime(config)
        except LLMError as error:
            error.attempts = 0
            raise
        kwargs: dict[str, Any] = {"model": config.model, "messages": messages, "temperature": temperature}
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                async with runtime.semaphore:
                    await runtime.limiter.wait()
                    self._count(http_requests=1)
                    # A total deadline: httpx's timeout applies per read, not to the whole exchange.
                    async with asyncio.timeout(config.timeout_s):
                        completion = await runtime.client.chat.completions.create(**kwargs)
                return _reply_value(config, completion, attempt), attempt
            except (openai.APITimeoutError, TimeoutError):
                reason, status, detail = "timeout", None, f"no reply within timeout_s={config.timeout_s:g}s"
            except egress.EgressError as refused:  # from the transport, on connecting: not a network failure
                raise self._egress_refused(config, refused, attempt) from None
            except openai.APIConnectionError as exc:
                refused = egress.egress_error_in(exc)
                if refused is not None:  # not a network failure: retrying would be refused the same way
                    raise self._egress_refused(config, refused, attempt) from None
                reason, status, detail = "connection", None, f"connection failed ({exc.__cause__ or exc})"
            except openai.APIStatusError as exc:
                status = exc.status_code
                reason = _status_reason(status)
                detail = f"HTTP {status}: {_short(exc.message)}"
                retry_after = _retry_after_s(exc.response)
            retryable = reason in ("timeout", "connection", "rate_limited") or (status is not None and status >= 500)
            if status == 408:
                retryable = True
            if not retryable or attempt > config.max_retries:
                raise self._final_error(config, reason, status, detail, retryable, attempt)
            self._count(retries=1)
            await asyncio.sleep(self._backoff_s(attempt, retry_after))

    def _backoff_s(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        # "Equal jitter": never zero, and concurrent retries spread over half the window.
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_max_s))
        return delay

    def _egress_refused(self, config: EndpointConfig, refused: Exception, attempts: int) -> LLMError:
        return LLMError(
            f"LLM call for role {config.role!r} (model {config.model!r}) was not sent: {refused}",
            role=config.role, reason="egress_refused", retryable=False, attempts=attempts,
        )

    def _final_error(
        self, config: EndpointConfig, reason: str, status: int | None, detail: str, retryable: bool, attempts: int
    ) -> LLMError:
        where = f"LLM call for role {config.role!r} (model {config.model!r} at {config.base_url})"
        if retryable:
            what = f"failed after {attempts} attempts (max_retries={config.max_retries}); last error: {detail}"
        else:
            what = f"failed: {detail}"
        hint_key = "server_error" if reason.startswith("http_5") else reason
        hint = _HINTS.get(hint_key, _HINTS["other"])
        return LLMError(
            f"{where} {what}. What to do: {hint}.",
            role=config.role, reason=reason, retryable=retryable, status=status, attempts=attempts,
        )


# --------------------------------------------------------------------------- small helpers


def _reset_lock_after_fork(gateway_ref: "weakref.ref[LLMGateway]") -> None:
    gateway = gateway_ref()
    if gateway is not None:
        gateway._lock = threading.Lock()


def _status_reason(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status == 400 or status == 422:
        return "bad_request"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    return f"http_{status}"


def _retry_after_s(response: Any) -> float | None:
    try:
        value = response.headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, TypeError, ValueError):  # HTTP-date form or no response: use our backoff
        return None


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reply_value(config: EndpointConfig, completion: Any, attempt: int) -> dict:
    choices = getattr(completion, "choices", None) or []
    message = choices[0].message if choices else None
    text = getattr(message, "content", None) if message is not None else None
    if not isinstance(text, str) or not text.strip():
        raise LLMError(
            f"LLM call for role {config.role!r} (model {config.model!r} at {config.base_url}) returned no text. "
            f"What to do: {_HINTS['empty_reply']}.",
            role=config.role, reason="empty_reply", attempts=attempt,
        )
    usage = getattr(completion, "usage", None)
    return {
        "text": text,
        "model": getattr(completion, "model", None) or config.model,
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
    }


def _parse_reply(role: str, result: LLMResult, validate: Callable[[Any], T] | None) -> Any:
    try:
        value = extract_json(result.text)
    except JSONExtractionError as exc:
        raise JSONExtractionError(f"role {role!r}: {exc}", result.text, result) from exc
    if validate is None:
        return value
    try:
        return validate(value)
    except Exception as exc:
        raise JSONExtractionError(
            f"role {role!r}: the reply's JSON failed validation: {exc}", result.text, result
        ) from exc
