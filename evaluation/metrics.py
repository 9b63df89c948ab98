"""Metrics of an evaluation run (section 4.1.4 and Table 2 of the paper). Pure Python + numpy, no Django.

Input: one :class:`SampleResult` per test sample — the ranked predictions and, for every judge
repeat, one judge category per prediction. Output: a :class:`Report` (``to_dict()`` is what the
pages, the CSV/JSON exports and ``evaluate_predictions --json`` show).

Conventions (the issue left them open; the report pages say the same):

* **Top-k** — a sample counts for Top-k when its first correct prediction is at rank ≤ k. Only the
  first K positions count; a list longer than K is cut.
* **Duplicates** — a prediction whose name (case/punctuation-insensitive) repeats an earlier one in
  the same list keeps its slot but can never be the first correct one, as in the Stage II reward:
  a model cannot gain anything by repeating itself.
* **Fewer than K predictions** — the empty slots are never correct; in the per-rank category counts
  they are counted under ``missing`` (not a judge category), so each rank's counts add up to the
  number of judgements. An empty list (malformed answer) is K missing slots.
* **Repeats** — each judge repeat gives one accuracy per k; the report shows their mean and
  standard deviation (sample std, ``ddof=1``; 0 for a single repeat). Category counts add up over
  all repeats (``judgements = n × repeats``); shares divide by that.
* **Bootstrap** — percentile intervals over samples resampled with replacement (seeded), of the
  per-sample score averaged over repeats, so judge noise and sample noise are both inside.
* **Skin-type groups** — Fitzpatrick 1-2, 3-4, 5-6; samples without a type are left out of the
  groups (and counted as ``unknown``). The gap is the largest minus the smallest group accuracy.
* **Safety-critical rate** — the share of all predictions made (slots that hold a name) judged
  ``safety_critical``, and separately the share of samples whose rank-1 prediction is.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from statistics import fmean, stdev
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from evaluation.judge import CATEGORIES, CORRECT_CATEGORIES, normalize_name

__all__ = [
    "MISSING",
    "SKIN_TYPE_GROUPS",
    "SampleResult",
    "Report",
    "first_correct_rank",
    "skin_type_group",
    "evaluate",
    "bootstrap_ci",
    "compare_runs",
    "judge_agreement",
    "pearson",
    "spearman",
]

MISSING = "missing"
COUNT_KEYS: tuple[str, ...] = (*CATEGORIES, MISSING)
SKIN_TYPE_GROUPS: dict[str, tuple[int, ...]] = {"1-2": (1, 2), "3-4": (3, 4), "5-6": (5, 6)}


@dataclass(frozen=True)
class SampleResult:
    """One judged sample. ``judgements[r][i]`` is the category of ``predictions[i]`` in repeat ``r``."""

    id: str
    reference: str
    predictions: tuple[str, ...]
    judgements: tuple[tuple[str, ...], ...]
    skin_type: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "predictions", tuple(self.predictions))
        object.__setattr__(self, "judgements", tuple(tuple(r) for r in self.judgements))
        if not self.judgements:
            raise ValueError(f"sample {self.id!r} has no judgement (need at least one repeat)")
        for repeat, cats in enumerate(self.judgements):
            if len(cats) != len(self.predictions):
                raise ValueError(
                    f"sample {self.id!r}, repeat {repeat}: {len(cats)} categories for {len(self.predictions)} predictions"
                )
            unknown = [c for c in cats if c not in CATEGORIES]
            if unknown:
                raise ValueError(f"sample {self.id!r}: unknown judge category {unknown[0]!r}")
        if self.skin_type is not None and self.skin_type not in range(1, 7):
            raise ValueError(f"sample {self.id!r}: skin_type must be 1-6 or None, got {self.skin_type!r}")

    @property
    def repeats(self) -> int:
        return len(self.judgements)


def _duplicate_positions(predictions: Sequence[str]) -> set[int]:
    seen: set[str] = set()
    duplicates: set[int] = set()
    for index, name in enumerate(predictions):
        key = normalize_name(name) if isinstance(name, str) else ""
        if key and key in seen:
            duplicates.add(index)
        seen.add(key)
    return duplicates


def first_correct_rank(predictions: Sequence[str], categories: Sequence[str], k: int | None = None) -> int | None:
    """1-based rank of the first correct prediction within the first ``k`` (all when None), or None."""
    duplicates = _duplicate_positions(predictions)
    limit = len(categories) if k is None else min(k, len(categories))
    for index in range(limit):
        if categories[index] in CORRECT_CATEGORIES and index not in duplicates:
            return index + 1
    return None


def skin_type_group(skin_type: int | None) -> str | None:
    for name, types in SKIN_TYPE_GROUPS.items():
        if skin_type in types:
            return name
    return None


def _sample_scores(samples: Sequence[SampleResult], k: int) -> np.ndarray:
    """scores[i, r, j]: sample i counts for Top-(j+1) in repeat r (0/1)."""
    repeats = samples[0].repeats if samples else 0
    scores = np.zeros((len(samples), repeats, k), dtype=np.float64)
    for i, sample in enumerate(samples):
        for r, cats in enumerate(sample.judgements):
            rank = first_correct_rank(sample.predictions, cats, k)
            if rank is not None:
                scores[i, r, rank - 1 :] = 1.0
    return scores


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of ``values`` (None for no values)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    means = data[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _bootstrap_columns(per_sample: np.ndarray, resamples: int, confidence: float, seed: int) -> list[tuple[float, float] | None]:
    """CI of the mean of each column of ``per_sample`` (n × k), the same resamples for every column."""
    n, k = per_sample.shape
    if n == 0:
        return [None] * k
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    means = per_sample[idx].mean(axis=1)  # resamples × k
    alpha = (1.0 - confidence) / 2.0
    qs = np.quantile(means, [alpha, 1.0 - alpha], axis=0)
    return [(float(qs[0, j]), float(qs[1, j])) for j in range(k)]


@dataclass
class Report:
    k: int
    n: int
    repeats: int
    top_k: list[float]
    top_k_std: list[float]
    top_k_per_repeat: list[list[float]]
    top_k_ci: list[tuple[float, float] | None]
    category_counts: list[dict[str, int]]
    category_shares: list[dict[str, float]]
    safety_critical_rate: float
    safety_critical_top1_rate: float
    per_label: list[dict[str, Any]]
    skin_types: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "n": self.n,
            "repeats": self.repeats,
            "judgements": self.n * self.repeats,
            "top_k": self.top_k,
            "top_k_std": self.top_k_std,
            "top_k_per_repeat": self.top_k_per_repeat,
            "top_k_ci95": [list(ci) if ci is not None else None for ci in self.top_k_ci],
            "category_counts": self.category_counts,
            "category_shares": self.category_shares,
            "safety_critical_rate": self.safety_critical_rate,
            "safety_critical_top1_rate": self.safety_critical_top1_rate,
            "per_label": self.per_label,
            "skin_types": self.skin_types,
            **self.extra,
        }


def evaluate(
    samples: Iterable[SampleResult],
    k: int = 6,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Report:
    """All metrics of a run; see the module docstring for the conventions."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    samples = list(samples)
    repeats = samples[0].repeats if samples else 0
    odd = next((s for s in samples if s.repeats != repeats), None)
    if odd is not None:
        raise ValueError(
            f"every sample needs the same number of judge repeats: {samples[0].id!r} has {repeats}, "
            f"{odd.id!r} has {odd.repeats}"
        )
    n = len(samples)
    scores = _sample_scores(samples, k)  # n × repeats × k
    if n:
        per_repeat = scores.mean(axis=0)  # repeats × k
        top_k = [float(v) for v in per_repeat.mean(axis=0)]
        top_k_std = [float(stdev(per_repeat[:, j])) if repeats > 1 else 0.0 for j in range(k)]
        per_sample = scores.mean(axis=1)  # n × k
        top_k_ci = _bootstrap_columns(per_sample, resamples, confidence, seed)
    else:
        per_repeat = np.zeros((0, k))
        top_k, top_k_std, top_k_ci = [0.0] * k, [0.0] * k, [None] * k
        per_sample = np.zeros((0, k))

    counts = [Counter({key: 0 for key in COUNT_KEYS}) for _ in range(k)]
    made = safety = safety_top1 = 0
    for sample in samples:
        for cats in sample.judgements:
            for rank in range(k):
                if rank < len(cats):
                    counts[rank][cats[rank]] += 1
                    made += 1
                    safety += cats[rank] == "safety_critical"
                else:
                    counts[rank][MISSING] += 1
            safety_top1 += bool(cats) and cats[0] == "safety_critical"
    judgements = n * repeats
    category_counts = [{key: int(c[key]) for key in COUNT_KEYS} for c in counts]
    category_shares = [{key: (c[key] / judgements if judgements else 0.0) for key in COUNT_KEYS} for c in counts]

    return Report(
        k=k,
        n=n,
        repeats=repeats,
        top_k=top_k,
        top_k_std=top_k_std,
        top_k_per_repeat=[[float(v) for v in row] for row in per_repeat],
        top_k_ci=top_k_ci,
        category_counts=category_counts,
        category_shares=category_shares,
        safety_critical_rate=safety / made if made else 0.0,
        safety_critical_top1_rate=safety_top1 / judgements if judgements else 0.0,
        per_label=_per_label(samples, per_sample, k),
        skin_types=_per_skin_type(samples, per_sample, k),
    )


def _per_label(samples: Sequence[SampleResult], per_sample: np.ndarray, k: int) -> list[dict[str, Any]]:
    rows: dict[str, list[int]] = defaultdict(list)
    names: dict[str, str] = {}
    for i, sample in enumerate(samples):
        key = normalize_name(sample.reference)
        rows[key].append(i)
        names.setdefault(key, sample.reference)
    out = []
    for key, idx in rows.items():
        acc = per_sample[idx].mean(axis=0)
        out.append({"label": names[key], "n": len(idx), "top_k": [float(v) for v in acc]})
    out.sort(key=lambda row: (-row["n"], row["label"].casefold()))
    return out


def _per_skin_type(samples: Sequence[SampleResult], per_sample: np.ndarray, k: int) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    unknown = 0
    for name in SKIN_TYPE_GROUPS:
        idx = [i for i, s in enumerate(samples) if skin_type_group(s.skin_type) == name]
        acc = [float(v) for v in per_sample[idx].mean(axis=0)] if idx else None
        groups[name] = {"n": len(idx), "top_k": acc}
    unknown = sum(1 for s in samples if s.skin_type is None)
    present = [g["top_k"] for g in groups.values() if g["top_k"] is not None]
    gap = [max(a[j] for a in present) - min(a[j] for a in present) for j in range(k)] if len(present) >= 2 else None
    return {"groups": groups, "unknown": unknown, "gap": gap}


# --------------------------------------------------------------------------------------------------
# Comparing two runs on the same samples


def _binomial_two_sided(successes: int, trials: int) -> float:
    """Exact two-sided p-value of ``successes`` in ``trials`` fair coin flips (McNemar's exact test)."""
    if trials == 0:
        return 1.0
    low = min(successes, trials - successes)
    tail = sum(math.comb(trials, i) for i in range(low + 1)) / 2**trials
    return min(1.0, 2.0 * tail)


def compare_runs(
    a: Iterable[SampleResult],
    b: Iterable[SampleResult],
    k: int = 6,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired comparison of run ``b`` against run ``a`` on the samples both judged (matched by id).

    Per k: both accuracies, the difference b − a with a paired bootstrap interval, and McNemar's
    exact test on per-sample correctness (a sample counts as correct in a run when it is correct in
    at least half of that run's repeats).
    """
    a_by_id = {s.id: s for s in a}
    b_by_id = {s.id: s for s in b}
    common = [i for i in a_by_id if i in b_by_id]
    sa = _sample_scores([a_by_id[i] for i in common], k).mean(axis=1) if common else np.zeros((0, k))
    sb = _sample_scores([b_by_id[i] for i in common], k).mean(axis=1) if common else np.zeros((0, k))
    diff = sb - sa
    cis = _bootstrap_columns(diff, resamples, confidence, seed)
    rows = []
    for j in range(k):
        ca, cb = sa[:, j] >= 0.5, sb[:, j] >= 0.5
        only_a, only_b = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
        rows.append({
            "k": j + 1,
            "a": float(sa[:, j].mean()) if common else 0.0,
            "b": float(sb[:, j].mean()) if common else 0.0,
            "diff": float(diff[:, j].mean()) if common else 0.0,
            "diff_ci95": list(cis[j]) if cis[j] is not None else None,
            "both": int(np.sum(ca & cb)),
            "only_a": only_a,
            "only_b": only_b,
            "neither": int(np.sum(~ca & ~cb)),
            "mcnemar_p": _binomial_two_sided(only_b, only_a + only_b),
        })
    return {
        "n": len(common),
        "only_in_a": len(a_by_id) - len(common),
        "only_in_b": len(b_by_id) - len(common),
        "per_k": rows,
    }


# --------------------------------------------------------------------------------------------------
# Judge vs dermatologists, and the reward validation correlations


def judge_agreement(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Agreement of the judge with dermatologists over reviewed predictions.

    ``pairs``: (judge category, dermatologist category). Reports the share with the same category,
    the share with the same correct/incorrect call, and Cohen's kappa of the correct/incorrect call.
    """
    pairs = list(pairs)
    n = len(pairs)
    if not n:
        return {"n": 0, "category_agreement": None, "correctness_agreement": None, "kappa": None}
    same_category = sum(j == d for j, d in pairs) / n
    jc = [j in CORRECT_CATEGORIES for j, _ in pairs]
    dc = [d in CORRECT_CATEGORIES for _, d in pairs]
    observed = sum(x == y for x, y in zip(jc, dc)) / n
    pj, pd = sum(jc) / n, sum(dc) / n
    expected = pj * pd + (1 - pj) * (1 - pd)
    kappa = (observed - expected) / (1 - expected) if expected < 1 else (1.0 if observed == 1 else 0.0)
    return {"n": n, "category_agreement": same_category, "correctness_agreement": observed, "kappa": kappa}


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r; None when undefined (fewer than 2 points, or a constant variable)."""
    if len(x) != len(y):
        raise ValueError("x and y need the same length")
    if len(x) < 2:
        return None
    mx, my = fmean(x), fmean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        mean_rank = (start + end) / 2 + 1
        for position in range(start, end + 1):
            ranks[order[position]] = mean_rank
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's r of the average ranks (ties handled)."""
    if len(x) != len(y):
        raise ValueError("x and y need the same length")
    return pearson(_average_ranks(x), _average_ranks(y))


def samples_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[SampleResult]:
    """SampleResults from plain dicts with ``id``, ``reference``, ``predictions``, ``judgements``
    and optional ``skin_type`` (the shape the exports use)."""
    return [
        SampleResult(
            id=str(r["id"]), reference=r["reference"], predictions=tuple(r["predictions"]),
            judgements=tuple(tuple(c) for c in r["judgements"]), skin_type=r.get("skin_type"),
        )
        for r in rows
    ]
