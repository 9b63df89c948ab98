"""Training charts (matplotlib, Agg) rendered to SVG for the run and compare pages."""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from training.metrics import CHARTED  # noqa: E402

TITLES = {"reward_mean": "reward (mean)", "reward_std": "reward (std)", "kl": "KL", "loss": "loss",
          "lr": "learning rate", "response_length": "response length", "step_time": "step time (s)"}


def _svg(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def run_chart(points: Sequence[tuple[int, Mapping[str, float]]], title: str = "") -> bytes:
    """One small panel per charted metric against the step."""
    fig, axes = plt.subplots(2, 4, figsize=(13, 5.2))
    for ax, name in zip(axes.flat, CHARTED):
        xs = [step for step, values in points if name in values]
        ys = [values[name] for step, values in points if name in values]
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, color="#2f6f9f")
        ax.set_title(TITLES[name], fontsize=9)
        ax.tick_params(labelsize=7)
        if not xs:
            ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes, color="#98a2b3")
    axes.flat[-1].axis("off")
    if title:
        fig.suptitle(title, fontsize=10, parse_math=False)  # run names are text, "$" included
    fig.tight_layout()
    return _svg(fig)


def compare_chart(series: Sequence[tuple[str, Sequence[tuple[int, Mapping[str, float]]]]], metric: str = "reward_mean") -> bytes:
    """One metric of several runs on one axis."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, points in series:
        xs = [step for step, values in points if metric in values]
        ax.plot(xs, [values[metric] for step, values in points if metric in values],
                label=label.replace("$", r"\$"))  # a "$" in a run name is no mathtext
    ax.set_xlabel("step")
    ax.set_ylabel(TITLES.get(metric, metric))
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)
