"""The first-run default (SQLite + Celery on kombu's filesystem broker) works end to end, as bin/run uses it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.celery_worker
def test_seeded_demo_gets_thumbnails_from_a_filesystem_broker_worker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "SKINFLOW_MEDIA_ROOT")}
    env.update(DJANGO_SETTINGS_MODULE="webapp.settings", DJANGO_DEBUG="1", SKINFLOW_DATA_DIR=str(tmp_path / "data"))

    def manage(*args: str) -> str:
        proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    manage("migrate", "-v0")
    assert "password" in manage("seed_demo")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "default",
                               "--pool", "solo", "--without-gossip", "--without-mingle"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    count = ("from annotations.models import Sample; "
             "print(Sample.objects.exclude(thumbnail='').count())")
    try:
        manage("shell", "-v0", "-c", "from annotations.models import Sample; from annotations.tasks import make_thumbnails; "
                              "make_thumbnails.delay(list(Sample.objects.values_list('id', flat=True)))")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and manage("shell", "-v0", "-c", count).strip() != "24":
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(1)
        assert manage("shell", "-v0", "-c", count).strip() == "24"
    finally:
        worker.terminate()
        worker.communicate(timeout=30)
    assert (tmp_path / "data" / "skinflow.sqlite3").is_file()
    assert not (ROOT / "control").exists(), "the broker must keep its files under the data folder"
