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

__all__ = ["CHARTED", "DEVICE_MARKER", "MARKER", "ROLLOUTS_FILE", "ROLLOUTS_PER_STEP", "device_line", "metric_line",
           "parse_device", "parse_lines", "normalize"]

MARKER = "SKINFLOW_METRICS "
DEVICE_MARKER = "SKINFLOW_DEVICE "  # one line when training starts: where the engine put the model
ROLLOUTS_FILE = "rollouts.jsonl"    # {"step": N, "samples": [{prompt, completion, reference, reward, sample_id}]}
ROLLOUTS_PER_STEP = 8               # at least one whole group at the usual G, and a bounded file
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


def device_line(device: str, name: str = "", **extra: Any) -> str:
    """What an engine prints once it has placed the model (``device`` as torch names it)."""
    return DEVICE_MARKER + json.dumps({"device": device, "name": name, **extra})


def parse_device(lines: Iterable[str]) -> str | None:
    """"cuda:0 (NVIDIA H200)" or "cpu" from the last device line among ``lines``; None without one."""
    found = None
    for line in lines:
        line = line.strip()
        if not line.startswith(DEVICE_MARKER):
            continue
        try:
            record = json.loads(line[len(DEVICE_MARKER):])
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("device"), str):
            name = record.get("name") if isinstance(record.get("name"), str) else ""
            found = f"{record['device']} ({name})" if name else record["device"]
    return found
