"""Offline judge throughput on realistic pairs (goal: >= 20,000 verdicts/s on one core).

References are Fitzpatrick17k labels drawn with their dataset frequency (wrongly labelled rows left
out); predictions are ontology names and synonyms: a third name the reference's own condition, a
third a relative (parent, child or sibling), a third any condition. Every pair is decided by the
ontology, as in an evaluation run of a model that answers with known disease names.

    .venv/bin/python benchmarks/bench_judge.py [--pairs 200000] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.judge import ClinicalJudge  # noqa: E402
from evaluation.ontology import default_ontology  # noqa: E402

F17K = Path(os.environ.get("SKINFLOW_F17K_CSV", "/work/shared/data/fitzpatrick17k.csv"))
GOAL = 20_000


def f17k_labels() -> Counter:
    with open(F17K, newline="", encoding="utf-8") as fh:
        return Counter(row["label"] for row in csv.DictReader(fh) if "wrongly" not in (row.get("qc") or "").lower())


def make_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    onto = default_ontology()
    labels = f17k_labels()
    refs, weights = zip(*labels.items())
    names_of = {c.id: (c.name,) + c.synonyms for c in onto}
    all_names = [name for names in names_of.values() for name in names]
    pairs = []
    for ref in rng.choices(refs, weights=weights, k=n):
        cond = onto.resolve(ref)
        roll = rng.random()
        if cond is not None and roll < 1 / 3:
            pred = rng.choice(names_of[cond.id])
        elif cond is not None and roll < 2 / 3:
            relatives = [c.id for c in onto.parents(cond.id)] + [c.id for c in onto.children(cond.id)]
            relatives += [s.id for p in onto.parents(cond.id) for s in onto.children(p.id) if s.id != cond.id]
            pred = rng.choice(names_of[rng.choice(relatives)]) if relatives else rng.choice(all_names)
        else:
            pred = rng.choice(all_names)
        pairs.append((ref, pred))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the goal says

    t0 = time.perf_counter()
    pairs = make_pairs(args.pairs, args.seed)
    judge = ClinicalJudge(default_ontology())
    print(f"built {len(pairs):,} pairs from {len(f17k_labels())} F17k labels x {len(judge.ontology)} conditions "
          f"in {time.perf_counter() - t0:.1f}s")

    rates = {}
    for label in ("cold", "warm"):  # cold: the judge's name caches start empty
        start = time.perf_counter()
        verdicts = [judge.judge_offline(ref, pred) for ref, pred in pairs]
        elapsed = time.perf_counter() - start
        rates[label] = len(pairs) / elapsed
        print(f"{label:5s} pass: {rates[label]:12,.0f} verdicts/s  ({elapsed:.2f}s for {len(pairs):,})")

    undecided = sum(v is None for v in verdicts)
    mix = Counter(v.category for v in verdicts if v is not None)
    print("category mix:", ", ".join(f"{k} {n / len(pairs):.1%}" for k, n in mix.most_common()))
    print(f"undecided by the ontology: {undecided}")
    verdict = "met" if rates["cold"] >= GOAL else "NOT met"
    print(f"goal >= {GOAL:,} verdicts/s on one core, cold pass: {verdict}")

if __name__ == "__main__":
    main()
