"""The run supervisor: what the Celery ``gpu`` task does for one run.

It claims the run (queued -> running, one conditional UPDATE, so a redelivered task cannot start a
second copy), writes the engine's spec, starts the engine as a child process in its own process
group with its output going to the run's log file, and then, until the process ends:

* beats the heartbeat, so that a run whose worker dies is recognisably orphaned;
* reads new log lines (and verl's metrics file) and stores the metrics per step;
* stops the whole process group when an admin cancelled the run.

The child is also told to die with its parent (``PR_SET_PDEATHSIG``), so killing the worker never
leaves a training process behind. A redelivered task (``acks_late``) that finds its run ``running``
with a stale heartbeat marks it failed, keeping the log.
"""

from __future__ import annotations

import ctypes
import logging
import os
import json
import signal
import socket
import subprocess
import time
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from training import engines
from training.engines.spec import RunSpec
from training.metrics import ROLLOUTS_FILE, ROLLOUTS_PER_STEP, parse_device, parse_lines
from training.models import Checkpoint, MetricPoint, RolloutSample, TrainingRun
from training.services import (SMOKE_THREADS, build_snapshot, ensure_smoke_model, fail_orphaned_run, heartbeat_timeout_s,
                               note_reward_plateau, register_checkpoints, training_root)

logger = logging.getLogger(__name__)

POLL_S = 0.5
HEARTBEAT_EVERY_S = 2.0
LOG_TAIL_CHARS = 4000


def run_dir(run: TrainingRun) -> Path:
    return training_root() / "runs" / f"run-{run.pk}"


def log_path(run: TrainingRun) -> Path:
    return Path(run.run_dir or run_dir(run)) / "train.log"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _llm_env() -> dict[str, str]:
    """The judge and scorer endpoints as the reward module reads them in the training process
    (database rows included; keys stay in the variables they are named by)."""
    from webapp.gateway import endpoint_configs

    env = {}
    for role, config in endpoint_configs().items():
        if role in ("judge", "scorer"):
            prefix = f"SKINFLOW_{role.upper()}_"
            env[prefix + "BASE_URL"] = config.base_url
            env[prefix + "MODEL"] = config.model
            if config.api_key_env:
                env[prefix + "API_KEY_ENV"] = config.api_key_env
    from django.conf import settings

    cache = getattr(settings, "SKINFLOW_LLM_CACHE", "")
    if cache:
        env["SKINFLOW_LLM_CACHE"] = str(cache)
    return env


def _spec(run: TrainingRun, folder: Path) -> RunSpec:
    model_path = run.init_checkpoint.path if run.init_checkpoint_id else run.base_model_path
    hp = dict(run.hyperparameters)
    verl_options = hp.pop("verl", {})
    return RunSpec(run_id=run.pk, stage=run.stage, engine=run.engine, model_path=model_path,
                   snapshot_dir=run.snapshot.path, output_dir=str(folder), dve=run.dve, dve_k=run.dve_k, k=run.k,
                   hyperparameters=hp, reward=dict(run.reward_settings), verl=verl_options)


def _claim(run_id: int) -> TrainingRun | None:
    now = timezone.now()
    if TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.QUEUED, cancel_requested=False).update(
            state=TrainingRun.State.RUNNING, started_at=now, heartbeat_at=now):
        return TrainingRun.objects.select_related("snapshot", "init_checkpoint").get(pk=run_id)
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None or run.state != TrainingRun.State.RUNNING:
        return None  # finished, cancelled or deleted: nothing to do
    _settle_redelivery(run)
    return None


def _settle_redelivery(run: TrainingRun) -> None:
    """A task for a run that is already ``running``: either a duplicate delivery while its supervisor
    is alive (the heartbeat moves: leave it), or a redelivery after the supervisor's worker died (the
    heartbeat stays still for longer than the timeout: fail the run, keeping its log)."""
    seen = run.heartbeat_at
    deadline = time.monotonic() + heartbeat_timeout_s() + HEARTBEAT_EVERY_S
    while True:
        current = TrainingRun.objects.filter(pk=run.pk).values("state", "heartbeat_at").first()
        if current is None or current["state"] != TrainingRun.State.RUNNING or current["heartbeat_at"] != seen:
            return
        stale_for = (timezone.now() - seen).total_seconds() if seen else float("inf")
        if stale_for > heartbeat_timeout_s() or time.monotonic() > deadline:
            fail_orphaned_run(run, "the GPU worker was lost mid-run (killed or crashed); the log is kept")
            return
        time.sleep(POLL_S)


class _LogReader:
    """Reads what was appended to a file since the last call, whole lines only."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.partial = path, 0, ""

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
                self.offset = handle.tell()
        except FileNotFoundError:
            return []
        text = self.partial + chunk
        lines = text.split("\n")
        self.partial = lines.pop()
        return lines


def _store_metrics(run: TrainingRun, lines: list[str]) -> None:
    """Metric points (and the engine's device line) from new log lines; re-checks the reward plateau."""
    device = parse_device(lines)
    if device:
        TrainingRun.objects.filter(pk=run.pk).update(device=device[:200])
    parsed = parse_lines(lines)
    for step, values in parsed.items():
        point, created = MetricPoint.objects.get_or_create(run=run, step=step, defaults={"values": values})
        if not created:
            point.values = {**point.values, **values}
            point.save(update_fields=["values"])
    if parsed:
        note_reward_plateau(run)


def _store_rollouts(run: TrainingRun, lines: list[str]) -> None:
    """Rollout samples from new lines of the engine's ``rollouts.jsonl`` (a torn or foreign line is skipped)."""
    rows = []
    for line in lines:
        try:
            record = json.loads(line)
            step, samples = int(record["step"]), list(record["samples"])[:ROLLOUTS_PER_STEP]
        except (ValueError, TypeError, KeyError):
            continue
        for position, sample in enumerate(samples):
            if not isinstance(sample, dict):
                continue
            reward = sample.get("reward")
            rows.append(RolloutSample(
                run=run, step=step, position=position, prompt=str(sample.get("prompt") or "")[:4000],
                completion=str(sample.get("completion") or "")[:4000],
                reference=str(sample.get("reference") or "")[:4000],
                reward=float(reward) if isinstance(reward, (int, float)) and not isinstance(reward, bool) else None,
                sample_id=sample.get("sample_id") if isinstance(sample.get("sample_id"), int) else None))
    if rows:
        RolloutSample.objects.bulk_create(rows, ignore_conflicts=True)  # a re-read line adds nothing


def log_tail(run: TrainingRun, chars: int = LOG_TAIL_CHARS) -> str:
    path = log_path(run)
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - chars))
        return handle.read().decode("utf-8", errors="replace")


def _beating(run: TrainingRun, job):
    """``job()`` in a helper thread (it must not touch the database) while the heartbeat goes on."""
    from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"run-{run.pk}-job") as pool:
        future = pool.submit(job)
        while True:
            try:
                return future.result(timeout=HEARTBEAT_EVERY_S)
            except FutureTimeout:
                TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())


def _finish(run: TrainingRun, state: str, error: str = "") -> None:
    TrainingRun.objects.filter(pk=run.pk, state=TrainingRun.State.RUNNING).update(
        state=state, error=error, finished_at=timezone.now(), heartbeat_at=timezone.now())


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _where(run: TrainingRun) -> str:
    """The device as the supervisor knows it before the engine reports its own (the TRL engine prints it
    once the model is placed; verl's processes run elsewhere and report nothing we read)."""
    if run.engine == TrainingRun.Engine.VERL:
        address = (run.hyperparameters.get("verl") or {}).get("ray_address")
        return f"Ray cluster {address}" if address else "the GPUs of this worker (verl, local Ray)"
    return "starting (the engine reports its torch device)"


def execute_run(run_id: int) -> str:
    """Run one training run to its end; returns the final state."""
    run = _claim(run_id)
    if run is None:
        return TrainingRun.objects.filter(pk=run_id).values_list("state", flat=True).first() or "missing"
    folder = run_dir(run)
    folder.mkdir(parents=True, exist_ok=True)
    TrainingRun.objects.filter(pk=run.pk).update(run_dir=str(folder), worker_host=socket.gethostname()[:200],
                                                 device=_where(run))
    run.run_dir = str(folder)
    log_file = log_path(run)
    try:
        if run.tiny_model:  # built once per data folder; the first smoke test pays about a minute for it
            with open(log_file, "ab") as log:
                log.write(f"tiny CPU model: {run.base_model_path}\n".encode())
                log.flush()
                _beating(run, lambda: ensure_smoke_model(Path(run.base_model_path).parent, log, dve=run.dve))
        build_snapshot(run.snapshot, run_in=lambda job: _beating(run, job))
        spec = _spec(run, folder)
        spec_path = folder / "spec.json"
        spec.dump(spec_path)
        argv = engines.command(spec, str(spec_path))
    except Exception as exc:  # noqa: BLE001 - a run that cannot start must end failed, not stuck
        with open(log_file, "a", encoding="utf-8") as log:
            log.write(f"error: {exc}\n")
        _finish(run, TrainingRun.State.FAILED, str(exc))
        return TrainingRun.State.FAILED

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, **_llm_env(), **(SMOKE_THREADS if run.tiny_model else {}), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH", "")]))}
    process = None
    try:
        with open(log_file, "ab") as log:
            log.write(f"$ {' '.join(argv[:4])} ...\n".encode())
            log.flush()
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env,
                                       start_new_session=True, preexec_fn=_die_with_parent)
        return _supervise(run, process, folder, log_file)
    except BaseException as exc:
        # Whatever went wrong here (a database blip, an OSError, the worker being stopped), the engine
        # must not outlive its supervisor and the run must not stay ``running``.
        if process is not None and process.poll() is None:
            _stop(process)
        reason = f"the run supervisor failed: {type(exc).__name__}: {exc}"[:2000]
        try:
            with open(log_file, "a", encoding="utf-8") as log:
                log.write(f"error: {reason}\n")
            _finish(run, TrainingRun.State.FAILED, reason)
        except Exception:  # noqa: BLE001 - the database may be what failed; the reaper fails it later
            logger.exception("could not mark run %s failed", run.pk)
        raise


def _supervise(run: TrainingRun, process: subprocess.Popen, folder: Path, log_file: Path) -> str:
    (folder / "engine.pid").write_text(str(process.pid), encoding="utf-8")
    readers = [_LogReader(log_file), _LogReader(folder / "metrics.jsonl")]
    rollouts = _LogReader(folder / ROLLOUTS_FILE)
    last_beat = 0.0
    cancelled = False
    while process.poll() is None:
        time.sleep(POLL_S)
        for reader in readers:
            lines = reader.new_lines()
            if lines:
                _store_metrics(run, lines)
        _store_rollouts(run, rollouts.new_lines())
        if time.monotonic() - last_beat >= HEARTBEAT_EVERY_S:
            last_beat = time.monotonic()
            TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
            register_checkpoints(run, folder)  # listed so far: usable even if the run dies later
            if TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
                cancelled = True
                _stop(process)
                break
    for reader in readers:
        _store_metrics(run, reader.new_lines() + [reader.partial])
    _store_rollouts(run, rollouts.new_lines() + [rollouts.partial])
    with transaction.atomic():
        register_checkpoints(run, folder)
    if cancelled:
        with open(log_file, "a", encoding="utf-8") as log:
            log.write("cancelled by an admin; the training process was stopped\n")
        _finish(run, TrainingRun.State.CANCELLED)
        return TrainingRun.State.CANCELLED
    if process.returncode == 0 and Checkpoint.objects.filter(run=run, is_final=True).exists():
        _finish(run, TrainingRun.State.SUCCEEDED)
        return TrainingRun.State.SUCCEEDED
    tail = log_tail(run, 1500).strip().splitlines()
    reason = next((line for line in reversed(tail) if line.startswith("error:") or "Error" in line), tail[-1] if tail else "")
    _finish(run, TrainingRun.State.FAILED, f"the training process exited with status {process.returncode}: {reason}"[:2000])
    return TrainingRun.State.FAILED
