"""Reading ids from query strings and forms without turning a typo into a server error."""

from __future__ import annotations

from typing import Any


def is_whole_number(text: str) -> bool:
    """ASCII digits only. ``str.isdigit`` alone also accepts "²" or "①", on which ``int()`` raises."""
    return text.isascii() and text.isdigit()


def int_or_none(value: Any) -> int | None:
    """A positive whole number, or None for anything else ("", "abc", "-1", "²", None)."""
    text = str(value).strip() if value is not None else ""
    return int(text) if is_whole_number(text) else None
