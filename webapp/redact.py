"""Error texts fit to show to people who do not run the servers: no internal URLs, hosts or key names.

Errors of machine steps (an LLM call that failed, a worker that could not reach an endpoint) are stored whole,
because an admin needs the address to fix it. Shown to a dermatologist, the same text would tell them, and
anyone reading over their shoulder, where the clinic's model servers, Redis or cloud keys live. Pages and API
answers pass such texts through ``public_error`` unless the viewer is an admin (``error_for``).

Pure Python (only ``re``), so that it can be tested without Django and used anywhere.
"""

from __future__ import annotations

import re

ADDRESS = "[internal address]"
KEY_NAME = "[key variable]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://anything up to white space or a closing quote/bracket: http(s), redis, postgres, ray, ...
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>()\[\]{}]*(?:\[[0-9a-fA-F:.]+\][^\s'\"<>(){}]*)?"), ADDRESS),
    # [IPv6] with or without a port
    (re.compile(r"\[[0-9a-fA-F:.%a-z]*:[0-9a-fA-F:.%a-z]*\](?::\d{1,5})?"), ADDRESS),
    # IPv4 with or without a port
    (re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])"), ADDRESS),
    # bare IPv6: only forms that hold "::" or all eight groups, so that a time such as 12:30:45 stays
    (re.compile(r"(?<![\w:.])(?=[0-9a-fA-F:]*::)[0-9a-fA-F:]{2,}(?:%\w+)?(?![\w:])"), ADDRESS),
    (re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\w:])"), ADDRESS),
    # integer forms of an address (0x7f000001)
    (re.compile(r"\b0x[0-9a-fA-F]{8}\b"), ADDRESS),
    # host:port with a letter in the host (vllm:8000, redis:6379, api.example.org:443, localhost:8009)
    (re.compile(r"(?<![\w.\-])[a-zA-Z0-9\-]*[a-zA-Z][a-zA-Z0-9\-]*(?:\.[a-zA-Z0-9\-]+)*:\d{2,5}(?![\w])"), ADDRESS),
    # names of the variables that hold keys (OPENAI_API_KEY, SKINFLOW_JUDGE_TOKEN, ...)
    (re.compile(r"\b[A-Z][A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD)[A-Z0-9_]*\b"), KEY_NAME),
]


def public_error(text: str | None) -> str:
    """``text`` without URLs, IP addresses (any form), host:port pairs and key-variable names."""
    if not text:
        return ""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def error_for(text: str | None, *, is_admin: bool) -> str:
    """The whole text for an admin, who needs the address to fix the cause; ``public_error`` for anyone else."""
    return (text or "") if is_admin else public_error(text)
