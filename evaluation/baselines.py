"""Image-blind baselines of an evaluation run (issue 11, item 3). Pure Python, no Django.

A model that never looks at the image can still score: it answers the same list for every photo.
Every report therefore shows, beside the model, two such constant lists on the same test set and
under the same offline ontology judge (:meth:`evaluation.judge.ClinicalJudge.judge_offline`):

* **label prior** — the K most frequent labels of the dataset's training split (ties broken by
  name); the caller falls back to the test set's own reference labels when the run has no dataset
  or the dataset has no training split, and says so (``source``);
* **best constant** — the constant list the judge credits most: a greedy search over the names of
  the ontology's conditions. Too-broad umbrellas ("skin disease", "papulosquamous disorder") are
  not candidates: the judge never credits them as a parent, only for a reference that is that
  very umbrella, and the list is meant to be specific conditions (as in
  ``benchmarks/bench_blind_lists.py``, which uses this search).
  Each step adds the name that credits the most test samples not credited yet (ties: the earlier
  condition in the ontology); the search stops early when no name adds anything, so the list can
  be shorter than K. Greedy is not guaranteed optimal for Top-K (set cover), but its first name is
  the best single name, so its Top-1 is the best any constant list can reach.

Conventions:

* Top-k as in :mod:`evaluation.metrics`: a sample counts when its first credited name is at rank
  ≤ k; a name repeated in the list is never the first credited one.
* **A reference the offline ontology cannot decide** (its name does not resolve, or a baseline
  name does not resolve) **counts as not credited**: no LLM is asked for a baseline. The number of
  such test samples is reported (``undecided_references``). The model's own metrics may credit
  those samples through the LLM judge, so on a test set with many unresolved labels the baselines
  are a lower bound.
* Speed: every verdict is computed once per (resolved reference condition, name) — references
  that resolve to the same condition get the same verdict — and for the greedy search only the
  names the offline judge can credit are judged: it credits only ``exact``, ``subclass``,
  ``parent_close`` and ``parent_coarse`` verdicts, so a name can be credited for a reference only when it resolves to the
  reference's condition, a descendant or an ancestor (``prune=False`` judges every pair; a test
  checks both give the same credit).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from evaluation.judge import normalize_name
from evaluation.metrics import first_correct_rank

if TYPE_CHECKING:
    from evaluation.judge import ClinicalJudge

__all__ = [
    "BASELINES",
    "SOURCE_TRAIN",
    "SOURCE_TEST",
    "CreditTable",
    "label_prior",
    "best_constant_list",
    "constant_list_top_k",
    "compute_baselines",
    "below_baselines",
    "below_messages",
]

SOURCE_TRAIN = "train split"
SOURCE_TEST = "test references"
# key -> title, in the order the pages show them
BASELINES: dict[str, str] = {"label_prior": "Label prior", "best_constant": "Best constant list"}
_EPS = 1e-9


class CreditTable:
    """Which names the offline judge credits for which test references, each pair judged once.

    ``references`` are the test set's reference labels (one per sample, repeats allowed). They are
    grouped by the condition they resolve to (the offline verdict depends on a reference only
    through that condition), and each (condition, name) pair is judged at most once; a reference
    that does not resolve is undecided and never credited.
    """

    def __init__(self, judge: "ClinicalJudge", references: Iterable[str]) -> None:
        self.judge = judge
        self.n = 0
        self.undecided = 0
        self.weights: Counter[str] = Counter()  # condition id -> test samples
        self._example: dict[str, str] = {}  # condition id -> one reference string that resolves to it
        for reference in references:
            self.n += 1
            cond = judge.resolve(reference) if isinstance(reference, str) else None
            if cond is None:
                self.undecided += 1
                continue
            self.weights[cond.id] += 1
            self._example.setdefault(cond.id, reference)
        self._verdicts: dict[tuple[str, str], bool] = {}

    @property
    def groups(self) -> list[str]:
        return list(self.weights)

    def credited(self, group: str, name: str) -> bool:
        """Whether the offline judge credits ``name`` for the references of condition ``group``."""
        key = (group, name)
        hit = self._verdicts.get(key)
        if hit is None:
            verdict = self.judge.judge_offline(self._example[group], name)
            hit = self._verdicts[key] = verdict is not None and verdict.correct
        return hit

    def related(self, group: str) -> set[str]:
        """The condition ids a name must resolve to for the judge to be able to credit it for
        ``group``: the condition itself, its descendants and its ancestors."""
        onto = self.judge.ontology
        return {group, *onto.descendants(group), *onto.ancestors(group)}


def _top_k(table: CreditTable, names: Sequence[str], k: int) -> list[float]:
    """Top-1..Top-k of answering ``names`` (cut to k) for every sample of ``table``."""
    names = list(names)[:k]
    hits = [0] * k
    for group, weight in table.weights.items():
        categories = ["exact" if table.credited(group, n) else "unrelated" for n in names]
        rank = first_correct_rank(names, categories, k)
        if rank is not None:
            for j in range(rank - 1, k):
                hits[j] += weight
    return [h / table.n if table.n else 0.0 for h in hits]


def constant_list_top_k(judge: "ClinicalJudge", references: Iterable[str], names: Sequence[str], k: int) -> list[float]:
    """Top-1..Top-k of answering the same ``names`` for every reference (offline judge)."""
    return _top_k(CreditTable(judge, references), names, k)


def label_prior(labels: Iterable[str], k: int) -> list[tuple[str, int]]:
    """The ``k`` most frequent labels as (name, count), most frequent first, ties by name.

    Labels that differ only in case or punctuation are one label (shown in its most frequent
    spelling): a list that repeats a name would waste a slot."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            continue
        key = normalize_name(label)
        if not key:
            continue
        counts[key] += 1
        spellings.setdefault(key, Counter())[label.strip()] += 1
    shown = {key: min(sp.items(), key=lambda p: (-p[1], p[0]))[0] for key, sp in spellings.items()}
    ranked = sorted(counts, key=lambda key: (-counts[key], shown[key].casefold(), shown[key]))
    return [(shown[key], counts[key]) for key in ranked[:k]]


def _candidates(judge: "ClinicalJudge") -> list[tuple[str, str]]:
    """(name, the condition id it resolves to) of every candidate, in ontology order."""
    out = []
    for cond in judge.ontology:
        if cond.too_broad:
            continue
        resolved = judge.resolve(cond.name)
        if resolved is not None:
            out.append((cond.name, resolved.id))
    return out


def _greedy(table: CreditTable, k: int, prune: bool) -> list[str]:
    candidates = _candidates(table.judge)
    order = {name: i for i, (name, _) in enumerate(candidates)}
    cover: dict[str, set[str]] = {}
    if prune:
        by_condition: dict[str, list[str]] = {}
        for name, cid in candidates:
            by_condition.setdefault(cid, []).append(name)
        for group in table.weights:
            for cid in table.related(group):
                for name in by_condition.get(cid, ()):
                    if table.credited(group, name):
                        cover.setdefault(name, set()).add(group)
    else:
        for group in table.weights:
            for name, _ in candidates:
                if table.credited(group, name):
                    cover.setdefault(name, set()).add(group)
    chosen: list[str] = []
    covered: set[str] = set()
    names = sorted(cover, key=order.__getitem__)
    for _ in range(k):
        best, gain = None, 0
        for name in names:
            g = sum(table.weights[group] for group in cover[name] - covered)
            if g > gain:
                best, gain = name, g
        if best is None:  # nothing left to credit
            break
        chosen.append(best)
        covered |= cover[best]
    return chosen


def best_constant_list(judge: "ClinicalJudge", references: Iterable[str] | Mapping[str, int], k: int,
                       *, prune: bool = True) -> list[str]:
    """The greedy best constant list of up to ``k`` ontology names for ``references``.

    ``references`` is one label per sample, or a mapping label -> number of samples."""
    if isinstance(references, Mapping):
        references = [label for label, count in references.items() for _ in range(count)]
    return _greedy(CreditTable(judge, references), k, prune)


def compute_baselines(
    judge: "ClinicalJudge",
    references: Sequence[str],
    k: int,
    *,
    prior_labels: Iterable[str] | None = None,
    source_note: str = "",
    model_top_k: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Both baselines on the test set ``references`` (one reference label per sample).

    ``prior_labels``: the training split's labels; None (or no label) falls back to
    ``references`` themselves, and ``source`` says which was used. ``source_note`` is the caller's
    reason for the fallback, shown on the page. With ``model_top_k`` (the model's Top-1..Top-K on
    the same samples) the result also says where the model is below a baseline (``model_below``,
    see :func:`below_baselines`).
    """
    table = CreditTable(judge, references)
    prior_labels = [label for label in (prior_labels or ()) if isinstance(label, str) and label.strip()]
    source = SOURCE_TRAIN if prior_labels else SOURCE_TEST
    prior = label_prior(prior_labels if prior_labels else references, k)
    prior_names = [name for name, _ in prior]
    best = _greedy(table, k, prune=True)
    result = {
        "k": k,
        "n": table.n,
        "judge": "offline ontology",
        "source": source,
        "source_note": source_note if source == SOURCE_TEST else "",
        "prior_labels": len(prior_labels) if prior_labels else table.n,
        "undecided_references": table.undecided,
        "label_prior": {"names": prior_names, "counts": [count for _, count in prior],
                        "top_k": _top_k(table, prior_names, k)},
        "best_constant": {"names": best, "top_k": _top_k(table, best, k)},
    }
    if model_top_k is not None:
        result["model_below"] = below_baselines(model_top_k, result)
    return result


def below_baselines(model_top_k: Sequence[float], baselines: Mapping[str, Any]) -> dict[str, list[int]]:
    """Where the model is below a baseline: {baseline key: the k's (1 and K) where its Top-k is
    lower}, only baselines it is below. Compared at Top-1 and Top-K, K the shorter of the two lists."""
    out: dict[str, list[int]] = {}
    for key in BASELINES:
        base = (baselines.get(key) or {}).get("top_k") or []
        k = min(len(base), len(model_top_k))
        if not k:
            continue
        ks = sorted({1, k})
        lower = [j for j in ks if model_top_k[j - 1] + _EPS < base[j - 1]]
        if lower:
            out[key] = lower
    return out


def below_messages(model_top_k: Sequence[float], baselines: Mapping[str, Any]) -> list[str]:
    """One phrase per baseline the model is below, e.g. "below the label prior at Top-1 (0.00 % vs
    18.18 %) and Top-6 (0.00 % vs 45.45 %)"; empty when it is below neither."""
    out = []
    for key, ks in below_baselines(model_top_k, baselines).items():
        base = baselines[key]["top_k"]
        where = " and ".join(f"Top-{j} ({100 * model_top_k[j - 1]:.2f} % vs {100 * base[j - 1]:.2f} %)" for j in ks)
        out.append(f"below the {BASELINES[key].lower()} at {where}")
    return out
