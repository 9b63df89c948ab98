"""The offline judge on (reference, prediction) pairs drawn from public dermatology label sets.

Labels and each dataset's own malignancy flag are in evaluation/tests/data/public_labels.csv
(ISIC codes and hierarchical diagnoses, HAM10000, ISIC 2019/2020, PAD-UFES-20, Derm7pt, DDI disease
slugs, SCIN condition labels). Pairs are drawn with a fixed seed: for every label, predictions from
the same dataset, from another dataset, and written differently from how the dataset writes them
(slug hyphens as spaces, lower case, an "X, NOS" suffix), so the judge is not only tested on the
exact strings it indexes. Reports, against the issue's goals:

* unknown: pairs the ontology cannot decide (would go to the LLM) -- goal <= 2 %;
* flag agreement: labels whose dataset flag does not contradict the ontology's (malignant against
  benign / non-neoplastic), among labels the ontology flags -- goal >= 99 %; premalignant and
  indeterminate are the intermediate classes binary flags round either way, and every label on a
  different side of the safety boundary must be documented in layer_flag_disagreements;
* credited safety-critical pairs: the two datasets' flags are on opposite sides, yet the judge
  credits the prediction -- goal 0.

    .venv/bin/python benchmarks/bench_public_labels.py [--write-pairs]   # --write-pairs refreshes the test set
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.judge import ClinicalJudge  # noqa: E402
from evaluation.ontology import default_ontology  # noqa: E402

DATA = ROOT / "evaluation" / "tests" / "data"
LABELS = DATA / "public_labels.csv"
PAIRS = DATA / "public_label_pairs.csv"
SIDE = {"malignant": "action", "indeterminate": "action", "premalignant": "action", "benign": "no_action"}


def read_labels() -> list[dict]:
    with open(LABELS, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def restyle(label: str, rng: random.Random) -> str:
    """The label as another source or a model might write it."""
    roll = rng.random()
    if roll < 0.3 and "-" in label:
        return label.replace("-", " ")
    if roll < 0.5:
        return label.lower()
    if roll < 0.6 and "," not in label and "(" not in label:
        return f"{label}, NOS"
    return label


def make_pairs(labels: list[dict], seed: int = 11, per_label: int = 4) -> list[dict]:
    rng = random.Random(seed)
    by_source: dict[str, list[dict]] = {}
    for row in labels:
        by_source.setdefault(row["source"], []).append(row)
    pairs = []
    for ref in labels:
        same = by_source[ref["source"]]
        others = [r for r in labels if r["source"] != ref["source"]]
        picks = [rng.choice(same) for _ in range(per_label - 2)] + [rng.choice(others), ref]
        for pred in picks:
            pairs.append({"reference": ref["label"], "reference_flag": ref["source_flag"],
                          "prediction": restyle(pred["label"], rng), "prediction_flag": pred["source_flag"]})
    return pairs


def read_pairs() -> list[dict]:
    with open(PAIRS, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def measure(judge: ClinicalJudge, labels: list[dict], pairs: list[dict]) -> dict:
    onto = judge.ontology
    unknown = [p for p in pairs if judge.judge_offline(p["reference"], p["prediction"]) is None]
    documented = {item["label"] for item in onto.layer_flag_disagreements}
    decided = agree = same_side = 0
    disagreements = []
    for row in labels:
        cond = judge.resolve(row["label"])
        if not row["source_flag"] or cond is None or cond.neoplastic is None and onto.neo_side(cond.id) is None:
            continue
        decided += 1
        ours = cond.neoplastic or ("malignant" if onto.neo_side(cond.id) == "action" else "benign")
        if onto.neo_side(cond.id) == SIDE[row["source_flag"]]:
            same_side += 1
        # A contradiction is malignant against benign/non-neoplastic. Premalignant and indeterminate
        # are the intermediate classes that binary dataset flags round either way.
        if not ({ours, row["source_flag"]} >= {"malignant", "benign"} or
                (row["source_flag"] == "malignant" and ours == "non_neoplastic")):
            agree += 1
        else:
            disagreements.append((row["source"], row["label"], row["source_flag"], cond.neoplastic))
        if onto.neo_side(cond.id) != SIDE[row["source_flag"]] and row["label"] not in documented:
            disagreements.append(("UNDOCUMENTED side difference", row["source"], row["label"], row["source_flag"]))
    crossing = credited = 0
    credited_pairs = []

    documented_ids = {c.id for c in map(judge.resolve, documented) if c is not None}

    def flag(label: str, given: str) -> str:
        # A documented disagreement means the ontology's reasoned flag stands for that condition,
        # however the label is written.
        cond = judge.resolve(label)
        if cond is not None and cond.id in documented_ids:
            return "malignant" if onto.neo_side(cond.id) == "action" else "benign"
        return given

    for p in pairs:
        ref_flag, pred_flag = flag(p["reference"], p["reference_flag"]), flag(p["prediction"], p["prediction_flag"])
        if ref_flag and pred_flag and SIDE[ref_flag] != SIDE[pred_flag]:
            crossing += 1
            verdict = judge.judge_offline(p["reference"], p["prediction"])
            if verdict is not None and verdict.correct:
                credited += 1
                credited_pairs.append((p["reference"], p["prediction"], verdict.category))
    return {"pairs": len(pairs), "unknown": len(unknown), "unknown_pairs": unknown, "decided_labels": decided,
            "flag_agree": agree, "same_side": same_side, "disagreements": disagreements, "crossing_pairs": crossing,
            "credited_crossing": credited, "credited_pairs": credited_pairs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-pairs", action="store_true", help=f"regenerate {PAIRS.relative_to(ROOT)}")
    args = parser.parse_args()
    labels = read_labels()
    if args.write_pairs:
        pairs = make_pairs(labels)
        with open(PAIRS, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(pairs[0]))
            writer.writeheader()
            writer.writerows(pairs)
        print(f"wrote {len(pairs)} pairs to {PAIRS.relative_to(ROOT)}")
    result = measure(ClinicalJudge(default_ontology()), labels, read_pairs())
    unknown_share = result["unknown"] / result["pairs"]
    agree_share = result["flag_agree"] / max(1, result["decided_labels"])
    print(f"{len(labels)} labels from {len({r['source'] for r in labels})} public label sets, {result['pairs']} pairs")
    print(f"unknown (undecided offline): {result['unknown']} = {unknown_share:.2%} (goal <= 2 %)")
    for p in result["unknown_pairs"][:10]:
        print(f"    undecided: {p['reference']!r} vs {p['prediction']!r}")
    print(f"flag agreement among decided labels: {result['flag_agree']}/{result['decided_labels']} = {agree_share:.2%} (goal >= 99 %)")
    print(f"same side of the safety boundary as the dataset's flag: {result['same_side']}/{result['decided_labels']}"
          " (the rest are documented in the ontology's layer_flag_disagreements)")
    for item in result["disagreements"]:
        print(f"    contradiction: {item}")
    print(f"safety-critical pairs (flags on opposite sides): {result['crossing_pairs']}, credited: "
          f"{result['credited_crossing']} (goal 0)")
    for item in result["credited_pairs"][:10]:
        print(f"    credited across the boundary: {item}")
    ok = unknown_share <= 0.02 and agree_share >= 0.99 and result["credited_crossing"] == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
