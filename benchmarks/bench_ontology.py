"""Speed of the dermatology ontology: load time and lookups per second.

    .venv/bin/python benchmarks/bench_ontology.py

Goals (from issue 3): load + index well under 0.5 s; the judge must reach >= 20,000 verdicts/s on
one core, so a verdict's ontology work (two lookups + ancestor maps) has to cost well under 50 us.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation import ontology as ontology_module  # noqa: E402
from evaluation.ontology import Ontology  # noqa: E402


def timed(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return time.perf_counter() - start


def main() -> None:
    loads = []
    for _ in range(5):
        ontology_module.normalize.cache_clear()  # a fresh process has a cold cache
        start = time.perf_counter()
        onto = Ontology.load()
        loads.append(time.perf_counter() - start)
    print(f"conditions: {len(onto)}")
    print(f"load + index: median {statistics.median(loads) * 1000:.1f} ms, "
          f"max {max(loads) * 1000:.1f} ms (goal < 500 ms)")

    rng = random.Random(0)
    names = [n for c in onto for n in (c.name, *c.synonyms)]
    # Case, separators and word order changed: the normalized path, not the exact one.
    variants = [", ".join(reversed(n.upper().replace("-", " ").split(" ", 1))) for n in names]
    typos = []
    for n in rng.sample([n for n in names if len(n) > 8], 300):
        i = rng.randrange(1, len(n) - 1)
        typos.append(n[:i] + n[i + 1:])  # drop one character

    fresh = Ontology.load()
    t = timed(lambda: [fresh.lookup(n) for n in names], 1)
    print(f"first lookup of known names (uncached): {len(names) / t:,.0f}/s")
    t = timed(lambda: [fresh.lookup(n) for n in variants], 1)
    print(f"first lookup of case/plural variants (uncached): {len(variants) / t:,.0f}/s")
    t = timed(lambda: [fresh.lookup(n) for n in typos], 1)
    print(f"first lookup of one-letter typos (fuzzy, uncached, incl. index build): "
          f"{len(typos) / t:,.0f}/s")
    t = timed(lambda: [fresh.lookup(n) for n in typos], 1)
    print(f"repeat lookup of typos (cached): {len(typos) / t:,.0f}/s")

    pairs = [(rng.choice(names), rng.choice(names)) for _ in range(20_000)]

    def verdict_work(pred: str, ref: str) -> bool:
        # What the judge does per prediction: resolve both names, relate them, read flags.
        p, r = fresh.resolve(pred), fresh.resolve(ref)
        if p is None or r is None:
            return False
        if p.id == r.id:
            return True
        anc = fresh.ancestors(p.id)
        desc_hit = r.id in anc
        ref_anc = fresh.ancestors(r.id)
        return desc_hit or p.id in ref_anc or p.neoplastic == r.neoplastic

    for pred, ref in pairs:  # warm caches, as a judge evaluating many rows would have them
        verdict_work(pred, ref)
    t = timed(lambda: [verdict_work(p, r) for p, r in pairs], 1)
    print(f"verdict-style work (2 resolves + 2 ancestor maps), warm: {len(pairs) / t:,.0f}/s "
          f"(goal >= 20,000/s for the whole judge)")


if __name__ == "__main__":
    main()
