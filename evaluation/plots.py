"""Report plots as SVG bytes (matplotlib, Agg backend). Pure: plain data in, bytes out.

Every label here may be a name a user typed (a model, a run, an analysis), so matplotlib's mathtext
is off for every plot: with it, "$" in a name starts a formula and an unbalanced one is a server
error ("ValueError: ... unmatched $").
"""

from __future__ import annotations

import functools
import io
from typing import Callable, Mapping, Sequence, TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evaluation.metrics import COUNT_KEYS  # noqa: E402

# One colour per category, the same as the .cat-* rules of webapp/style.css (chips, sample cards, the
# browser's legend): a category looks the same in a plot and on a page (evaluation/tests/test_eval_colours.py).
CATEGORY_COLOURS: dict[str, str] = {
    "exact": "#1f7a4d",
    "subclass": "#3fa36b",
    "parent_close": "#5fae78",
    "parent_coarse": "#8cbf96",
    "parent_broad": "#c9962e",
    "sibling": "#d9782d",
    "safety_critical": "#b42318",
    "unrelated": "#7a8699",
    "invalid": "#475467",
    "missing": "#b0b7c3",
}


_F = TypeVar("_F", bound=Callable[..., bytes])


def _plain_text(plot: _F) -> _F:
    """Run ``plot`` with mathtext off (``text.parse_math``): labels are shown as typed."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs) -> bytes:  # noqa: ANN002, ANN003
        with matplotlib.rc_context({"text.parse_math": False}):
            return plot(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


@_plain_text
def topk_curves(series: Sequence[tuple[str, Sequence[float]]], title: str = "Top-k accuracy",
                baselines: Sequence[tuple[str, Sequence[float]]] = ()) -> bytes:
    """One line per run: Top-1..Top-K accuracy in percent; ``baselines`` (image-blind lists) dashed."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, values in series:
        ks = list(range(1, len(values) + 1))
        ax.plot(ks, [100 * v for v in values], marker="o", label=label)
    for (label, values), colour in zip(baselines, ("#7a8699", "#b42318", "#475467")):
        ks = list(range(1, len(values) + 1))
        ax.plot(ks, [100 * v for v in values], linestyle="--", marker=".", color=colour, label=label)
    series = [*series, *baselines]
    ax.set_xlabel("k")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    return _svg(fig)


@_plain_text
def category_bars(shares: Sequence[Mapping[str, float]], title: str = "Judge categories by rank") -> bytes:
    """Stacked bars: for each rank, the share of each judge category (plus missing slots)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ranks = list(range(1, len(shares) + 1))
    bottom = [0.0] * len(shares)
    for key in COUNT_KEYS:
        values = [100 * s.get(key, 0.0) for s in shares]
        if not any(values):
            continue
        ax.bar(ranks, values, bottom=bottom, color=CATEGORY_COLOURS[key], label=key.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xlabel("rank")
    ax.set_ylabel("share (%)")
    ax.set_xticks(ranks)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:  # no judged prediction yet: no bars, no legend
        ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return _svg(fig)


@_plain_text
def skin_type_bars(groups: Mapping[str, Mapping], k_shown: Sequence[int] = (1, 3, 6)) -> bytes:
    """Grouped bars: Top-k accuracy per Fitzpatrick group for a few k."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = list(groups)
    width = 0.8 / max(1, len(k_shown))
    for j, k in enumerate(k_shown):
        values = []
        for name in names:
            top = groups[name].get("top_k")
            values.append(100 * top[k - 1] if top and len(top) >= k else 0.0)
        ax.bar([i + j * width for i in range(len(names))], values, width=width, label=f"Top-{k}")
    ax.set_xticks([i + width * (len(k_shown) - 1) / 2 for i in range(len(names))])
    ax.set_xticklabels([f"type {n}\n(n={groups[n].get('n', 0)})" for n in names])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Accuracy by Fitzpatrick skin type")
    ax.legend(fontsize=8)
    return _svg(fig)


@_plain_text
def reward_scatter(points: Sequence[tuple[str, float, float]], pearson: float | None, spearman: float | None) -> bytes:
    """Table 1 as a scatter: mean caption reward (x) against caption-only accuracy (y), one dot per model."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, reward, accuracy in points:
        ax.scatter([reward], [100 * accuracy], color="#9b3d5a")
        ax.annotate(name, (reward, 100 * accuracy), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("mean caption reward (0-10)")
    ax.set_ylabel("diagnostic accuracy from caption (%)")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    ax.set_title(f"Pearson {fmt(pearson)}, Spearman {fmt(spearman)}")
    ax.grid(alpha=0.3)
    return _svg(fig)


@_plain_text
def attention_histograms(series: Sequence[tuple[str, Sequence[float]]], bin_labels: Sequence[str]) -> bytes:
    """Side-by-side bars of the attention-weight histograms (shares per bin) of several models."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    width = 0.8 / max(1, len(series))
    for j, (label, shares) in enumerate(series):
        ax.bar([i + j * width for i in range(len(bin_labels))], [100 * s for s in shares], width=width, label=label)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(bin_labels))])
    ax.set_xticklabels(bin_labels, fontsize=8)
    ax.set_xlabel("attention weight")
    ax.set_ylabel("share of image tokens (%)")
    if series:
        ax.legend(fontsize=8)
    return _svg(fig)
