"""Small template helpers for the evaluation pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def pct(value, digits: int = 2) -> str:
    """0.2919 -> '29.19' (the paper's tables); '–' for a missing value."""
    if value is None or value == "":
        return "–"
    return f"{100 * float(value):.{int(digits)}f}"


@register.filter
def at(sequence, index):
    try:
        return sequence[int(index)]
    except (IndexError, KeyError, TypeError, ValueError):
        return None


@register.filter
def label(category) -> str:
    return (category or "").replace("_", " ")


@register.filter
def tojson(value) -> str:
    """A value as JSON for a data- attribute (autoescaping makes it attribute-safe)."""
    import json

    return json.dumps(value, default=str)


@register.filter
def get(mapping, key):
    """mapping[key], or None (a dict looked up by a variable key in a template)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None
