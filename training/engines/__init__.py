"""Training engines: TRL's GRPOTrainer on one machine, verl on a Ray cluster (pure Python, no Django).

Each engine turns a :class:`~training.engines.spec.RunSpec` (written as JSON by the web app's run
supervisor) into a process: :func:`command` gives its argv. The supervisor runs it, reads its log,
and registers the checkpoints it lists in ``checkpoints.jsonl``.
"""

from __future__ import annotations

from .spec import EngineError, RunSpec, default_hyperparameters

__all__ = ["EngineError", "RunSpec", "command", "default_hyperparameters", "validate_run_choices"]

ENGINES = ("trl", "verl")


def validate_run_choices(engine: str, dve: bool) -> None:
    """Refuse, before anything is queued, what an engine cannot train."""
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; use 'trl' or 'verl'")
    if engine == "verl" and dve:
        from .verl_engine import DVE_REFUSAL

        raise EngineError(DVE_REFUSAL)


def command(spec: RunSpec, spec_path: str) -> list[str]:
    """argv of the process that trains ``spec`` (refuses what the engine cannot do, e.g. DVE on verl)."""
    if spec.engine == "trl":
        from .trl_engine import trl_command

        return trl_command(spec, spec_path)
    if spec.engine == "verl":
        from .verl_engine import verl_command

        return verl_command(spec, spec_path)
    raise EngineError(f"unknown engine {spec.engine!r}; use 'trl' or 'verl'")
