#!/usr/bin/env python3
"""Fault drill: drafting runs through real Celery workers on a private PostgreSQL and Redis, with faults
injected mid-run, healing by themselves with the default self-healing settings.

    .venv/bin/python scripts/fault_drill.py [--samples 40] [--only kill9,postgres,redis,broker_down,together]

Scenarios: ``kill9`` (kill -9 of the worker mid-run, a new worker takes over), ``postgres`` (PostgreSQL
stopped for 17 s mid-run), ``redis`` (Redis restarted without persistence mid-run: queued tasks lost),
``broker_down`` (a run created through the API while Redis is down), ``together`` (six runs of eight
samples finishing at once). Each prints how long the run took to heal (from the fault, or from the
broker coming back, to the run's end), its final counts, and how many LLM requests were repeats of one
already answered (only calls in flight at a kill can be). The last line is JSON, for the test that runs
this drill (annotations/tests/test_fault_drill.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from with_services import PostgresServer, RedisServer  # noqa: E402

SCENARIOS = ("kill9", "postgres", "redis", "broker_down", "together")


class Drill:
    def __init__(self, root: Path, samples: int) -> None:
        self.root, self.samples = root, samples
        os.chmod(root, 0o755)
        self.pg = PostgresServer(root)
        self.redis = RedisServer(root)
        self.media = root / "media"
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings",
                    "DJANGO_SECRET_KEY": "fault-drill-only-secret-key-not-for-production-0123456789ab",
                    "DATABASE_URL": self.pg.url, "CELERY_BROKER_URL": self.redis.url,
                    "SKINFLOW_DATA_DIR": str(root / "data"), "SKINFLOW_MEDIA_ROOT": str(self.media),
                    "SKINFLOW_LLM_CACHE": str(root / "llm-cache.sqlite3"), "SKINFLOW_LOG_LEVEL": "WARNING",
                    # the scripted LLM servers listen on loopback at ports chosen later (webapp/egress.py)
                    "SKINFLOW_ALLOWED_ENDPOINT_HOSTS": "127.0.0.1"}
        for key in ("CELERY_VISIBILITY_TIMEOUT", "SKINFLOW_REQUEUE_AFTER_S", "SKINFLOW_WORKER_DEAD_AFTER_S",
                    "SKINFLOW_REAPER_INTERVAL_S", "SKINFLOW_REQUIRE_SERVICES"):
            self.env.pop(key, None)  # the defaults are what is drilled
        os.environ.clear()
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.workers: list[subprocess.Popen] = []

    # -- plumbing ------------------------------------------------------------------------------------------

    def start_worker(self, threads: int = 8) -> subprocess.Popen:
        log = open(self.root / f"worker-{len(self.workers)}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "default,llm", "-P", "threads",
             "-c", str(threads), "--prefetch-multiplier", "4", "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                self.kill(proc)
        self.workers = []

    def dataset(self, name: str, count: int, passes=lambda i: 1 if i % 5 else None):
        from annotations import services
        from annotations.models import Dataset
        from annotations.tests.images import jpeg_bytes, write
        from annotations.tests.scripted_llm import Script

        src = self.root / "src" / name
        scripts = {}
        for i in range(count):
            tint = hashlib.md5(name.encode()).digest()[0]  # different images in every dataset of the drill
            data = jpeg_bytes(color=(i * 5 % 256, (255 - i * 5) % 256, tint), size=(32 + i, 32))
            label = ("melanoma", "psoriasis")[i % 2]
            write(src / label / f"{i}.jpg", data)
            scripts[hashlib.md5(data).hexdigest()] = (f"{name}/{label}/{i}.jpg", Script(label, passes(i)))
        services.import_folder(name, src, progress=False)
        return Dataset.objects.get(name=name), scripts

    def wait(self, what, timeout_s: float, poll_s: float = 0.25):
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = what()
            except Exception:  # noqa: BLE001 - the database may be down at this very moment
                from django.db import connections

                for conn in connections.all():
                    conn.close()
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up after {timeout_s:.0f} s")
            time.sleep(poll_s)

    def outcome(self, runs, server, started: float, healed_from: float) -> dict:
        from django.db.models import Count

        from annotations.models import CaptionDraft, DraftingRun, DraftJob

        run_ids = [r.pk for r in runs]
        self.wait(lambda: not DraftingRun.objects.filter(pk__in=run_ids, state__in=DraftingRun.ACTIVE).exists(),
                  600)
        end = time.monotonic()
        # Paid twice = a drafter call beyond the attempts stored (the drafter's request is the same for every
        # attempt, so count those per image), or a structurer/diagnoser request repeated word for word (their
        # requests name the attempt).
        responder = server.responder
        drafts_per_key = Counter()
        for dataset_name, external_id in CaptionDraft.objects.filter(job__run_id__in=run_ids).values_list(
                "sample__dataset__name", "sample__external_id"):
            drafts_per_key[f"{dataset_name}/{external_id}"] += 1
        drafter_repeats = sum(max(0, responder.drafter_attempts(key) - drafts_per_key[key])
                              for key, _ in responder.scripts.values())
        bodies = Counter(json.dumps(r, sort_keys=True) for r in server.requests
                         if "teaching atlas" not in json.dumps(r["messages"][0]))
        per_attempt = CaptionDraft.objects.filter(job__run_id__in=run_ids).values("job", "attempt").annotate(n=Count("id"))
        return {
            "run_states": sorted(DraftingRun.objects.filter(pk__in=run_ids).values_list("state", flat=True)),
            "jobs": dict(Counter(DraftJob.objects.filter(run_id__in=run_ids).values_list("state", flat=True))),
            "drafts": CaptionDraft.objects.filter(job__run_id__in=run_ids).count(),
            "duplicate_drafts": sum(1 for row in per_attempt if row["n"] > 1),
            "requests": len(server.requests),
            "repeated_requests": drafter_repeats + sum(n - 1 for n in bodies.values() if n > 1),
            "heal_s": round(end - healed_from, 1), "total_s": round(end - started, 1),
        }

    def done(self, run) -> int:
        from annotations.models import DraftJob

        return DraftJob.objects.filter(run=run, state__in=DraftJob.TERMINAL).count()

    # -- scenarios -----------------------------------------------------------------------------------------

    def scenario_kill9(self) -> dict:
        from annotations import drafting_services
        from annotations.tests.scripted_llm import PipelineResponder
        from webapp.llm_testserver import ScriptedLLMServer

        dataset, scripts = self.dataset("kill9", self.samples)
        with ScriptedLLMServer(PipelineResponder(scripts), latency_s=0.1) as server:
            self.env["SKINFLOW_LLM_BASE_URL"] = os.environ["SKINFLOW_LLM_BASE_URL"] = server.base_url
            first = self.start_worker()
            started = time.monotonic()
            run = drafting_services.create_run(dataset)
            self.wait(lambda: self.done(run) >= self.samples // 5, 120)
            self.kill(first)
            fault = time.monotonic()
            self.start_worker()
            result = self.outcome([run], server, started, fault)
        self.stop_workers()
        return result

    def scenario_postgres(self) -> dict:
        from django.db import connections

        from annotations import drafting_services
        from annotations.tests.scripted_llm import PipelineResponder
        from webapp.llm_testserver import ScriptedLLMServer

        dataset, scripts = self.dataset("postgres", self.samples)
        with ScriptedLLMServer(PipelineResponder(scripts), latency_s=0.1) as server:
            self.env["SKINFLOW_LLM_BASE_URL"] = os.environ["SKINFLOW_LLM_BASE_URL"] = server.base_url
            self.start_worker()
            started = time.monotonic()
            run = drafting_services.create_run(dataset)
            self.wait(lambda: self.done(run) >= self.samples // 5, 120)
            for conn in connections.all():
                conn.close()
            self.pg.stop("fast")
            time.sleep(17)
            self.pg.start()
            back = time.monotonic()
            result = self.outcome([run], server, started, back)
        self.stop_workers()
        return result

    def scenario_redis(self) -> dict:
        from annotations import drafting_services
        from annotations.tests.scripted_llm import PipelineResponder
        from webapp.llm_testserver import ScriptedLLMServer

        dataset, scripts = self.dataset("redis", self.samples)
        with ScriptedLLMServer(PipelineResponder(scripts), latency_s=0.1) as server:
            self.env["SKINFLOW_LLM_BASE_URL"] = os.environ["SKINFLOW_LLM_BASE_URL"] = server.base_url
            self.start_worker(threads=4)
            started = time.monotonic()
            run = drafting_services.create_run(dataset)
            self.wait(lambda: self.done(run) >= 4, 120)
            self.redis.stop()  # no persistence: every queued task is gone
            self.redis.start()
            back = time.monotonic()
            result = self.outcome([run], server, started, back)
        self.stop_workers()
        return result

    def scenario_broker_down(self) -> dict:
        from django.contrib.auth import get_user_model
        from django.test import Client

        from annotations.models import DraftingRun
        from annotations.tests.scripted_llm import PipelineResponder
        from webapp.llm_testserver import ScriptedLLMServer
        from webapp.roles import ADMIN, grant_role

        dataset, scripts = self.dataset("broker_down", self.samples // 2)
        admin, _ = get_user_model().objects.get_or_create(username="drill-admin")
        grant_role(admin, ADMIN)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(admin)
        with ScriptedLLMServer(PipelineResponder(scripts), latency_s=0.05) as server:
            self.env["SKINFLOW_LLM_BASE_URL"] = os.environ["SKINFLOW_LLM_BASE_URL"] = server.base_url
            self.redis.stop()
            started = time.monotonic()
            response = client.post("/api/drafting-runs/", {"dataset": dataset.pk}, content_type="application/json")
            status = response.status_code
            page = client.get(f"/review/runs/{response.json().get('id')}/") if status == 201 else None
            self.redis.start()
            self.start_worker()
            back = time.monotonic()
            run = DraftingRun.objects.get(pk=response.json()["id"])
            result = self.outcome([run], server, started, back)
        result["create_status"] = status
        result["page_says_queued"] = bool(page and b"will start when the task queue is reachable" in page.content)
        self.stop_workers()
        return result

    def scenario_together(self) -> dict:
        from annotations import drafting_services
        from annotations.tests.scripted_llm import PipelineResponder
        from webapp.llm_testserver import ScriptedLLMServer

        sets = [self.dataset(f"together-{i}", 8, passes=lambda i: 1) for i in range(6)]
        scripts = {k: v for _, s in sets for k, v in s.items()}
        with ScriptedLLMServer(PipelineResponder(scripts), latency_s=0.2) as server:
            self.env["SKINFLOW_LLM_BASE_URL"] = os.environ["SKINFLOW_LLM_BASE_URL"] = server.base_url
            runs = [drafting_services.create_run(ds) for ds, _ in sets]
            self.start_worker(threads=16)
            started = time.monotonic()
            result = self.outcome(runs, server, started, started)
        self.stop_workers()
        return result

    def close(self) -> None:
        self.stop_workers()
        from django.db import connections

        for conn in connections.all():
            conn.close()
        self.redis.stop()
        self.pg.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    results = {}
    # Stopped from outside (a test timeout): still stop the servers and workers this drill started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"fault drill stopped by SIGTERM after {list(results)}"))
    with tempfile.TemporaryDirectory(prefix="skinflow-drill-") as tmp:
        drill = Drill(Path(tmp), args.samples)
        try:
            for name in chosen:
                results[name] = getattr(drill, f"scenario_{name}")()
                r = results[name]
                print(f"{name:12s} healed in {r['heal_s']:6.1f} s (whole run {r['total_s']:6.1f} s) · runs "
                      f"{', '.join(r['run_states'])} · jobs {r['jobs']} · {r['requests']} LLM requests, "
                      f"{r['repeated_requests']} repeated · {r['duplicate_drafts']} duplicate drafts", flush=True)
        finally:
            drill.close()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
