"""The offline judge on pairs drawn from public label sets (ISIC, HAM10000, ISIC 2019/2020,
PAD-UFES-20, Derm7pt, DDI, SCIN): evaluation/tests/data/public_label_pairs.csv, measured by
benchmarks/bench_public_labels.py. The issue's goals: <= 2 % undecided, >= 99 % flags without a
contradiction, no credited pair across the safety boundary."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from evaluation.judge import ClinicalJudge
from evaluation.ontology import default_ontology

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_public_labels.py"


@pytest.fixture(scope="module")
def result() -> dict:
    spec = importlib.util.spec_from_file_location("bench_public_labels", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    labels = bench.read_labels()
    assert {r["source"] for r in labels} == {"ham10000", "isic2019", "isic2020", "isic", "pad_ufes_20", "derm7pt",
                                             "ddi", "scin"}
    return bench.measure(ClinicalJudge(default_ontology()), labels, bench.read_pairs())


def test_almost_no_public_label_pair_is_left_to_the_llm(result):
    assert result["pairs"] > 1000
    assert result["unknown"] / result["pairs"] <= 0.02, result["unknown_pairs"][:10]


def test_dataset_flags_are_not_contradicted_and_side_differences_are_documented(result):
    assert result["flag_agree"] / result["decided_labels"] >= 0.99, result["disagreements"]
    assert not [d for d in result["disagreements"] if d[0] == "UNDOCUMENTED side difference"]


def test_no_pair_across_the_safety_boundary_is_credited(result):
    assert result["crossing_pairs"] > 100
    assert result["credited_crossing"] == 0, result["credited_pairs"]
