"""Judging an evaluation run: 1,000 samples × 3 judge repeats against the local OpenAI-compatible
server (300 ms per call, 16 calls in flight), through the real path — an imported run, the
``judge_pending`` service, one Judgement row stored per (sample, repeat).

Every top-6 list holds three names the ontology decides and three it cannot, so each (sample,
repeat) costs exactly one judge call for the whole list. The ideal wall time is
samples × repeats × latency / concurrency = 1000 × 3 × 0.3 / 16 = 56.25 s.

    .venv/bin/python benchmarks/bench_eval_judging.py [--samples 1000] [--repeats 3] [--latency 0.3] [--concurrency 16]

Uses a throw-away SQLite database unless DATABASE_URL is set (e.g. under scripts/with_services.py
for PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KNOWN = ["psoriasis", "lichen planus", "eczema", "acne", "rosacea", "melanoma", "seborrheic keratosis",
         "tinea corporis", "urticaria", "vitiligo"]


def setup_django(tmp: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("SKINFLOW_LOG_LEVEL", "WARNING")
    os.environ["SKINFLOW_DATA_DIR"] = str(tmp)
    os.environ["SKINFLOW_LLM_CACHE"] = str(tmp / "llm-cache.sqlite3")  # empty: every call is paid
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.sqlite3'}")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def rows(samples: int) -> list[dict]:
    out = []
    for i in range(samples):
        ref = KNOWN[i % len(KNOWN)]
        preds = [KNOWN[(i + 1) % len(KNOWN)], f"Qwvx dermatosis {i}a", KNOWN[(i + 2) % len(KNOWN)],
                 f"Qwvx dermatosis {i}b", ref if i % 3 == 0 else KNOWN[(i + 3) % len(KNOWN)], f"Qwvx dermatosis {i}c"]
        out.append({"id": f"b{i}", "reference": ref, "predictions": preds, "skin_type": 1 + i % 6})
    return out


def judge_reply(request: dict) -> str:
    from webapp.llm_testserver import last_user_text

    text = last_user_text(request)
    names = json.loads(text[text.index("Predictions (JSON array):") + len("Predictions (JSON array):"):])
    return json.dumps({"verdicts": [{"name": n, "category": "exact" if n.endswith("a") else "unrelated",
                                     "rationale": "benchmark"} for n in names]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmpdir:
        setup_django(Path(tmpdir))
        from evaluation import services
        from evaluation.models import Judgement
        from webapp.llm_testserver import ScriptedLLMServer
        from webapp.models import LLMEndpoint

        with ScriptedLLMServer(judge_reply, latency_s=args.latency) as server:
            # The way an admin configures the judge: one endpoint row, 16 calls in flight.
            LLMEndpoint.objects.update_or_create(role="judge", defaults={
                "base_url": server.base_url, "model": "bench-judge", "max_concurrency": args.concurrency,
                "timeout_s": 60.0})
            run = services.import_predictions(rows(args.samples), name="bench", model_name="bench", test_set="bench",
                                              k=6, judge_repeats=args.repeats)
            started = time.perf_counter()
            failures = services.judge_pending(run.id, progress=True)
            wall = time.perf_counter() - started
            calls, in_flight = server.request_count, server.max_in_flight
        run.refresh_from_db()
        stored = Judgement.objects.filter(item__run=run).count()

    ideal = args.samples * args.repeats * args.latency / args.concurrency
    print()
    print(f"samples × repeats     {args.samples} × {args.repeats} = {args.samples * args.repeats} lists")
    print(f"judge calls           {calls} (one per sample and repeat: {calls == args.samples * args.repeats})")
    print(f"judgements stored     {stored}, failures {failures}, run status {run.status}")
    print(f"most calls in flight  {in_flight} (limit {args.concurrency})")
    print(f"wall time             {wall:.2f} s")
    print(f"ideal                 {args.samples} × {args.repeats} × {args.latency} / {args.concurrency} = {ideal:.2f} s")
    print(f"overhead              {wall / ideal:.3f} × ideal ({wall - ideal:+.2f} s)")
    print(f"Top-1..6              {[round(100 * v, 2) for v in run.metrics.get('top_k', [])]}")


if __name__ == "__main__":
    main()
