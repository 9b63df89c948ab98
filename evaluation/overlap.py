"""Does a test set hold training data? Asked before an evaluation run starts (the form warns and asks
for a confirmation) and stored on the run (the report shows the warning with the count).

Two rules, because evaluation may not import the training app (dependencies point
``training → evaluation → annotations``):

* **The split rule** (always): a sample of the ``train`` split is training data. Stage II trains on
  the train split (``annotations.selectors.eligible_samples("stage2", split="train")``), so evaluating
  the "all" split, or the train split, evaluates images a model trained here has seen.
* **Snapshot membership** (when the caller knows it): the training app, which creates the
  local-checkpoint run from one of its checkpoints, passes the sample ids of the snapshots that trained
  that checkpoint and its parents (``training_sample_ids``). Evaluation only counts the intersection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

TRAIN_SPLIT = "train"


@dataclass(frozen=True)
class Overlap:
    total: int  # test samples
    train_split: int  # of them in the train split
    snapshots: int  # of them in a training snapshot the caller named (-1: not known)
    count: int  # union of both

    @property
    def any(self) -> bool:
        return self.count > 0

    def note(self) -> str:
        """What the warning says: how many, and by which rule."""
        if not self.any:
            return ""
        parts = []
        if self.train_split:
            parts.append(f"{self.train_split} in the train split")
        if self.snapshots > 0:
            parts.append(f"{self.snapshots} in a training snapshot of the evaluated checkpoint")
        return (f"{self.count} of the {self.total} test samples are training data ({'; '.join(parts)}): "
                "a model that trained on them is scored on images it has seen, so its accuracy is inflated.")

    def as_dict(self, *, confirmed: bool) -> dict[str, Any]:
        if not self.any:
            return {}
        return {"count": self.count, "total": self.total, "train_split": self.train_split,
                "snapshots": max(self.snapshots, 0), "confirmed": confirmed, "note": self.note()}


def find_overlap(samples: Iterable[Any], training_sample_ids: Iterable[int] | None = None) -> Overlap:
    """The overlap of ``samples`` (objects with ``id`` and ``split``) with training data."""
    samples = list(samples)
    known = set(training_sample_ids) if training_sample_ids is not None else None
    in_train = {s.id for s in samples if s.split == TRAIN_SPLIT}
    in_snap = {s.id for s in samples if known is not None and s.id in known}
    return Overlap(total=len(samples), train_split=len(in_train), snapshots=len(in_snap) if known is not None else -1,
                   count=len(in_train | in_snap))
