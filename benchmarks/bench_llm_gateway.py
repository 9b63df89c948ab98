"""Benchmark: the LLM gateway against the local OpenAI-compatible server.

Goals (issue 2, item 5):
  1. 200 calls at concurrency 16 with 100 ms server latency finish within 1.6 s
     (>= 80 % of the ideal 200 / 16 * 0.1 s = 1.25 s);
  2. with 20 % injected HTTP 500s every call still succeeds through retries;
  3. a cached re-run makes 0 HTTP calls.

Run:  .venv/bin/python benchmarks/bench_llm_gateway.py [--calls 200 --concurrency 16 --latency 0.1]
Exits non-zero when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Its server listens on a random loopback port, which the egress policy refuses unless allowed.
os.environ.setdefault("SKINFLOW_ALLOWED_ENDPOINT_HOSTS", "127.0.0.1")
from webapp.llm import EndpointConfig, LLMError, LLMGateway, MemoryCache, SQLiteCache, user_message  # noqa: E402
from webapp.llm_testserver import ScriptedLLMServer  # noqa: E402


async def _run_batch(gateway: LLMGateway, calls: int, tag: str) -> tuple[float, int]:
    """Fire all calls at once (the gateway's semaphore enforces the concurrency); return (wall s, failures)."""

    async def one(i: int) -> bool:
        try:
            result = await gateway.achat("diagnoser", [user_message(f"{tag} case {i}: describe the lesion")])
            return result.text.startswith(tag)
        except LLMError:
            return False

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in range(calls)))
    return time.perf_counter() - started, outcomes.count(False)


def _warm_up(gateway: LLMGateway, quiet: bool = False) -> None:
    """One uncached call: creates the endpoint's client (SSL context, lazy imports) and a first connection.

    That one-off start-up (~60-90 ms) is not throughput, so it is reported apart.
    """
    started = time.perf_counter()
    try:
        gateway.chat("diagnoser", [user_message("warm-up")], use_cache=False)
    except LLMError:
        pass  # with failure injection the warm-up itself may fail; it only has to open the client
    if not quiet:
        print(f"{'warm-up (one call)':<26} wall {time.perf_counter() - started:6.3f} s")


def _scenario(name: str, server: ScriptedLLMServer, gateway: LLMGateway, calls: int, tag: str, ideal: float) -> dict:
    before = gateway.stats
    server.reset()
    wall, failures = asyncio.run(_run_batch(gateway, calls, tag))
    after = gateway.stats
    row = {
        "scenario": name,
        "wall_s": wall,
        "ideal_s": ideal,
        "efficiency": ideal / wall if wall > 0 else float("inf"),
        "http_requests": after.http_requests - before.http_requests,
        "server_requests": server.request_count,
        "retries": after.retries - before.retries,
        "failures": failures,
        "cache_hits": after.cache_hits - before.cache_hits,
        "server_max_in_flight": server.max_in_flight,
    }
    efficiency = f"{row['efficiency']:6.1%}" if row["http_requests"] else "   n/a"  # nothing was sent
    print(
        f"{name:<26} wall {row['wall_s']:6.3f} s  ideal {ideal:5.2f} s  efficiency {efficiency}  "
        f"http {row['http_requests']:4d} (server saw {row['server_requests']:4d}, max in flight "
        f"{row['server_max_in_flight']:2d})  retries {row['retries']:3d}  failures {row['failures']:3d}  "
        f"cache hits {row['cache_hits']:4d}"
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--failure-rate", type=float, default=0.2)
    parser.add_argument("--cache", choices=("sqlite", "memory"), default="sqlite")
    args = parser.parse_args()

    ideal = args.calls / args.concurrency * args.latency
    print(f"{args.calls} calls, concurrency {args.concurrency}, server latency {args.latency * 1000:.0f} ms, "
          f"cache {args.cache}; ideal wall time {ideal:.3f} s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = SQLiteCache(Path(tmp) / "llm-cache.sqlite3") if args.cache == "sqlite" else MemoryCache()
        with ScriptedLLMServer(latency_s=args.latency) as server:
            config = EndpointConfig("diagnoser", server.base_url, "bench-model", max_concurrency=args.concurrency)
            with LLMGateway({"diagnoser": config}, cache=cache) as gateway:
                _warm_up(gateway)
                rows.append(_scenario("throughput (no failures)", server, gateway, args.calls, "plain", ideal))
                rows.append(_scenario("cached re-run", server, gateway, args.calls, "plain", ideal))
        with ScriptedLLMServer(latency_s=args.latency, failure_rate=args.failure_rate, seed=1) as server:
            config = EndpointConfig("diagnoser", server.base_url, "bench-model", max_concurrency=args.concurrency)
            with LLMGateway({"diagnoser": config}, cache=MemoryCache()) as gateway:
                _warm_up(gateway, quiet=True)
                rows.append(_scenario(f"{args.failure_rate:.0%} injected HTTP 500", server, gateway, args.calls,
                                      "flaky", ideal))

    plain, cached, flaky = rows
    goals = [
        (f"throughput: wall <= {ideal / 0.8:.2f} s (>= 80 % of ideal)", plain["wall_s"] <= ideal / 0.8
         and plain["failures"] == 0),
        ("failures: every call succeeds through retries", flaky["failures"] == 0),
        ("cache: re-run makes 0 HTTP calls", cached["http_requests"] == 0 and cached["server_requests"] == 0
         and cached["cache_hits"] == args.calls),
    ]
    print()
    for text, ok in goals:
        print(f"[{'PASS' if ok else 'FAIL'}] {text}")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
