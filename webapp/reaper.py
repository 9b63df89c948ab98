"""Self-healing: a reaper loop inside every Celery worker process.

Every ``SKINFLOW_REAPER_INTERVAL_S`` seconds (default 10) the loop refreshes this worker's heartbeat row
and runs every registered reaper. A reaper finds work that was lost — a job whose worker was killed, a
task the broker dropped (Redis restarted without persistence), a run whose enqueue failed while the
broker was down, a task acknowledged by a worker that then failed on the database — and hands it to
the broker again. Reapers must be idempotent: every worker runs them, and tasks dedupe themselves.

Why a loop in the worker rather than Celery beat: the reaper has to run exactly when the broker is what
failed, and a beat schedule is delivered through that broker. It also runs under ``bin/run`` on the
embedded default without another process. Apps register their reapers in ``AppConfig.ready`` by
dotted path, so webapp imports no app module.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta
from typing import Callable

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

log = logging.getLogger(__name__)

_registry: dict[str, str] = {}
_name: str | None = None


def register(name: str, dotted_path: str) -> None:
    """Add a reaper: ``dotted_path`` names a function taking no argument and returning how many
    things it healed."""
    _registry[name] = dotted_path


def registered() -> dict[str, str]:
    return dict(_registry)


def interval_s() -> float:
    return float(getattr(settings, "SKINFLOW_REAPER_INTERVAL_S", 10))


def worker_dead_after_s() -> float:
    """A worker whose heartbeat is older than this is taken for dead and its jobs are given to others."""
    return float(getattr(settings, "SKINFLOW_WORKER_DEAD_AFTER_S", 45))


def worker_name() -> str:
    """This worker process's name, ``hostname:pid`` of the worker's main process (set at worker start,
    so prefork children inherit it). Outside a worker (tests, the web app) it names this process."""
    return _name or f"{socket.gethostname()}:{os.getpid()}"


def set_worker_name(name: str) -> None:
    global _name
    _name = name


def beat(queues: str = "") -> None:
    """Record that this worker is alive."""
    from webapp.models import WorkerHeartbeat

    now = timezone.now()
    updated = WorkerHeartbeat.objects.filter(name=worker_name()).update(last_seen=now, queues=queues)
    if not updated:
        WorkerHeartbeat.objects.update_or_create(name=worker_name(), defaults={
            "last_seen": now, "started_at": now, "queues": queues})


def live_workers() -> set[str]:
    from webapp.models import WorkerHeartbeat

    since = timezone.now() - timedelta(seconds=worker_dead_after_s())
    return set(WorkerHeartbeat.objects.filter(last_seen__gte=since).values_list("name", flat=True))


# When this process's loop last started beating without a failure in between (monotonic seconds). After a
# database outage every worker's heartbeat is old; nobody may be judged dead until this process itself has
# beaten for a full dead-after period again, or live workers' jobs would be run twice (and paid twice).
_beating_since: float | None = None


def judging_ok() -> bool:
    """May this process declare other workers dead now? Only once its own heartbeat has been written
    without a failure for three beat intervals: a live worker writes one within an interval of the
    database coming back, so a worker silent for the whole dead-after window by then is silent on its own
    account, not the database's."""
    window = min(worker_dead_after_s(), 3 * interval_s())
    return _beating_since is not None and time.monotonic() - _beating_since >= window


_dead_now: list[tuple[str, datetime]] = []


def newly_dead_workers() -> list[tuple[str, datetime]]:
    """Workers found dead in this round of the loop, with their last heartbeat: their prefetched tasks are
    gone with them (reapers send again what they had been handed). Each dead worker is reported once."""
    return list(_dead_now)


def _find_dead() -> list[tuple[str, datetime]]:
    from webapp.models import WorkerHeartbeat

    if not judging_ok():
        return []
    cutoff = timezone.now() - timedelta(seconds=worker_dead_after_s())
    return list(WorkerHeartbeat.objects.filter(last_seen__lt=cutoff).exclude(name=worker_name())
                .values_list("name", "last_seen"))


def _bury(dead: list[tuple[str, datetime]]) -> None:
    from webapp.models import WorkerHeartbeat

    for name, last_seen in dead:
        WorkerHeartbeat.objects.filter(name=name, last_seen=last_seen).delete()


def leave() -> None:
    """A worker shutting down cleanly removes its heartbeat: its unfinished tasks go back to the broker
    by themselves, so nothing of it needs reaping."""
    from webapp.models import WorkerHeartbeat

    WorkerHeartbeat.objects.filter(name=worker_name()).delete()


class LocalClaims:
    """What this process's threads are working on right now (job or run ids), so that a second delivery of
    the same task to another thread of this worker is turned away, and the reapers can tell a job this
    worker still runs from one whose task died here after claiming it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[int] = set()

    def take(self, key: int) -> bool:
        with self._lock:
            if key in self._held:
                return False
            self._held.add(key)
            return True

    def release(self, key: int) -> None:
        with self._lock:
            self._held.discard(key)

    def held(self) -> set[int]:
        with self._lock:
            return set(self._held)


def _resolve(dotted_path: str) -> Callable[[], int]:
    module, _, attr = dotted_path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def reap_once() -> dict[str, int]:
    """Run every registered reaper once; one failing (the database is down) never stops the others."""
    global _dead_now
    healed: dict[str, int] = {}
    try:
        _dead_now = _find_dead()
    except DatabaseError:
        _dead_now = []
    failed = False
    for name, path in sorted(_registry.items()):
        try:
            healed[name] = int(_resolve(path)() or 0)
        except DatabaseError as exc:
            # The database is down or restarting: drop the broken connection and try on the next round.
            log.warning("reaper %s: database unavailable (%s); retrying in %.0f s", name, exc, interval_s())
            _close_connections()
            failed = True
        except Exception:  # noqa: BLE001 - a bug in one reaper must not stop self-healing of the rest
            log.exception("reaper %s failed", name)
            failed = True
        else:
            if healed[name]:
                log.info("reaper %s healed %d", name, healed[name])
    if _dead_now and not failed:
        try:
            _bury(_dead_now)  # reported once: the next round does not send their tasks again
        except DatabaseError:
            _close_connections()
    _dead_now = []
    return healed


def _close_connections() -> None:
    for conn in connections.all(initialized_only=True):
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing a connection to a dead server may fail too
            pass


class ReaperLoop(threading.Thread):
    """The loop that beats and reaps; a daemon thread of the worker's main process."""

    def __init__(self, queues: str = "", every_s: float | None = None) -> None:
        super().__init__(name="skinflow-reaper", daemon=True)
        self.queues = queues
        self.every_s = every_s
        self.stopping = threading.Event()

    def run(self) -> None:
        global _beating_since
        while not self.stopping.is_set():
            close_old_connections()
            try:
                beat(self.queues)
            except DatabaseError as exc:
                log.warning("worker heartbeat: database unavailable (%s)", exc)
                _beating_since = None
                _close_connections()
            else:
                if _beating_since is None:
                    _beating_since = time.monotonic()
                reap_once()
            self.stopping.wait(self.every_s or interval_s())
        _close_connections()

    def stop(self) -> None:
        self.stopping.set()


_loop: ReaperLoop | None = None


def start_in_worker(queues: str = "") -> ReaperLoop:
    """Start this process's reaper loop (once)."""
    global _loop
    if _loop is None or not _loop.is_alive():
        _loop = ReaperLoop(queues)
        _loop.start()
    return _loop


def stop_in_worker() -> None:
    global _loop
    if _loop is not None:
        _loop.stop()
        _loop = None
        try:
            leave()
        except DatabaseError:
            pass
