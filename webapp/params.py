"""Reading ids from query strings and forms without turning a typo into a server error."""

from __future__ import annotations

from typing import Any


def int_or_none(value: Any) -> int | None:
    """A positive whole number, or None for anything else ("", "abc", "-1", None)."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None
