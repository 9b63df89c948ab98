"""The ``verl`` engine: GRPO with ``python -m verl.trainer.main_ppo``, locally or on a Ray cluster.

:func:`verl_overrides` builds the Hydra overrides from a run spec (our parquet, our reward module,
the paper's optimizer settings); :func:`verl_command` is the driver process the supervisor starts,
``python -m training.engines.verl_engine SPEC.json``, which

1. runs ``python -m verl.trainer.main_ppo <overrides>`` — directly, or through
   ``ray job submit --address <ray_address> -- ...`` onto an existing Ray cluster;
2. merges the final FSDP actor checkpoint into a Hugging Face folder
   (``python -m verl.model_merger merge``), the form Stage II and evaluation start from;
3. lists the checkpoints in ``OUTPUT/checkpoints.jsonl``.

Metrics: verl's ``file`` logger writes JSON lines to ``OUTPUT/metrics.jsonl`` (``VERL_FILE_LOGGER_PATH``);
with ``ray job submit`` that path must be on storage the cluster and the web app share.

DVE: verl's rollout engines (vLLM, SGLang) run their own Qwen2.5-VL and load trained weights by
parameter name; they know nothing of FDLinear, so a DVE run on verl is refused until a DVE-aware
rollout exists. Use the ``trl`` engine for DVE runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from .spec import (EngineError, RunSpec, check_engine_path, check_spec_paths, validate_hyperparameters,
                   validate_verl_batch, validate_verl_options)

__all__ = ["DVE_REFUSAL", "check_cluster_keys", "merge_command", "ray_job_command", "runtime_env", "train_command", "verl_command", "verl_overrides"]

REWARDS_FILE = str(Path(__file__).resolve().parents[1] / "rewards.py")
DVE_REFUSAL = (
    "verl cannot train a DVE model yet: its rollout engines (vLLM, SGLang) run their own Qwen2.5-VL, "
    "load weights by parameter name and know nothing of FDLinear. Turn DVE off for a verl run, or use "
    "the 'trl' engine for DVE runs."
)


def _list(values: Any) -> str:
    return "[" + ",".join(json.dumps(v) if isinstance(v, str) else repr(v) for v in values) + "]"


def _quoted(value: Any) -> str:
    """A Hydra override value as a quoted string: a ``,`` is no sweep, ``(``/``[`` no syntax, ``${`` no
    interpolation (verified with Hydra's own override parser)."""
    text = str(value).replace("'", "\\'").replace("${", "\\${")
    stripped = text.rstrip("\\")
    return "'" + stripped + "\\" * (2 * (len(text) - len(stripped))) + "'"  # a backslash before the closing quote


def gpus_per_node(options: dict[str, Any]) -> int:
    """``n_gpus_per_node`` from the run's verl options, else the GPUs this machine sees (at run time)."""
    if options.get("n_gpus_per_node"):
        return int(options["n_gpus_per_node"])
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except ImportError:
        return 1


def verl_overrides(spec: RunSpec, rewards_file: str = REWARDS_FILE) -> list[str]:
    """Hydra overrides for ``verl.trainer.main_ppo`` (keys verified against verl's own config composition)."""
    if spec.dve:
        raise EngineError(DVE_REFUSAL)
    # _quoted() keeps Hydra from reading ',', '[' or '${' in a path, but not an escaped '\${', and a cluster
    # run passes through a shell as well: such paths are refused outright.
    check_spec_paths(spec)
    check_engine_path(rewards_file, "reward module path")
    hp = validate_hyperparameters(spec.stage, spec.hyperparameters)
    options = validate_verl_options(spec.verl)
    n_gpus = gpus_per_node(options)
    validate_verl_batch(hp, {**options, "n_gpus_per_node": n_gpus})
    parquet = str(Path(spec.snapshot_dir) / "verl.parquet")
    output = Path(spec.output_dir)
    reward_limits = {"max_concurrent": 16, "max_rpm": 0, "timeout": 300.0}
    overrides = [
        "algorithm.adv_estimator=grpo",
        "algorithm.use_kl_in_reward=False",
        f"data.train_files={_list([parquet])}",
        f"data.val_files={_list([parquet])}",
        "data.prompt_key=prompt",
        "data.image_key=images",
        f"data.train_batch_size={hp['batch_size']}",
        f"data.max_prompt_length={hp['max_prompt_length']}",
        f"data.max_response_length={hp['max_response_length']}",
        "data.filter_overlong_prompts=True",
        "data.truncation=error",
        f"data.seed={hp['seed']}",
        f"actor_rollout_ref.model.path={_quoted(spec.model_path)}",
        f"actor_rollout_ref.actor.optim.lr={hp['lr']}",
        "actor_rollout_ref.actor.optim.lr_scheduler_type=cosine",
        f"actor_rollout_ref.actor.optim.lr_warmup_steps_ratio={hp['warmup_ratio']}",
        f"actor_rollout_ref.actor.optim.weight_decay={hp['weight_decay']}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={hp['batch_size']}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={options.get('micro_batch_size_per_gpu', 1)}",
        f"actor_rollout_ref.actor.clip_ratio={hp['clip_eps']}",
        "actor_rollout_ref.actor.use_kl_loss=True",
        f"actor_rollout_ref.actor.kl_loss_coef={hp['kl_coef']}",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        "actor_rollout_ref.actor.checkpoint.save_contents=['model','optimizer','extra','hf_model']",
        f"actor_rollout_ref.rollout.name={options.get('rollout', 'vllm')}",
        f"actor_rollout_ref.rollout.n={hp['group_size']}",
        f"actor_rollout_ref.rollout.temperature={hp['temperature']}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={options.get('micro_batch_size_per_gpu', 1)}",
        f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={options.get('micro_batch_size_per_gpu', 1)}",
        # verl 0.9 reads the reward hook here; the old top-level custom_reward_function.* is silently ignored.
        f"reward.custom_reward_function.path={_quoted(rewards_file)}",
        "reward.custom_reward_function.name=acompute_score",
        # LLM-judged rewards go through the rate-limited manager; its extra keys need a '+'.
        "reward.reward_manager.name=rate_limited",
        # One reward manager, so that max_concurrent / max_rpm are the limits the LLM endpoint sees
        # (verl starts reward.num_workers managers, 8 by default, each with its own limits).
        "reward.num_workers=1",
        f"+reward.max_concurrent={int(reward_limits['max_concurrent'])}",
        f"+reward.timeout={float(reward_limits['timeout'])}",
        f"+reward.custom_reward_function.reward_kwargs.k={int(spec.k)}",
        "trainer.logger=['console','file']",
        "trainer.project_name=skinflow",
        f"trainer.experiment_name=run-{spec.run_id}",
        f"trainer.total_training_steps={hp['max_steps']}",
        # verl stops at whichever comes first; its default of 30 epochs would end a small snapshot early.
        "trainer.total_epochs=1000000",
        f"trainer.save_freq={hp['save_steps']}",
        "trainer.test_freq=-1",
        "trainer.val_before_train=False",
        f"trainer.default_local_dir={_quoted(output / 'verl')}",
        f"trainer.n_gpus_per_node={n_gpus}",
        f"trainer.nnodes={int(options.get('nnodes', 1))}",
    ]
    if reward_limits.get("max_rpm"):
        overrides.append(f"+reward.max_rpm={int(reward_limits['max_rpm'])}")
    weights = spec.reward.get("position_weights")
    if weights:
        overrides.append(f"+reward.custom_reward_function.reward_kwargs.position_weights={_list(weights)}")
    field_weights = spec.reward.get("field_weights")
    if field_weights:
        path = output / "field_weights.json"
        overrides.append(f"+reward.custom_reward_function.reward_kwargs.field_weights={_quoted(path)}")
    if spec.reward.get("caption_scorer"):
        overrides.append(f"+reward.custom_reward_function.reward_kwargs.caption_scorer={spec.reward['caption_scorer']}")
    return overrides


ROOT = Path(__file__).resolve().parents[2]
# What a Ray job may see of the driver's environment: the reward's LLM endpoints and the metrics file.
_FORWARDED_PREFIXES = ("SKINFLOW_JUDGE_", "SKINFLOW_SCORER_", "SKINFLOW_LLM_")
# The egress allowlists travel too: the reward's gateway on the cluster applies the same rules (webapp/egress.py).
_FORWARDED_NAMES = ("SKINFLOW_ALLOWED_KEY_ENVS", "SKINFLOW_ALLOWED_ENDPOINT_HOSTS", "SKINFLOW_KEY_ENV_HOSTS",
                    "VERL_FILE_LOGGER_PATH")


def submission_id(spec: RunSpec) -> str:
    return f"skinflow-run-{spec.run_id}"


def _forwarded_keys(env: dict[str, str], environ: dict[str, str]) -> list[str]:
    """The key variables a Ray job would receive: named by a forwarded ``*_API_KEY_ENV``, accepted by the
    gateway's name allowlist, set here, and allowed (SKINFLOW_KEY_ENV_HOSTS, https) to go to that role's
    base URL. A key that may not reach its endpoint is left out: the reward's gateway would refuse it."""
    from webapp import egress
    from webapp.llm import key_env_allowed

    keys: list[str] = []
    for name, value in env.items():
        if name.endswith("_API_KEY_ENV") and value and key_env_allowed(value) and environ.get(value):
            base_url = env.get(name[: -len("API_KEY_ENV")] + "BASE_URL") or env.get("SKINFLOW_LLM_BASE_URL", "")
            try:
                egress.configured_policy().check_key(egress.parse_url(base_url), value)
            except egress.EgressError:
                continue
            if value not in keys:
                keys.append(value)
    return keys


def check_cluster_keys(ray_address: str | None, environ: Mapping[str, str]) -> None:
    """Refuse (EngineError) a cluster run that would ship a key to a Ray host the key may not go to: the
    runtime env is readable by the cluster and by whoever can submit jobs to it. Asked at launch (with the
    web process's environment) and again when the job is submitted (with the driver's)."""
    from webapp import egress

    if not ray_address or ray_address == "auto":
        return  # the worker's own local cluster: the key stays on this machine
    try:
        target = egress.parse_ray_address(ray_address)
    except egress.EgressError as exc:
        raise EngineError(f"verl option ray_address: {exc}") from None
    if target is None:
        return
    env = {name: value for name, value in environ.items()
           if name.startswith(_FORWARDED_PREFIXES) or name in _FORWARDED_NAMES}
    policy = egress.configured_policy("ray")
    for key_env in _forwarded_keys(env, dict(environ)):
        try:
            policy.check_key_for_cluster(target, key_env)
        except egress.EgressError as exc:
            raise EngineError(f"verl option ray_address: {exc}") from None


def runtime_env(environ: dict[str, str], ray_address: str | None) -> dict[str, Any]:
    """The Ray job's runtime env: this checkout as the working directory (so the reward module imports
    ``annotations`` and ``evaluation``) and an explicit allowlist of variables — never the whole
    environment. An endpoint's key variable is forwarded only when the gateway's allowlist accepts its name,
    its key may be sent to that endpoint's base URL, and SKINFLOW_KEY_ENV_HOSTS also ties it to the Ray host
    at ``ray_address`` (webapp/egress.py); otherwise the submission is refused (:func:`check_cluster_keys`)."""
    check_cluster_keys(ray_address, environ)
    env = {name: value for name, value in environ.items()
           if name.startswith(_FORWARDED_PREFIXES) or name in _FORWARDED_NAMES}
    for key_env in _forwarded_keys(env, environ):
        env[key_env] = environ[key_env]
    env["PYTHONPATH"] = "."
    return {"working_dir": str(ROOT), "excludes": [".git", ".venv", "data", "node_modules", "__pycache__"],
            "env_vars": env}


def train_command(spec: RunSpec, environ: dict[str, str] | None = None) -> list[str]:
    """``main_ppo`` locally, or submitted to the Ray cluster at ``spec.verl['ray_address']``."""
    address = (spec.verl or {}).get("ray_address")
    if not address:
        return [sys.executable, "-m", "verl.trainer.main_ppo", *verl_overrides(spec)]
    # On the cluster the checkout is the job's working directory: the reward file is found relative to it.
    overrides = verl_overrides(spec, rewards_file=str(Path(REWARDS_FILE).relative_to(ROOT)))
    env = dict(os.environ if environ is None else environ)
    return ["ray", "job", "submit", "--address", address, "--submission-id", submission_id(spec),
            "--runtime-env-json", json.dumps(runtime_env(env, address)),
            "--", "python3", "-m", "verl.trainer.main_ppo", *overrides]


def ray_job_command(spec: RunSpec, verb: str) -> list[str]:
    """``ray job stop|status`` for the run's cluster job."""
    extra = ["--no-wait"] if verb == "stop" else []
    return ["ray", "job", verb, "--address", spec.verl["ray_address"], *extra, submission_id(spec)]


def merge_command(actor_dir: str | Path, target_dir: str | Path) -> list[str]:
    return [sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
            "--local_dir", str(actor_dir), "--target_dir", str(target_dir)]


def verl_command(spec: RunSpec, spec_path: str | None = None) -> list[str]:
    """The driver process; raises :class:`EngineError` at once for a run verl cannot do (DVE)."""
    verl_overrides(spec)  # validates, refuses DVE
    return [sys.executable, "-u", "-m", "training.engines.verl_engine", spec_path or str(Path(spec.output_dir) / "spec.json")]


def _final_actor_dir(output: Path) -> tuple[int, Path]:
    tracker = output / "verl" / "latest_checkpointed_iteration.txt"
    if not tracker.is_file():
        raise EngineError(f"verl finished without saving a checkpoint ({tracker} is missing): it trained fewer "
                          "steps than max_steps (too few rows for one batch?)")
    step = int(tracker.read_text().strip())
    return step, output / "verl" / f"global_step_{step}" / "actor"


def preflight(spec: RunSpec) -> None:
    """Refuse a local run whose verl cannot read images: verl's over-length filter imports
    ``qwen_vl_utils`` (which imports torchvision) and, without it, drops every multimodal row and
    trains on nothing."""
    import importlib.util

    if (spec.verl or {}).get("ray_address"):
        return  # the cluster's image is what counts there
    missing = [name for name in ("qwen_vl_utils", "torchvision") if importlib.util.find_spec(name) is None]
    if missing:
        raise EngineError(f"verl needs {' and '.join(missing)} to read image prompts; install requirements-gpu.txt "
                          "(qwen-vl-utils, torchvision) on the training machine")


def _stop_cluster_job_on_sigterm(spec: RunSpec) -> None:
    """Cancel stops this driver with SIGTERM; on a cluster the job must be stopped too, not just its client."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        subprocess.call(ray_job_command(spec, "stop"))
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def _cluster_job_succeeded(spec: RunSpec) -> bool:
    result = subprocess.run(ray_job_command(spec, "status"), capture_output=True, text=True)
    return result.returncode == 0 and "SUCCEEDED" in result.stdout


def drive(spec: RunSpec) -> int:
    preflight(spec)
    output = Path(spec.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    if spec.reward.get("field_weights"):
        (output / "field_weights.json").write_text(json.dumps(spec.reward["field_weights"]), encoding="utf-8")
    env = {**os.environ, "VERL_FILE_LOGGER_PATH": str(output / "metrics.jsonl")}
    on_cluster = bool((spec.verl or {}).get("ray_address"))
    if on_cluster:
        _stop_cluster_job_on_sigterm(spec)
    rc = subprocess.call(train_command(spec, env), env=env)
    if rc != 0:
        print(f"error: verl training exited with status {rc}", file=sys.stderr, flush=True)
        return rc
    if on_cluster and not _cluster_job_succeeded(spec):
        print(f"error: the Ray job {submission_id(spec)} did not succeed (see `ray job status`)", file=sys.stderr, flush=True)
        return 1
    step, actor = _final_actor_dir(output)
    target = output / "checkpoints" / f"step-{step}"
    rc = subprocess.call(merge_command(actor, target), env=env)
    if rc != 0:
        print(f"error: merging the final checkpoint failed with status {rc}", file=sys.stderr, flush=True)
        return rc
    with open(output / "checkpoints.jsonl", "a", encoding="utf-8") as listing:
        listing.write(json.dumps({"step": step, "path": str(target), "final": True}) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m training.engines.verl_engine SPEC.json", file=sys.stderr)
        return 2
    try:
        return drive(RunSpec.load(argv[0]))
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
