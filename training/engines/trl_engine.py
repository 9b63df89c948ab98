"""The ``trl`` engine: TRL's GRPOTrainer with our reward functions and our model loader.

Run as ``python -m training.engines.trl_engine SPEC.json``. One process, one machine (a GPU in
production, the CPU on the test path). It prints one ``SKINFLOW_METRICS`` line per step, saves
merged Hugging Face folders (model + processor) under ``OUTPUT/checkpoints/step-N`` and lists them in
``OUTPUT/checkpoints.jsonl``.

Why the model loader is patched into TRL: with a KL term (beta > 0) GRPOTrainer builds its reference
model itself, from the policy's ``config._name_or_path``, with a plain ``from_pretrained``. For a
DVE checkpoint that would be a model without its FDLinear layers (their weights silently dropped);
our loader rebuilds the patch from the checkpoint's config first.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable
from unittest import mock

from .spec import EngineError, RunSpec, check_spec_paths, validate_hyperparameters

__all__ = ["build_reward_function", "train", "trl_command"]


def trl_command(spec: RunSpec, spec_path: str) -> list[str]:
    validate_hyperparameters(spec.stage, spec.hyperparameters)
    # TRL does not interpolate, but no engine is handed a path the launch would refuse; train() runs from
    # this same spec file in the process this command starts, so the paths are checked here only.
    check_spec_paths(spec)
    return [sys.executable, "-u", "-m", "training.engines.trl_engine", spec_path]


def build_reward_function(spec: RunSpec) -> Callable[..., list[float]]:
    """A TRL reward callable for the run's stage; only ``completions`` and ``references`` are read
    from the batch (TRL passes every dataset column), the weights come from the run."""
    from training import rewards

    if spec.stage == "I":
        field_weights = spec.reward.get("field_weights") or None
        scorer = spec.reward.get("caption_scorer") or "llm"

        def caption_reward(completions: list[Any], references: list[str], **_: Any) -> list[float]:
            return rewards.caption_reward_batch(completions, references, field_weights=field_weights,
                                                caption_scorer=scorer)

        return caption_reward
    position_weights = spec.reward.get("position_weights") or None
    k = int(spec.k)

    def diagnosis_reward(completions: list[Any], references: list[str], **_: Any) -> list[float]:
        return rewards.diagnosis_reward_batch(completions, references, position_weights=position_weights, k=k)

    return diagnosis_reward


def _text(value: Any) -> str:
    """The text of a prompt or completion as TRL passes it: a string, or chat messages with text parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _text(value.get("content", ""))
    if isinstance(value, (list, tuple)):
        parts = [_text(v) for v in value if not (isinstance(v, dict) and v.get("type") == "image")]
        return "\n".join(p for p in parts if p)
    return ""


class RolloutRecorder:
    """Wraps a reward function and keeps the last batch it scored, so that each logged step can write a few
    prompts and completions with their rewards to ``rollouts.jsonl`` (the run page shows them).

    Only the first :data:`~training.metrics.ROLLOUTS_PER_STEP` completions of a batch are kept: TRL puts the G
    completions of one prompt next to each other, so that is a whole group at the usual G, and texts are cut
    to a few thousand characters, so the file stays small however long the run."""

    PROMPT_CHARS = 600
    COMPLETION_CHARS = 3000

    def __init__(self, reward: Callable[..., list[float]], path: Path) -> None:
        self.reward, self.path = reward, path
        self.__name__ = getattr(reward, "__name__", "reward")  # TRL names the reward metric after it
        self.batch: list[dict[str, Any]] = []
        self.fresh = False

    def __call__(self, prompts: list[Any] | None = None, completions: list[Any] | None = None,
                 references: list[str] | None = None, **kw: Any) -> list[float]:
        from training.metrics import ROLLOUTS_PER_STEP

        completions = list(completions or [])
        scores = self.reward(completions=completions, references=references, **kw)
        prompts, references = list(prompts or []), list(references or [])
        ids = list(kw.get("sample_id") or [])
        self.batch = [{
            "prompt": _text(prompts[i])[-self.PROMPT_CHARS:] if i < len(prompts) else "",
            "completion": _text(completions[i])[:self.COMPLETION_CHARS],
            "reference": str(references[i])[:self.COMPLETION_CHARS] if i < len(references) else "",
            "reward": float(scores[i]) if scores[i] is not None else None,
            "sample_id": int(ids[i]) if i < len(ids) else None,
        } for i in range(min(len(completions), len(scores), ROLLOUTS_PER_STEP))]
        self.fresh = True
        return scores

    def flush(self, step: int) -> None:
        """Write the batch scored since the last flush under ``step`` (nothing new: nothing written)."""
        if not self.fresh:
            return
        self.fresh = False
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": int(step), "samples": self.batch}) + "\n")


def _device_report(model: Any) -> str:
    """The device line for the run page: where the model's weights are, and the GPU's name."""
    import socket

    import torch

    from training.metrics import device_line

    device = next(model.parameters()).device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    label = f"{device.type}:{device.index or 0}" if device.type == "cuda" else device.type
    return device_line(label, name, host=socket.gethostname(), engine="trl", torch=torch.__version__,
                       threads=torch.get_num_threads())


def _save_checkpoint(model: Any, processor: Any, output_dir: Path, step: int, *, final: bool) -> None:
    folder = output_dir / "checkpoints" / f"step-{step}"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    with open(output_dir / "checkpoints.jsonl", "a", encoding="utf-8") as listing:
        listing.write(json.dumps({"step": step, "path": str(folder), "final": final}) + "\n")


def train(spec: RunSpec) -> Path:
    """Train and return the final checkpoint folder."""
    import torch
    import trl.trainer.grpo_trainer as grpo_module
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from training.export import load_trl_dataset
    from training.metrics import metric_line

    from .loading import load_model, load_processor, prepare_policy

    check_spec_paths(spec)  # also here: scripts/learning_curve.py calls train() in-process, not via trl_command
    hp = validate_hyperparameters(spec.stage, spec.hyperparameters)
    if not (Path(spec.model_path) / "config.json").is_file():
        raise EngineError(f"{spec.model_path} is not a Hugging Face model folder (no config.json)")
    output_dir = Path(spec.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32

    dataset = load_trl_dataset(spec.snapshot_dir)
    processor = load_processor(spec.model_path)
    model = load_model(spec.model_path, dtype=dtype)
    prepare_policy(model, dve=spec.dve, k=spec.dve_k)
    print(f"model {spec.model_path}: DVE {'on' if spec.dve else 'off'}, {len(dataset)} prompts, stage {spec.stage}", flush=True)

    group = hp["group_size"]
    args = GRPOConfig(
        output_dir=str(output_dir / "trl"),
        max_steps=hp["max_steps"],
        per_device_train_batch_size=hp["batch_size"] * group,  # TRL counts completions
        num_generations=group,
        max_completion_length=hp["max_response_length"],
        learning_rate=hp["lr"],
        lr_scheduler_type="cosine",
        warmup_steps=math.ceil(hp["warmup_ratio"] * hp["max_steps"]),
        weight_decay=hp["weight_decay"],
        optim="adamw_torch",
        beta=hp["kl_coef"],
        epsilon=hp["clip_eps"],
        temperature=hp["temperature"],
        seed=hp["seed"],
        logging_steps=1,
        save_strategy="no",  # we save merged folders with the processor ourselves
        report_to=[],
        use_cpu=not cuda,
        bf16=cuda,
        disable_tqdm=True,
    )

    class Reporter(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.monotonic()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            print(_device_report(trainer.model), flush=True)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and "train_runtime" not in logs:
                reward.flush(state.global_step)
                print(metric_line(state.global_step, logs), flush=True)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            step = state.global_step
            if hp["save_steps"] and step % hp["save_steps"] == 0 and step < hp["max_steps"]:
                _save_checkpoint(trainer.model, processor, output_dir, step, final=False)

    from training.metrics import ROLLOUTS_FILE

    reward = RolloutRecorder(build_reward_function(spec), output_dir / ROLLOUTS_FILE)
    with mock.patch.object(grpo_module, "create_model_from_path", lambda path, **kw: load_model(path, dtype=kw.get("dtype"))):
        trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=dataset,
                              processing_class=processor, callbacks=[Reporter()])
    trainer.train()
    step = trainer.state.global_step
    _save_checkpoint(trainer.model, processor, output_dir, step, final=True)
    print(f"final checkpoint at step {step}", flush=True)
    return output_dir / "checkpoints" / f"step-{step}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m training.engines.trl_engine SPEC.json", file=sys.stderr)
        return 2
    spec = RunSpec.load(argv[0])
    try:
        train(spec)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
