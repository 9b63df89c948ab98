"""Tolerant JSON extraction from LLM replies (pure Python).

Models wrap JSON in many ways: ```json fences, a sentence before and after,
``<think>…</think><answer>{…}</answer>`` (the SkinFlow diagnosis format).
:func:`extract_json` finds the JSON payload in all of these. It parses with the
real JSON decoder rather than by counting braces, so braces inside strings are
handled correctly.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["JSONExtractionError", "extract_json"]

_THINK_RE = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_ANSWER_RE = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


class JSONExtractionError(ValueError):
    """The reply holds no parseable JSON (or it failed the caller's validation).

    ``text`` is the raw reply, so the caller can show it or ask for a repair;
    ``result`` is the :class:`~webapp.llm.LLMResult` when the error comes from the
    gateway's ``chat_json``/``achat_json``.
    """

    def __init__(self, message: str, text: str = "", result: Any = None) -> None:
        super().__init__(message)
        self.text = text
        self.result = result


def _preview(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _scan_for_json(text: str) -> tuple[bool, Any]:
    """Return the longest JSON object/array embedded anywhere in ``text``.

    Every ``{`` or ``[`` is tried as a start with ``raw_decode``; after a hit the
    scan continues behind it (anything nested inside is shorter anyway). The
    longest hit wins, so "pick one of [a, b]: {...}" yields the object.
    """
    best: tuple[int, Any] | None = None
    pos = 0
    while True:
        starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i != -1]
        if not starts:
            break
        start = min(starts)
        try:
            value, end = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: thousands of nested brackets
            pos = start + 1
            continue
        if best is None or end - start > best[0]:
            best = (end - start, value)
        pos = end
    return (True, best[1]) if best is not None else (False, None)


def _try_whole(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (json.JSONDecodeError, ValueError, RecursionError):
        return False, None


def extract_json(text: str) -> Any:
    """Parse the JSON payload of an LLM reply.

    Tried in order: the text of the last ``<answer>`` block (thinking removed),
    the whole text, the contents of each code fence, then the longest JSON
    object/array found anywhere in the text.

    Raises :class:`JSONExtractionError` with a preview of the reply when nothing
    parses.
    """
    if not isinstance(text, str):
        raise JSONExtractionError(f"expected the reply text as str, got {type(text).__name__}", str(text))
    body = _THINK_RE.sub("", text)
    answers = _ANSWER_RE.findall(body)
    if answers:
        body = answers[-1]
    body = body.strip()
    if not body:
        raise JSONExtractionError("the reply is empty; expected JSON", text)

    ok, value = _try_whole(body)
    if ok:
        return value
    for _lang, inner in _FENCE_RE.findall(body):
        ok, value = _try_whole(inner.strip())
        if ok:
            return value
    # An unterminated fence (reply cut off by max_tokens) still deserves a scan.
    ok, value = _scan_for_json(body)
    if ok:
        return value
    raise JSONExtractionError(
        f"no JSON object or array found in the reply ({len(text)} chars): {_preview(text)!r}", text
    )
