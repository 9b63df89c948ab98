"""Benchmark: machine drafting throughput through a real Celery worker against the local LLM server.

    .venv/bin/python scripts/with_services.py -- .venv/bin/python benchmarks/bench_drafting_throughput.py

Every LLM reply takes --latency seconds (default 0.2); the worker runs --concurrency threads (default 16)
on the llm queue, so the ideal is concurrency / latency LLM calls per second (80/s). Goal: >= 75 % of ideal.
Each sample passes at its first attempt: drafter, structurer, diagnoser = 3 calls (the judge decides from
the ontology, without a call).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _django import ROOT, setup

setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from annotations import drafting_services, services  # noqa: E402
from annotations.models import Dataset, DraftingRun  # noqa: E402
from annotations.tests.images import jpeg_bytes, write  # noqa: E402
from annotations.tests.scripted_llm import PipelineResponder, Script  # noqa: E402
from webapp.llm_testserver import ScriptedLLMServer  # noqa: E402
from webapp.models import LLMEndpoint  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-drafting-"))
    settings.MEDIA_ROOT = tmp / "media"
    Dataset.objects.filter(name="bench-drafting").delete()
    by_md5 = {}
    for i in range(args.samples):
        data = jpeg_bytes(color=(i % 256, (i * 7) % 256, 90), size=(32 + i % 50, 32 + i // 50))
        label = ("melanoma", "psoriasis", "scabies", "acne vulgaris")[i % 4]
        write(tmp / "src" / label / f"{i}.jpg", data)
        by_md5[hashlib.md5(data).hexdigest()] = (f"{label}/{i}.jpg", Script(label, 1))
    services.import_folder("bench-drafting", tmp / "src", progress=False)
    dataset = Dataset.objects.get(name="bench-drafting")
    Dataset.objects.filter(name="bench-drafting-warm-up").delete()
    for i in range(args.concurrency * 2):
        data = jpeg_bytes(color=(i, 200, (i * 13) % 256), size=(20 + i, 20))
        write(tmp / "warm" / "psoriasis" / f"{i}.jpg", data)
        by_md5[hashlib.md5(data).hexdigest()] = (f"psoriasis/{i}.jpg", Script("psoriasis", 1))
    services.import_folder("bench-drafting-warm-up", tmp / "warm", progress=False)
    warm_dataset = Dataset.objects.get(name="bench-drafting-warm-up")

    with ScriptedLLMServer(PipelineResponder(by_md5), latency_s=args.latency) as server:
        for role in ("drafter", "structurer", "diagnoser", "judge"):
            LLMEndpoint.objects.update_or_create(role=role, defaults={
                "base_url": server.base_url, "model": f"bench-{role}", "max_concurrency": args.concurrency})
        s = connection.settings_dict
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings",
               "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
               "SKINFLOW_MEDIA_ROOT": str(settings.MEDIA_ROOT), "SKINFLOW_LLM_CACHE": str(tmp / "cache.sqlite3")}
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "llm",
                                   "-P", "threads", "-c", str(args.concurrency), "--prefetch-multiplier", "4", "--without-gossip",
                                   "--without-mingle", "--loglevel", "WARNING"], cwd=ROOT, env=env)
        try:
            time.sleep(4)  # let the worker connect before the clock starts
            # Warm-up, not timed: a worker's first tasks pay one-time costs (imports of the HTTP client,
            # the ontology, a database connection per thread) that a long-running worker never pays again.
            warm = drafting_services.create_run(warm_dataset)
            while DraftingRun.objects.get(pk=warm.pk).state in ("queued", "running"):
                time.sleep(0.05)
            calls_before = server.request_count
            t0 = time.perf_counter()
            # No transaction is open here, so create_run enqueues every job as it commits (once: a second
            # enqueue_jobs would send every job twice).
            run = drafting_services.create_run(dataset)
            while DraftingRun.objects.get(pk=run.pk).state != DraftingRun.State.SUCCEEDED:
                time.sleep(0.05)
            wall = time.perf_counter() - t0
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        calls = server.request_count - calls_before
    progress = drafting_services.run_progress(run)
    ideal = args.concurrency / args.latency
    rate = calls / wall
    print(f"{args.samples} samples, {progress['accepted']} accepted, {calls} LLM calls in {wall:.2f} s")
    print(f"throughput {rate:.1f} calls/s; ideal {ideal:.0f} calls/s ({args.concurrency} in flight x "
          f"{args.latency * 1000:.0f} ms); efficiency {100 * rate / ideal:.1f} % (goal >= 75 %)")
    print(f"server max in flight: {server.max_in_flight}")
    print("PASS" if rate >= 0.75 * ideal else "FAIL")
    LLMEndpoint.objects.filter(model__startswith="bench-").delete()
    dataset.delete()
    warm_dataset.delete()


if __name__ == "__main__":
    main()
