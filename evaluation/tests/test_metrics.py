"""evaluation.metrics on small cases computed by hand."""

from __future__ import annotations

import math

import pytest

from evaluation.metrics import (
    MISSING,
    SampleResult,
    bootstrap_ci,
    compare_runs,
    evaluate,
    first_correct_rank,
    judge_agreement,
    pearson,
    spearman,
)


def s(id_, preds, *repeats, ref="psoriasis", skin=None) -> SampleResult:
    return SampleResult(id=id_, reference=ref, predictions=tuple(preds), judgements=tuple(repeats), skin_type=skin)


def test_first_correct_position_decides_top_k() -> None:
    report = evaluate([
        s("a", ["x", "y", "z"], ["sibling", "exact", "unrelated"]),       # first correct at 2
        s("b", ["x", "y", "z"], ["parent_coarse", "sibling", "exact"]),   # at 1 (parent_coarse is true)
        s("c", ["x", "y", "z"], ["parent_broad", "sibling", "unrelated"]),  # never
        s("d", ["x", "y", "z"], ["unrelated", "invalid", "subclass"]),    # at 3
    ], k=3)
    assert report.n == 4 and report.repeats == 1
    assert report.top_k == [0.25, 0.5, 0.75]
    assert report.top_k_std == [0.0, 0.0, 0.0]


def test_mean_and_std_over_judge_repeats() -> None:
    # Repeat 0: both correct at rank 1. Repeat 1: one at rank 1, one at 2. Repeat 2: none correct.
    report = evaluate([
        s("a", ["x", "y"], ["exact", "sibling"], ["exact", "sibling"], ["sibling", "sibling"]),
        s("b", ["x", "y"], ["exact", "sibling"], ["sibling", "exact"], ["unrelated", "sibling"]),
    ], k=2)
    assert report.top_k_per_repeat == [[1.0, 1.0], [0.5, 1.0], [0.0, 0.0]]
    assert report.top_k == pytest.approx([0.5, 2 / 3])
    assert report.top_k_std[0] == pytest.approx(0.5)            # stdev(1, .5, 0)
    assert report.top_k_std[1] == pytest.approx(math.sqrt(1 / 3))  # stdev(1, 1, 0)


def test_ties_a_list_with_two_correct_names_counts_once_at_the_first() -> None:
    # Two correct names (a tie in correctness): the first one decides, nothing is counted twice.
    report = evaluate([s("a", ["psoriasis", "plaque psoriasis"], ["exact", "subclass"])], k=2)
    assert report.top_k == [1.0, 1.0]
    assert report.category_counts[0]["exact"] == 1 and report.category_counts[1]["subclass"] == 1


def test_duplicate_names_never_become_the_first_correct() -> None:
    preds = ["Eczema", "psoriasis", "PSORIASIS!"]
    # A later overrule may mark only the repeat correct: it still cannot count.
    cats = ["sibling", "sibling", "exact"]
    assert first_correct_rank(preds, cats) is None
    report = evaluate([s("a", preds, cats)], k=3)
    assert report.top_k == [0.0, 0.0, 0.0]
    # ... but it keeps its slot and its category in the per-rank counts.
    assert report.category_counts[2]["exact"] == 1


def test_empty_list_and_fewer_than_k_predictions() -> None:
    report = evaluate([
        s("empty", [], []),                       # malformed answer: K missing slots
        s("short", ["x", "y"], ["sibling", "exact"]),
    ], k=4)
    assert report.top_k == [0.0, 0.5, 0.5, 0.5]
    assert report.category_counts[0] == {**report.category_counts[0], "sibling": 1, MISSING: 1}
    assert report.category_counts[1]["exact"] == 1 and report.category_counts[1][MISSING] == 1
    assert report.category_counts[2][MISSING] == 2 and report.category_counts[3][MISSING] == 2
    for rank in report.category_shares:
        assert sum(rank.values()) == pytest.approx(1.0)


def test_predictions_beyond_k_do_not_count() -> None:
    report = evaluate([s("a", ["x", "y", "z"], ["sibling", "sibling", "exact"])], k=2)
    assert report.top_k == [0.0, 0.0]
    assert len(report.category_counts) == 2


def test_category_counts_add_over_repeats_and_safety_rates() -> None:
    report = evaluate([
        s("a", ["x", "y"], ["safety_critical", "exact"], ["safety_critical", "exact"]),
        s("b", ["x"], ["sibling"], ["safety_critical"]),
    ], k=2)
    assert report.category_counts[0]["safety_critical"] == 3
    assert report.category_shares[0]["safety_critical"] == pytest.approx(3 / 4)
    # 6 predictions made (2+2+1+1), 3 of them safety-critical, all at rank 1 (3 of 4 rank-1 slots).
    assert report.safety_critical_rate == pytest.approx(3 / 6)
    assert report.safety_critical_top1_rate == pytest.approx(3 / 4)


def test_per_label_and_skin_type_groups_with_gap() -> None:
    report = evaluate([
        s("1", ["x"], ["exact"], ref="Psoriasis", skin=1),
        s("2", ["x"], ["sibling"], ref="psoriasis", skin=2),
        s("3", ["x"], ["exact"], ref="acne", skin=5),
        s("4", ["x"], ["exact"], ref="acne", skin=None),
    ], k=1)
    labels = {row["label"].lower(): row for row in report.per_label}
    assert labels["psoriasis"]["n"] == 2 and labels["psoriasis"]["top_k"] == [0.5]
    assert labels["acne"]["top_k"] == [1.0]
    groups = report.skin_types["groups"]
    assert groups["1-2"] == {"n": 2, "top_k": [0.5]}
    assert groups["3-4"] == {"n": 0, "top_k": None}
    assert groups["5-6"] == {"n": 1, "top_k": [1.0]}
    assert report.skin_types["unknown"] == 1
    assert report.skin_types["gap"] == [0.5]


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_n() -> None:
    small = [1.0, 0.0] * 10
    large = [1.0, 0.0] * 1000
    lo_s, hi_s = bootstrap_ci(small, seed=1)
    lo_l, hi_l = bootstrap_ci(large, seed=1)
    assert lo_s <= 0.5 <= hi_s and lo_l <= 0.5 <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    report = evaluate([s(str(i), ["x"], ["exact" if i % 2 else "sibling"]) for i in range(200)], k=1)
    lo, hi = report.top_k_ci[0]
    assert lo < 0.5 < hi and hi - lo < 0.2


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="categories for"):
        s("a", ["x", "y"], ["exact"])
    with pytest.raises(ValueError, match="unknown judge category"):
        s("a", ["x"], ["right"])
    with pytest.raises(ValueError, match="same number of judge repeats"):
        evaluate([s("a", ["x"], ["exact"]), s("b", ["x"], ["exact"], ["exact"])])


def test_paired_comparison_counts_discordant_samples() -> None:
    a = [s(str(i), ["x"], ["exact" if i < 3 else "sibling"]) for i in range(10)]
    b = [s(str(i), ["x"], ["exact" if i < 8 else "sibling"]) for i in range(10)] + [s("extra", ["x"], ["exact"])]
    result = compare_runs(a, b, k=1)
    row = result["per_k"][0]
    assert result["n"] == 10 and result["only_in_b"] == 1
    assert (row["a"], row["b"]) == (0.3, 0.8) and row["diff"] == pytest.approx(0.5)
    assert (row["both"], row["only_a"], row["only_b"], row["neither"]) == (3, 0, 5, 2)
    assert row["mcnemar_p"] == pytest.approx(2 / 32)  # 5 of 5 discordant pairs favour b
    lo, hi = row["diff_ci95"]
    assert lo > 0 and hi <= 1


def test_judge_agreement_with_dermatologists() -> None:
    result = judge_agreement([("exact", "exact"), ("sibling", "unrelated"), ("exact", "sibling"), ("sibling", "sibling")])
    assert result["n"] == 4
    assert result["category_agreement"] == 0.5
    assert result["correctness_agreement"] == 0.75
    # judge correct: T F T F; derm correct: T F F F -> po .75, pe .5*.25+.5*.75 = .5, kappa .5
    assert result["kappa"] == pytest.approx(0.5)
    assert judge_agreement([])["category_agreement"] is None


def test_pearson_and_spearman_with_ties() -> None:
    # Table 1 of the paper: reward rises with accuracy except Lingshu-32B.
    reward = [6.162, 6.688, 5.924, 6.912, 7.186]
    accuracy = [13.79, 23.00, 24.14, 26.44, 27.59]
    assert spearman(reward, accuracy) == pytest.approx(0.7)  # ranks 2,3,1,4,5 vs 1..5: 1 - 6*6/120
    assert 0.5 < pearson(reward, accuracy) < 0.9
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(pearson([1, 2.5, 2.5, 4], [1, 2, 3, 4]))
    assert pearson([1, 1, 1], [1, 2, 3]) is None and spearman([1], [2]) is None
