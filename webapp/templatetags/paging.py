"""Page links for long lists: numbers around the current page, the first and last, and a jump box.

``{% load paging %}{% pager page %}`` renders ``webapp/_pagination.html`` for a Django ``Page``; the links keep
every other query parameter of the request (filters, sort), so paging never loses a filter.
"""

from __future__ import annotations

from django import template
from django.core.paginator import Page

register = template.Library()

WINDOW = 2  # pages shown either side of the current one


def page_numbers(current: int, last: int, window: int = WINDOW) -> list[int | None]:
    """1 … c-2 c-1 c c+1 c+2 … last, with None for a gap."""
    shown = sorted({1, last, *range(max(1, current - window), min(last, current + window) + 1)})
    out: list[int | None] = []
    for n in shown:
        if out and out[-1] is not None and n - out[-1] > 1:
            out.append(None)
        out.append(n)
    return out


@register.inclusion_tag("webapp/_pagination.html", takes_context=True)
def pager(context, page: Page, param: str = "page") -> dict:
    request = context["request"]
    params = request.GET.copy()
    params.pop(param, None)
    keep = [(k, v) for k, values in params.lists() for v in values]
    base = params.urlencode()
    prefix = f"?{base}&" if base else "?"
    return {
        "page": page,
        "param": param,
        "numbers": page_numbers(page.number, page.paginator.num_pages),
        "prefix": prefix,
        "keep": keep,
    }
