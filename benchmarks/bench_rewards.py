"""Stage II reward on a GRPO-sized batch against the local OpenAI-compatible test server.

512 prompts x 8 rollouts, each a top-6 answer. References are Fitzpatrick17k labels; rollout names
are mostly ontology names (the reference's own condition, relatives, anything), with a share of
names the ontology cannot resolve (made-up and rare names; a prompt's rollouts share a small pool
of them, as sampled rollouts of one prompt do). The batch goes through the TRL-style entry point
``diagnosis_reward_batch`` with the gateway configured from environment variables, exactly as in a
reward worker. Prints LLM calls against rollouts scored, the distinct unresolved (reference, name)
pairs, whether each was judged exactly once, and wall time; then a second step on a fresh batch.

    .venv/bin/python benchmarks/bench_rewards.py [--prompts 512] [--rollouts 8] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_judge import f17k_labels  # noqa: E402
from evaluation.judge import CATEGORIES, ClinicalJudge  # noqa: E402
from evaluation.ontology import default_ontology  # noqa: E402
from webapp.llm_testserver import ScriptedLLMServer, last_user_text  # noqa: E402

SYLLABLES = ["zor", "blax", "quu", "fen", "dra", "mol", "tri", "vex", "pha", "lun", "ker", "ost"]
RARE = ["Kyrle disease", "Degos disease", "Sneddon-Wilkinson disease", "Galli-Galli disease",
        "Nekam disease", "Buschke-Ollendorff syndrome", "Bazex syndrome", "Fox-Fordyce disease"]
SUFFIXES = ["dermatosis", "papulosis", "keratoderma", "syndrome", "naevus", "vasculopathy"]


def judge_llm(request: dict) -> str:
    """The test server's judge: a verdict per asked name, category fixed by a hash of the name."""
    names = json.loads(last_user_text(request).rsplit("\n", 1)[-1])
    return json.dumps({"verdicts": [
        {"name": n, "category": CATEGORIES[sum(map(ord, n)) % len(CATEGORIES)], "rationale": "scripted"} for n in names]})


def made_up(rng: random.Random) -> str:
    word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return f"{word} {rng.choice(SUFFIXES)}"


def make_batch(prompts: int, rollouts: int, unknown_share: float, rng: random.Random) -> tuple[list[str], list[str]]:
    onto = default_ontology()
    labels = f17k_labels()
    refs, weights = zip(*labels.items())
    names_of = {c.id: (c.name,) + c.synonyms for c in onto}
    all_names = [n for names in names_of.values() for n in names]
    completions, references = [], []
    for ref in rng.choices(refs, weights=weights, k=prompts):
        cond = onto.resolve(ref)
        relatives = [c.id for c in onto.parents(cond.id)] + [c.id for c in onto.children(cond.id)] if cond else []
        relatives += [s.id for p in (onto.parents(cond.id) if cond else ()) for s in onto.children(p.id)]
        unknown_pool = [made_up(rng) if rng.random() < 0.7 else rng.choice(RARE) for _ in range(4)]
        for _ in range(rollouts):
            names: list[str] = []
            for _ in range(6):
                roll = rng.random()
                if roll < unknown_share:
                    names.append(rng.choice(unknown_pool))
                elif roll < unknown_share + 0.15 and cond is not None:
                    names.append(rng.choice(names_of[cond.id]))
                elif roll < unknown_share + 0.5 and relatives:
                    names.append(rng.choice(names_of[rng.choice(relatives)]))
                else:
                    names.append(rng.choice(all_names))
            items = [{"disease": n, "probability": round(0.9 - 0.1 * i, 2), "key_matching_fields": ["color"],
                      "brief_reason": "scripted"} for i, n in enumerate(names)]
            completions.append("<think>...</think><answer>" + json.dumps({"top6_diseases": items}) + "</answer>")
            references.append(ref)
    return completions, references


def unresolved_pairs(judge: ClinicalJudge, completions: list[str], references: list[str]) -> set[tuple[str, str]]:
    from evaluation.diagnosis import parse_diagnosis
    from evaluation.judge import normalize_name

    pairs = set()
    for text, ref in zip(completions, references):
        for name in parse_diagnosis(text).diseases:
            if judge.judge_offline(ref, name) is None:
                pairs.add((normalize_name(ref), normalize_name(name)))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--unknown-share", type=float, default=0.1, help="share of names the ontology cannot resolve")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per LLM request at the test server")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with ScriptedLLMServer(judge_llm, latency_s=args.latency) as server:
        for var in [v for v in os.environ if v.startswith("SKINFLOW_")]:
            del os.environ[var]
        os.environ.update(SKINFLOW_LLM_BASE_URL=server.base_url, SKINFLOW_LLM_MODEL="bench-judge",
                          SKINFLOW_LLM_MAX_CONCURRENCY=str(args.concurrency))
        from training.rewards import diagnosis_reward_batch

        offline = ClinicalJudge(default_ontology())
        for step in (1, 2):
            completions, references = make_batch(args.prompts, args.rollouts, args.unknown_share, rng)
            expected = unresolved_pairs(offline, completions, references)
            before = server.request_count
            start = time.perf_counter()
            scores = diagnosis_reward_batch(completions, references)
            wall = time.perf_counter() - start
            requests = server.requests[before:]
            asked = Counter()
            for request in requests:
                text = last_user_text(request)
                ref_line = text.split("\n", 1)[0]  # 'Reference diagnosis: "<reference>" ...'
                ref = ref_line.split('"')[1]
                for name in json.loads(text.rsplit("\n", 1)[-1]):
                    asked[(ref.casefold(), name)] += 1
            from evaluation.judge import normalize_name

            asked_norm = Counter({(normalize_name(r), normalize_name(n)): c for (r, n), c in asked.items()})
            fresh = {p for p in expected if p in asked_norm}
            print(f"step {step}: {len(completions):,} rollouts scored ({args.prompts} prompts x {args.rollouts}), "
                  f"{len(set(references))} distinct references")
            print(f"  LLM calls: {len(requests)}  (= {len(requests) / len(completions):.4f} per rollout)")
            print(f"  distinct unresolved (reference, name) pairs: {len(expected)}; sent to the LLM this step: "
                  f"{len(fresh)}; judged more than once: {sum(c > 1 for c in asked_norm.values())}; "
                  f"sent but resolvable: {len(set(asked_norm) - expected)}")
            print(f"  wall time: {wall:.2f}s  (test server latency {args.latency * 1000:.0f} ms/request, "
                  f"concurrency {args.concurrency}); mean reward {sum(scores) / len(scores):.3f}")


if __name__ == "__main__":
    main()
