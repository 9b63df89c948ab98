"""The Celery application: queues ``default``, ``llm`` (LLM-bound work) and ``gpu`` (training, local inference).

Tasks are routed by name so that a worker started with ``-Q default,llm`` never picks up GPU work.
Every task is acknowledged late and must be idempotent: a worker killed mid-task gets the task again.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("skinflow")
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
