"""Training metrics from engine output, under one set of names (pure Python, no Django).

Both engines end up as ``{step: {name: value}}`` with the names the run page charts:
``reward_mean``, ``reward_std``, ``kl``, ``loss``, ``lr``, ``response_length``, ``step_time``.

* Our TRL engine prints one line per logged step: ``SKINFLOW_METRICS {"step": 3, "reward": ...}``.
* verl's ``file`` logger writes JSON lines ``{"step": 3, "data": {"critic/rewards/mean": ...}}``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

__all__ = ["CHARTED", "MARKER", "metric_line", "parse_lines", "normalize"]

MARKER = "SKINFLOW_METRICS "
CHARTED = ("reward_mean", "reward_std", "kl", "loss", "lr", "response_length", "step_time")

# engine key -> our name; the first key present wins.
_ALIASES: dict[str, tuple[str, ...]] = {
    "reward_mean": ("reward", "critic/rewards/mean", "critic/score/mean"),
    "reward_std": ("reward_std", "critic/rewards/std", "critic/score/std"),
    "kl": ("kl", "actor/kl_loss", "actor/ppo_kl"),
    "loss": ("loss", "actor/pg_loss"),
    "lr": ("learning_rate", "actor/lr"),
    "response_length": ("completions/mean_length", "response_length/mean"),
    "step_time": ("step_time", "timing_s/step"),
}


def normalize(raw: dict[str, Any]) -> dict[str, float]:
    """Our names for the charted metrics plus every other finite numeric value under its own name."""
    out: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    for name, keys in _ALIASES.items():
        for key in keys:
            if key in out:
                out[name] = out[key]
                break
    return out


def metric_line(step: int, raw: dict[str, Any]) -> str:
    """What the TRL engine prints for one step."""
    return MARKER + json.dumps({"step": int(step), **{k: v for k, v in raw.items() if k != "step"}})


def parse_lines(lines: Iterable[str]) -> dict[int, dict[str, float]]:
    """Metrics per step from log lines (ours) or verl file-logger lines; other lines are ignored."""
    steps: dict[int, dict[str, float]] = {}
    for line in lines:
        line = line.strip()
        if line.startswith(MARKER):
            payload = line[len(MARKER):]
        elif line.startswith("{") and '"step"' in line and '"data"' in line:
            payload = line
        else:
            continue
        try:
            record = json.loads(payload)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            continue
        raw = record["data"] if isinstance(record.get("data"), dict) else record
        steps.setdefault(record["step"], {}).update(normalize({k: v for k, v in raw.items() if k != "step"}))
    return steps
