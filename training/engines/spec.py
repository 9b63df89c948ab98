"""What a training process needs to know, as one JSON-serializable record, and the paper's defaults."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

__all__ = ["EngineError", "RunSpec", "default_hyperparameters", "validate_hyperparameters"]


class EngineError(ValueError):
    """A run the engine refuses, with a message for the person who launched it."""


# Section 4.1.1: AdamW, cosine schedule with warmup; Stage I lr 1e-6, Stage II 5e-7 (from the Stage I checkpoint).
_COMMON: dict[str, Any] = {
    "optimizer": "adamw",
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.05,
    "weight_decay": 0.0,
    "group_size": 8,            # G completions per prompt
    "kl_coef": 0.04,            # beta
    "clip_eps": 0.2,            # epsilon
    "max_prompt_length": 2048,
    "max_response_length": 1024,
    "batch_size": 8,            # prompts per step
    "max_steps": 500,
    "temperature": 1.0,
    "save_steps": 100,
    "seed": 0,
}
_STAGE_LR = {"I": 1e-6, "II": 5e-7}
_INT_KEYS = {"group_size", "max_prompt_length", "max_response_length", "batch_size", "max_steps", "save_steps", "seed"}
_FLOAT_KEYS = {"lr", "warmup_ratio", "weight_decay", "kl_coef", "clip_eps", "temperature"}


def default_hyperparameters(stage: str) -> dict[str, Any]:
    if stage not in _STAGE_LR:
        raise EngineError(f"unknown stage {stage!r}; use 'I' or 'II'")
    return {"lr": _STAGE_LR[stage], **_COMMON}


def validate_hyperparameters(stage: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults updated with ``given``; unknown keys and out-of-range values are refused."""
    merged = default_hyperparameters(stage)
    for key, value in (given or {}).items():
        if key not in merged:
            raise EngineError(f"unknown hyperparameter {key!r}; known: {', '.join(sorted(merged))}")
        if key in _INT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "seed" else 1):
                raise EngineError(f"{key} must be a positive integer, got {value!r}")
        elif key in _FLOAT_KEYS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise EngineError(f"{key} must be a non-negative number, got {value!r}")
            value = float(value)
        merged[key] = value
    if merged["group_size"] < 2:
        raise EngineError("group_size (G) must be at least 2: GRPO normalizes rewards within a group")
    if merged["lr_scheduler"] != "cosine" or merged["optimizer"] != "adamw":
        raise EngineError("the engines implement AdamW with a cosine schedule (section 4.1.1)")
    return merged


@dataclass
class RunSpec:
    run_id: int
    stage: str
    engine: str
    model_path: str
    snapshot_dir: str
    output_dir: str
    dve: bool = True
    dve_k: int | None = None
    k: int = 6
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    reward: dict[str, Any] = field(default_factory=dict)  # position_weights, field_weights
    verl: dict[str, Any] = field(default_factory=dict)    # ray_address, n_gpus_per_node, nnodes, rollout, extra_overrides

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "RunSpec":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
