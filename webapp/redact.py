"""Error texts fit to show to people who do not run the servers: no internal URLs, hosts or key names.

Errors of machine steps (an LLM call that failed, a worker that could not reach an endpoint) are stored whole,
because an admin needs the address to fix it. Shown to a dermatologist, the same text would tell them, and
anyone reading over their shoulder, where the clinic's model servers, Redis or cloud keys live. Pages and API
answers pass such texts through ``public_error`` unless the viewer is an admin (``error_for``).

Two layers. Patterns catch what looks like an address whatever it is (URLs, IP addresses in any notation,
host:port, names like OPENAI_API_KEY, a quoted name after "host"/"resolve"). Patterns cannot know that a bare
``llm.internal`` is a host or that ``MY_LLM_CRED`` holds a key, so ``error_for`` also removes the host names
and key-variable names this installation is configured with (``configured_names``: settings, the
environment's ``SKINFLOW_*_BASE_URL``/``*_API_KEY_ENV``, LLM endpoint rows, evaluation runs), looked up at
most every ``NAMES_TTL_S`` seconds. The product's own setting names (``SKINFLOW_KEY_ENV_HOSTS``) stay
readable: they tell the reader which setting to ask about, and hold no secret.

``public_error`` is pure Python (only ``re``), so that it can be tested without Django and used anywhere;
``configured_names`` imports Django only when called.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from typing import Callable, Iterable
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ADDRESS = "[internal address]"
KEY_NAME = "[key variable]"

# A name whose last part says it holds a secret, as opposed to a setting *about* keys (SKINFLOW_KEY_ENV_HOSTS).
_KEY_WORDS = r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CRED|CREDS|CREDENTIALS?"
_HOLDS_A_SECRET = re.compile(rf"(?:^|_)(?:{_KEY_WORDS})$")
_KEY_VARIABLE = re.compile(rf"\b[A-Z][A-Z0-9_]*(?:{_KEY_WORDS})[A-Z0-9_]*\b")

_DOTTED_PART = r"(?:0[xX][0-9a-fA-F]{1,8}|0[0-7]{1,11}|\d{1,3})"

# One number that a resolver reads as a whole IPv4 address: "http://2130706433/" and "0x7f000001" are 127.0.0.1.
# Decimal only from 8 digits, hex from 6 (with an optional port); the value decides (_integer_address), and a
# number followed by a unit ("178956970 pixels", "52428800 bytes") is a quantity, not an address.
_UNITS = r"(?:bytes?|B|[KMG]i?B|pixels?|px|rows?|tokens?|samples?|ms|s|seconds?)\b"
_INTEGER_ADDRESS = re.compile(
    rf"(?<![\w.\-])(?P<number>0[xX][0-9a-fA-F]{{6,10}}|\d{{8,10}})(?::\d{{1,5}})?(?!\w|\.\d|\s*{_UNITS})")
_SMALLEST_ADDRESS = 2 ** 24  # below it a number reads as 0.x.y.z: counts, ids and sizes, not addresses


def _integer_address(match: re.Match[str]) -> str:
    number = match.group("number")
    value = int(number, 16) if number[:2] in ("0x", "0X") else int(number)
    return ADDRESS if _SMALLEST_ADDRESS <= value < 2 ** 32 else match.group(0)


_PATTERNS: list[tuple[re.Pattern[str], "str | Callable[[re.Match[str]], str]"]] = [
    # scheme://anything up to white space or a closing quote/bracket: http(s), redis, postgres, ray, ...
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>()\[\]{}]*(?:\[[0-9a-fA-F:.]+\][^\s'\"<>(){}]*)?"), ADDRESS),
    # [IPv6] with or without a port
    (re.compile(r"\[[0-9a-fA-F:.%a-z]*:[0-9a-fA-F:.%a-z]*\](?::\d{1,5})?"), ADDRESS),
    # IPv4 with or without a port; a part may be written in octal (0177.0.0.1) or hex (0x7f.0.0.1), as
    # inet_aton reads it
    (re.compile(rf"(?<![\w.]){_DOTTED_PART}(?:\.{_DOTTED_PART}){{3}}(?::\d{{1,5}})?(?![\w.])"), ADDRESS),
    # bare IPv6: only forms that hold "::" or all eight groups, so that a time such as 12:30:45 stays
    (re.compile(r"(?<![\w:.])(?=[0-9a-fA-F:]*::)[0-9a-fA-F:]{2,}(?:%\w+)?(?![\w:])"), ADDRESS),
    (re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\w:])"), ADDRESS),
    # integer forms of an address (0x7f000001, 2130706433): see _integer_address
    (_INTEGER_ADDRESS, _integer_address),
    # host:port with a letter in the host (vllm:8000, redis:6379, api.example.org:443, localhost:8009)
    (re.compile(r"(?<![\w.\-])[a-zA-Z0-9\-]*[a-zA-Z][a-zA-Z0-9\-]*(?:\.[a-zA-Z0-9\-]+)*:\d{2,5}(?![\w])"), ADDRESS),
]
# A quoted name right after "host"/"resolve" is a host whatever it looks like: "Cannot resolve the host
# 'llm.internal'", "Failed to resolve 'vllm'" (DNS errors name hosts that are in no list).
_QUOTED_HOST = re.compile(r"(?i)\b(?:host(?:name)?s?|resolv(?:e|ed|es|ing))\b([^'\"\n]{0,24}?)(['\"])"
                          r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\2")


def _key_variable(match: re.Match[str]) -> str:
    name = match.group(0)
    # The product's settings (SKINFLOW_KEY_ENV_HOSTS, SKINFLOW_LLM_API_KEY_ENV) say which setting to look at;
    # a SKINFLOW_ name that itself holds a secret (SKINFLOW_JUDGE_API_TOKEN) is still hidden.
    if name.startswith("SKINFLOW_") and not _HOLDS_A_SECRET.search(name):
        return name
    return KEY_NAME


@functools.lru_cache(maxsize=64)
def _names_pattern(names: frozenset[str], ignore_case: bool) -> re.Pattern[str] | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    # Whole names only: "vllm" inside "vllm-proxy" or "MY_KEY" inside "MY_KEY_2" is another name.
    return re.compile(rf"(?<![\w.\-])(?:{alternatives})(?![\w\-]|\.\w)", re.IGNORECASE if ignore_case else 0)


def public_error(text: str | None, *, hosts: Iterable[str] = (), key_names: Iterable[str] = ()) -> str:
    """``text`` without URLs, IP addresses (any form), host:port pairs, key-variable names, quoted hosts after
    "host"/"resolve", and the given ``hosts`` and ``key_names`` wherever they stand alone."""
    if not text:
        return ""
    names = frozenset(name for name in key_names if name and len(name) >= 2)
    if (pattern := _names_pattern(names, False)) is not None:
        text = pattern.sub(KEY_NAME, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = _KEY_VARIABLE.sub(_key_variable, text)
    text = _QUOTED_HOST.sub(lambda m: m.group(0)[: m.end(2) - m.start()] + ADDRESS + m.group(2), text)
    bare = {host.lower().strip("[]") for host in hosts if host and len(host.strip("[]")) >= 2}
    # A dotted name (llm.internal) cannot be an English word, so case does not matter; a one-label name
    # (vllm, llm) is matched as written, or "LLM call failed" would lose its subject.
    if (pattern := _names_pattern(frozenset(h for h in bare if "." in h), True)) is not None:
        text = pattern.sub(ADDRESS, text)
    if (pattern := _names_pattern(frozenset(h for h in bare if "." not in h), False)) is not None:
        text = pattern.sub(ADDRESS, text)
    return text


def error_for(text: str | None, *, is_admin: bool, hosts: Iterable[str] = ()) -> str:
    """The whole text for an admin, who needs the address to fix the cause; for anyone else ``public_error``
    with this installation's configured hosts and key names, plus ``hosts`` (e.g. the failed run's own)."""
    if is_admin:
        return text or ""
    if not text:
        return ""
    configured_hosts, configured_keys = configured_names()
    return public_error(text, hosts=configured_hosts | {h for h in hosts if h}, key_names=configured_keys)


_ERRORISH_KEY = re.compile(r"(?i)error|exception|traceback")


def errors_in(detail: object, *, is_admin: bool) -> object:
    """A copy of a JSON ``detail`` (an event's) whose error texts pass ``error_for``: every string under a key
    that names an error ("error", "check_error", ...), at any depth. Other values are returned as they are."""
    if is_admin:
        return detail

    def walk(value: object, errorish: bool) -> object:
        if isinstance(value, dict):
            return {k: walk(v, errorish or bool(_ERRORISH_KEY.search(str(k)))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, errorish) for v in value]
        if errorish and isinstance(value, str):
            return error_for(value, is_admin=False)
        return value

    return walk(detail, False)


# --- What this installation is configured with ------------------------------------------------------------

NAMES_TTL_S = 30.0
_lock = threading.Lock()
_cached: tuple[float, frozenset[str], frozenset[str]] | None = None
_hooked = False


def host_of(url: str | None) -> str:
    """The host name of a base URL ("" when there is none or it cannot be read)."""
    try:
        return (urlsplit((url or "").strip()).hostname or "").lower()
    except ValueError:
        return ""


def _list_hosts(value: str) -> set[str]:
    """Host names in an allowlist setting ("vllm:8000,10.0.0.0/8,[fd00::5]:8000"); networks are skipped."""
    hosts = set()
    for entry in re.split(r"[,\s]+", value or ""):
        entry = entry.strip()
        if not entry or "/" in entry:
            continue
        if entry.startswith("["):
            entry = entry[1:].split("]", 1)[0]
        elif entry.count(":") == 1:
            entry = entry.split(":", 1)[0]
        hosts.add(entry.lower())
    return hosts


def clear_names_cache(*args: object, **kwargs: object) -> None:
    """Forget the looked-up names (signal receiver: an endpoint or a run was saved or deleted)."""
    global _cached
    with _lock:
        _cached = None


def _hook_invalidation() -> None:
    """A new endpoint's host must be hidden at once, not after the TTL: saves and deletes clear the cache."""
    global _hooked
    if _hooked:
        return
    from django.db.models.signals import post_delete, post_save

    for label in ("webapp.LLMEndpoint", "evaluation.EvalRun"):
        for signal in (post_save, post_delete):
            signal.connect(clear_names_cache, sender=label, dispatch_uid=f"redact-names-{label}-{id(signal)}")
    _hooked = True


def _lookup() -> tuple[set[str], set[str]]:
    from django.conf import settings

    hosts = {host_of(getattr(settings, "SKINFLOW_LLM_BASE_URL", ""))}
    keys = {getattr(settings, "SKINFLOW_LLM_API_KEY_ENV", "")}
    for name, value in os.environ.items():
        if name.startswith("SKINFLOW_") and name.endswith("_BASE_URL"):
            hosts.add(host_of(value))
        elif name.startswith("SKINFLOW_") and name.endswith("_API_KEY_ENV"):
            keys.add(value.strip())
    for setting in ("SKINFLOW_ALLOWED_ENDPOINT_HOSTS", "SKINFLOW_ALLOWED_RAY_HOSTS"):
        hosts |= _list_hosts(str(getattr(settings, setting, "") or ""))
    for part in str(getattr(settings, "SKINFLOW_KEY_ENV_HOSTS", "") or "").split(";"):
        name, _, listed = part.partition("=")
        keys.add(name.strip())
        hosts |= _list_hosts(listed)
    keys |= {n.strip() for n in os.environ.get("SKINFLOW_ALLOWED_KEY_ENVS", "").split(",")}
    try:
        from django.db import transaction

        from evaluation.models import EvalRun
        from webapp.models import LLMEndpoint

        # A savepoint of its own: a failed read must not break the transaction of the page that shows the error.
        with transaction.atomic():
            for base_url, key_env in LLMEndpoint.objects.values_list("base_url", "api_key_env"):
                hosts.add(host_of(base_url))
                keys.add(key_env)
            for base_url, key_env in EvalRun.objects.order_by().values_list("base_url", "api_key_env").distinct():
                hosts.add(host_of(base_url))
                keys.add(key_env)
    except Exception:  # noqa: BLE001 - no database here (a test without one, a tool): the patterns still apply
        log.debug("redaction: endpoint hosts not read from the database", exc_info=True)
    # Names of the product's own settings are never hidden, even if someone listed one (see _key_variable).
    keys = {k for k in keys if k and not (k.startswith("SKINFLOW_") and not _HOLDS_A_SECRET.search(k))}
    return {h for h in hosts if h}, keys


def configured_names() -> tuple[frozenset[str], frozenset[str]]:
    """(host names, key-variable names) this installation uses, read at most every ``NAMES_TTL_S`` seconds."""
    global _cached
    now = time.monotonic()
    with _lock:
        if _cached is not None and now - _cached[0] < NAMES_TTL_S:
            return _cached[1], _cached[2]
    try:
        _hook_invalidation()
        hosts, keys = _lookup()
    except Exception:  # noqa: BLE001 - Django not set up (a pure script): only the patterns apply
        log.debug("redaction: configured names unavailable", exc_info=True)
        return frozenset(), frozenset()
    result = (now, frozenset(hosts), frozenset(keys))
    with _lock:
        _cached = result
    return result[1], result[2]
