"""What a training process needs to know, as one JSON-serializable record, and the paper's defaults."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

__all__ = ["EngineError", "RunSpec", "check_engine_path", "check_spec_paths", "default_hyperparameters",
           "validate_hyperparameters", "validate_verl_batch", "validate_verl_options"]


class EngineError(ValueError):
    """A run the engine refuses, with a message for the person who launched it."""


# Characters a path handed to an engine may not hold. Hydra resolves ${...} (${oc.env:DJANGO_SECRET_KEY} would
# put the secret into verl's config) and reads a backslash as an escape, so an escaped "\${" becomes a live
# interpolation again; quoting cannot be trusted with either. On a Ray cluster the whole verl command line
# becomes a shell string (``ray job submit`` joins it with list2cmdline and runs it with shell=True), where
# $(...), $VAR, backticks and quotes are live. Control characters (newlines) split lines and logs.
_PATH_FORBIDDEN = {"\\": "a backslash", "$": "a '$' (Hydra's ${...}, the shell's $(...))",
                   "`": "a backtick", "'": "a quote", '"': "a quote"}


def check_engine_path(value: str, what: str = "path") -> str:
    """``value`` unchanged, or :class:`EngineError` naming the character a model/data/output path may not hold."""
    import unicodedata

    text = str(value)
    for char, name in _PATH_FORBIDDEN.items():
        if char in text:
            raise EngineError(f"the {what} {text!r} contains {name}, which training engines would interpret; "
                              "rename or move the folder to a path without \\, $, `, quotes or control characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text):
        raise EngineError(f"the {what} {text!r} contains a control character (e.g. a newline); use a plain path")
    return text


def check_spec_paths(spec: "RunSpec") -> None:
    """Every path of a run spec, checked when an engine's config or command line is built."""
    check_engine_path(spec.model_path, "base model path")
    check_engine_path(spec.snapshot_dir, "snapshot folder")
    check_engine_path(spec.output_dir, "output folder")


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
    if merged["temperature"] <= 0:
        raise EngineError(f"temperature must be greater than 0 (GRPO samples), got {merged['temperature']!r}")
    if not 0 <= merged["warmup_ratio"] < 1:
        raise EngineError(f"warmup_ratio must lie in [0, 1), got {merged['warmup_ratio']!r}")
    if merged["lr"] <= 0:
        raise EngineError(f"lr must be greater than 0, got {merged['lr']!r}")
    if not 0 < merged["clip_eps"] < 1:
        raise EngineError(f"clip_eps must lie in (0, 1), got {merged['clip_eps']!r}")
    if merged["group_size"] < 2:
        raise EngineError("group_size (G) must be at least 2: GRPO normalizes rewards within a group")
    if merged["lr_scheduler"] != "cosine" or merged["optimizer"] != "adamw":
        raise EngineError("the engines implement AdamW with a cosine schedule (section 4.1.1)")
    return merged


_VERL_INT_OPTIONS = ("n_gpus_per_node", "nnodes", "micro_batch_size_per_gpu")
VERL_ROLLOUTS = ("vllm", "sglang")


def validate_verl_options(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The verl options a launch may set: ``ray_address`` (http(s) URL, ``ray://host:port``, ``host:port`` or
    "auto"; any other host must be listed in SKINFLOW_ALLOWED_RAY_HOSTS, and a key forwarded to the job must be
    tied to that host in SKINFLOW_KEY_ENV_HOSTS, webapp/egress.py), ``n_gpus_per_node``, ``nnodes``,
    ``micro_batch_size_per_gpu`` (integers >= 1) and ``rollout`` (vllm or sglang). Free-form Hydra overrides
    are not accepted: they could repoint the reward function, i.e. run any code on the worker."""
    options = dict(given or {})
    unknown = set(options) - {"ray_address", "rollout", *_VERL_INT_OPTIONS}
    if unknown:
        raise EngineError(f"unknown verl option(s): {', '.join(sorted(map(str, unknown)))}; known: "
                          f"{', '.join(sorted(['ray_address', 'rollout', *_VERL_INT_OPTIONS]))}")
    for key in _VERL_INT_OPTIONS:
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise EngineError(f"verl option {key} must be an integer >= 1, got {value!r}")
    if options.get("rollout") is not None and options["rollout"] not in VERL_ROLLOUTS:
        raise EngineError(f"verl option rollout must be one of {', '.join(VERL_ROLLOUTS)}, got {options['rollout']!r}")
    address = options.get("ray_address")
    if address is not None:
        if not isinstance(address, str):
            raise EngineError(f"verl option ray_address must be an http(s) URL, ray://host:port or 'auto', "
                              f"got {address!r}")
        from webapp import egress

        try:  # only 'auto' or a host listed in SKINFLOW_ALLOWED_RAY_HOSTS, here and again at submit
            egress.configured_policy("ray").check_ray_address(address)
        except egress.EgressError as exc:
            raise EngineError(f"verl option ray_address (an http(s) URL, ray://host:port or 'auto'): {exc}") from None
        import os

        from .verl_engine import check_cluster_keys  # imports this module: imported here, not at the top

        # At launch, so a key the cluster may not receive is a 400 on the form, not a failed run later.
        check_cluster_keys(address, os.environ)
    return {key: value for key, value in options.items() if value not in (None, "")}


def validate_verl_batch(hp: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """verl splits each step's batch_size * G completions evenly over all GPUs."""
    gpus = int(options.get("n_gpus_per_node") or 0) * int(options.get("nnodes") or 1)
    if gpus and (hp["batch_size"] * hp["group_size"]) % gpus:
        raise EngineError(f"verl needs batch_size * group_size ({hp['batch_size']} * {hp['group_size']}) to be a "
                          f"multiple of the GPU count ({gpus})")


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
    verl: dict[str, Any] = field(default_factory=dict)    # see validate_verl_options

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "RunSpec":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
