"""``python manage.py reward_validation FILE [--study NAME] [--k 1] [--summary] [--json]``

Table 1 of the paper. ``FILE`` holds JSON lines, one generated caption each::

    {"model": "Qwen2.5-VL-7B", "id": "abc", "label": "psoriasis", "caption": {...12 fields...},
     "reference_caption": {...}}

For each model: the mean caption reward (Stage I reward, the ``scorer`` role) and the Top-k
accuracy (Top-1 by default) of a diagnosis made from the caption alone (``diagnoser`` role, judged
against the label). Results are stored per study and shown at /evaluation/reward-validation/.
With ``--summary`` the lines already hold ``model``, ``caption_reward`` (0-10),
``diagnostic_accuracy`` (0-1) and optionally ``n``: they are stored as they are.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation import reward_validation as core
from evaluation import services


class Command(BaseCommand):
    help = "Caption reward against caption-only diagnostic accuracy, per model (Table 1)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--study", default="default")
        parser.add_argument("--k", type=int, default=1, help="accuracy is Top-k (default Top-1)")
        parser.add_argument("--summary", action="store_true", help="lines hold per-model results already")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with open(options["file"], encoding="utf-8") as fh:
                data = [json.loads(line) for line in fh if line.strip()]
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        if options["summary"]:
            results = [core.ModelValidation(model=d["model"], n=int(d.get("n", 0)),
                                            caption_reward=float(d["caption_reward"]),
                                            diagnostic_accuracy=float(d["diagnostic_accuracy"])) for d in data]
        else:
            try:
                rows = core.rows_from_dicts(data)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            results = self._compute(rows, options["k"])
        try:
            for r in results:
                services.record_reward_validation(options["study"], r.model, r.caption_reward, r.diagnostic_accuracy, r.n)
        except services.EvalError as exc:
            raise CommandError(str(exc)) from exc
        corr = core.correlations(results)
        if options["json"]:
            self.stdout.write(json.dumps({"study": options["study"], **corr, "models": [r.__dict__ for r in results]}))
            return
        self.stdout.write(f"{'model':<32} {'caption reward':>14} {'accuracy %':>10} {'n':>6}")
        for r in sorted(results, key=lambda r: r.caption_reward):
            self.stdout.write(f"{r.model:<32} {r.caption_reward:>14.3f} {100 * r.diagnostic_accuracy:>10.2f} {r.n:>6}")
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        self.stdout.write(f"Pearson r = {fmt(corr['pearson'])}, Spearman rho = {fmt(corr['spearman'])}")

    def _compute(self, rows: list, k: int) -> list:
        from evaluation.reward_validation_services import compute

        return compute(rows, k)
