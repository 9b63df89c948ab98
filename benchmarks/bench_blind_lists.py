"""Image-blind constant lists on Fitzpatrick17k under the offline judge (issue 11 acceptance).

A model that ignores the image and answers the same six names for every photo must not beat the
best constant list of specific conditions just by naming broad umbrellas. This prints, for every
F17k row (wrongly labelled rows left out):

* the umbrella list of the issue ("Papulosquamous disorder", "Follicular disorder", ...);
* the best constant list of ontology conditions, found greedily (each step adds the name that
  credits the most not-yet-credited rows; too-broad umbrellas are not candidates): the same
  search every evaluation run shows as its image-blind baseline
  (:func:`evaluation.baselines.best_constant_list`);

with Top-1..Top-6 and the mean Stage II reward (training/rewards.py's positional reward, the
weight of the first correct position), and PASS when the umbrella list's Top-6 is at most the
best specific list's.

    .venv/bin/python benchmarks/bench_blind_lists.py
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.baselines import best_constant_list  # noqa: E402
from evaluation.judge import ClinicalJudge  # noqa: E402
from evaluation.ontology import default_ontology  # noqa: E402
from training.rewards import DiagnosisReward  # noqa: E402

F17K = Path(os.environ.get("SKINFLOW_F17K_CSV", "/work/shared/data/fitzpatrick17k.csv"))
K = 6
UMBRELLA = ["Papulosquamous disorder", "Follicular disorder", "Keratinocyte carcinoma", "Eczema",
            "Parasitic skin disease", "Autoimmune connective tissue disease"]


def f17k_labels() -> Counter:
    with open(F17K, newline="", encoding="utf-8") as fh:
        return Counter(row["label"] for row in csv.DictReader(fh) if "wrongly" not in (row.get("qc") or "").lower())


def evaluate(judge: ClinicalJudge, reward: DiagnosisReward, labels: Counter, names: list[str]) -> dict:
    """Top-k shares and the mean positional reward of answering ``names`` for every row."""
    answer = "<answer>" + json.dumps({f"top{K}_diseases": [{"disease": n} for n in names]}) + "</answer>"
    parsed = reward.parse(answer)
    assert parsed.ok, parsed.error
    total = sum(labels.values())
    hits = [0] * K
    reward_sum = 0.0
    for label, count in labels.items():
        verdicts = {n: v for n in names if (v := judge.judge_offline(label, n)) is not None}
        score = reward.score_parsed(parsed, verdicts)
        reward_sum += score.score * count
        if score.first_correct:
            for k in range(score.first_correct - 1, K):
                hits[k] += count
    return {"top": [h / total for h in hits], "reward": reward_sum / total}


def main() -> int:
    labels = f17k_labels()
    judge = ClinicalJudge(default_ontology())
    reward = DiagnosisReward(judge)
    best = best_constant_list(judge, labels, K)
    rows = {"umbrella": (UMBRELLA, evaluate(judge, reward, labels, UMBRELLA)),
            "best specific": (best, evaluate(judge, reward, labels, best))}
    print(f"{sum(labels.values()):,} Fitzpatrick17k rows, {len(labels)} labels, offline judge, K={K}")
    for title, (names, result) in rows.items():
        tops = "  ".join(f"Top-{k + 1} {share:6.1%}" for k, share in enumerate(result["top"]))
        print(f"{title:14s} {tops}  mean Stage II reward {result['reward']:.3f}")
        print(f"{'':14s} {names}")
    umbrella_top6, best_top6 = rows["umbrella"][1]["top"][-1], rows["best specific"][1]["top"][-1]
    ok = umbrella_top6 <= best_top6
    print(f"umbrella Top-6 {umbrella_top6:.1%} <= best specific Top-6 {best_top6:.1%}: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
