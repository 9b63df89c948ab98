"""The Celery application: queues ``default``, ``llm`` (LLM-bound work) and ``gpu`` (training, local inference).

Tasks are routed by name so that a worker started with ``-Q default,llm`` never picks up GPU work.
Every task is acknowledged late and must be idempotent: a worker killed mid-task gets the task again.
"""

from __future__ import annotations

import os
import socket

from celery import Celery, signals
from django.db.utils import DatabaseError
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("skinflow")

# Task options for work that touches the database: an outage (PostgreSQL restarting) must not cost the task.
# It is sent again with a growing delay (2, 4, 8 … 60 s, jittered) instead of being acknowledged as failed;
# tasks are idempotent, so a retry picks up where the last try stopped, and LLM answers already paid for
# come back from the cache.
DB_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 2, "retry_backoff_max": 60,
            "retry_jitter": True, "max_retries": None}
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    # Each queue with its own exchange and routing key: a task routed to "llm" reaches only that queue.
    task_queues=tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ("default", "llm", "gpu")),
    task_default_queue="default",
    task_default_exchange="default",
    task_default_routing_key="default",
    task_routes={
        "annotations.tasks.draft_*": {"queue": "llm"},
        "annotations.tasks.recheck_*": {"queue": "llm"},
        "evaluation.tasks.infer_*": {"queue": "llm"},
        "evaluation.tasks.judge_*": {"queue": "llm"},
        "evaluation.tasks.local_*": {"queue": "gpu"},
        "training.tasks.*": {"queue": "gpu"},
    },
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=True,
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _tidy_connections(sender: object = None, **_: object) -> None:
    """Drop this thread's database connection only when it is broken (a database restart) or older than
    CONN_MAX_AGE, instead of Celery's default of a fresh connection for every task (settings.py says why).
    Not for a task run eagerly in the caller's thread: that connection is the caller's (Celery skips it too)."""
    from django.db import close_old_connections

    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    close_old_connections()


@signals.worker_init.connect
def _name_worker(**_: object) -> None:
    # Before the pool starts, so that prefork children inherit the main process's name.
    from webapp import reaper

    reaper.set_worker_name(f"{socket.gethostname()}:{os.getpid()}")


@signals.worker_ready.connect
def _start_reaper(sender: object = None, **_: object) -> None:
    """Every worker beats and reaps (webapp/reaper.py says why this is not Celery beat)."""
    from webapp import reaper

    try:
        queues = ",".join(sorted(app.amqp.queues.consume_from))
    except Exception:  # noqa: BLE001 - only a label on the heartbeat row
        queues = ""
    reaper.start_in_worker(queues)


@signals.worker_ready.connect
def _end_with_bin_run(sender: object = None, **_: object) -> None:
    """A worker that bin/run started stops when bin/run ends, however it ended (webapp/parent_watch.py).

    SIGTERM starts Celery's warm shutdown (no new tasks; running ones finish). That shutdown idles several
    seconds even with nothing to do, so once no task is running (or after 15 s: tasks are idempotent and
    the reapers re-send what a worker left unfinished) the process leaves at once, heartbeat withdrawn."""
    from webapp.parent_watch import watch_parent

    def stop() -> None:
        import signal
        import time

        from celery.worker import state
        from webapp import reaper

        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 15
        while state.active_requests and time.monotonic() < deadline:
            time.sleep(0.2)
        try:
            reaper.stop_in_worker()
        finally:
            os._exit(0)

    if watch_parent(stop) is not None:
        import signal
        import threading

        # Celery's SIGHUP handler re-executes the worker (off a terminal); a closed terminal must stop it.
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=stop, daemon=True).start())


@signals.worker_shutdown.connect
def _stop_reaper(**_: object) -> None:
    from webapp import reaper

    reaper.stop_in_worker()
