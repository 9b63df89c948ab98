"""Benchmark: "next sample" latency with 20 concurrent reviewers over 20,000 samples on PostgreSQL.

    .venv/bin/python scripts/with_services.py -- .venv/bin/python benchmarks/bench_review_next.py

Each reviewer claims a sample, "reviews" it for a random think time (exponential, mean --think-ms; real
dermatologists take tens of seconds, the default 100 ms makes 20 reviewers ask ~200 times a second),
finishes it (state change + release) and claims the next. Goal: p95 of claim_next <= 50 ms. With
--think-ms 0 the reviewers hammer in a closed loop and the numbers show the saturation point instead.
Also checks that no sample was handed to two reviewers. Reviewers are threads of one process (one
Python core), which is pessimistic next to a web server's several worker processes.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time

from _django import setup

setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections  # noqa: E402

from annotations import review_services  # noqa: E402
from annotations.models import Dataset, Sample  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--claims", type=int, default=50, help="claims per reviewer")
    parser.add_argument("--think-ms", type=float, default=100.0, help="mean review time between claims")
    args = parser.parse_args()

    Dataset.objects.filter(name="bench-next").delete()
    ds = Dataset.objects.create(name="bench-next", source="folder")
    Sample.objects.bulk_create([Sample(dataset=ds, external_id=f"s{i}", label="psoriasis",
                                       state=Sample.State.NEEDS_EXPERT) for i in range(args.samples)], batch_size=5000)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")  # fresh statistics, as autovacuum keeps them on a live database
    User = get_user_model()
    users = [User.objects.get_or_create(username=f"bench-reviewer-{i}")[0] for i in range(args.reviewers)]
    Sample.objects.filter(claimed_by__in=users).update(claimed_by=None)
    latencies: list[float] = []
    taken: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(args.reviewers)

    def reviewer(user) -> None:
        mine, got = [], []
        rng = random.Random(user.pk)
        barrier.wait()
        for _ in range(args.claims):
            t0 = time.perf_counter()
            sample = review_services.claim_next(user, dataset=ds)
            mine.append(time.perf_counter() - t0)
            if sample is None:
                break
            got.append(sample.pk)
            if args.think_ms:
                time.sleep(rng.expovariate(1000.0 / args.think_ms))
            Sample.objects.filter(pk=sample.pk).update(state=Sample.State.EXPERT_ACCEPTED, claimed_by=None)
        with lock:
            latencies.extend(mine)
            taken.extend(got)
        connections.close_all()

    threads = [threading.Thread(target=reviewer, args=(u,)) for u in users]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    print(f"{args.reviewers} reviewers x {args.claims} claims over {args.samples:,} samples in {wall:.2f} s "
          f"(think time mean {args.think_ms:.0f} ms; {len(taken) / wall:.0f} claims/s)")
    print(f"claim_next latency: p50 {p(0.50):.1f} ms, p95 {p(0.95):.1f} ms, p99 {p(0.99):.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms, mean {statistics.mean(latencies) * 1000:.1f} ms (goal p95 <= 50 ms)")
    print(f"claims: {len(taken)}, distinct samples: {len(set(taken))} (must be equal)")
    ok = p(0.95) <= 50 and len(taken) == len(set(taken))
    print("PASS" if ok else "FAIL")
    ds.delete()


if __name__ == "__main__":
    main()
