"""``python manage.py evaluate_predictions FILE [--offline] [--repeats N] [--k K] [--json] [--attach NAME ...]``

Judge predictions made elsewhere (e.g. by a checkpoint served on a GPU cluster) and print the
metrics. ``FILE`` (``-`` for stdin) holds JSON lines::

    {"id": "abc", "reference": "psoriasis", "predictions": ["psoriasis", "eczema"], "skin_type": 3}

``--offline`` never calls an LLM: the ontology decides, and a name it cannot decide counts as
``unrelated`` (the output says how many); there is then one repeat. Online, each (sample, repeat)
costs at most one judge call for the names the ontology cannot decide.

``--json`` prints the metrics as one JSON object: ``top_k`` (K accuracies in [0, 1], mean over the
repeats), ``top_k_std``, ``top_k_ci95``, ``n``, ``repeats``, ``category_counts`` (per rank, the
count of each judge category over all repeats, plus ``missing`` for empty slots), shares, the
safety-critical rates, per label and per skin-type group, and ``baselines``: the image-blind label
prior and best constant list on the same samples under the offline judge (``label_prior`` /
``best_constant`` with ``names`` and ``top_k``, ``source``, ``model_below``; see
:mod:`evaluation.baselines`). Without ``--attach --dataset`` there is no training split, so the
label prior is the file's own most frequent references (``source`` says so).

``--attach NAME`` also stores the predictions and verdicts as an evaluation run (kind
"imported") for the report pages; ``--model-name``, ``--test-set``, ``--dataset`` (link rows to
samples by external id, so pages show the images), ``--dve`` / ``--stage1`` (ablation view) describe it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation import baselines as baselines_core
from evaluation import metrics as metrics_core
from evaluation.judge import ClinicalJudge
from evaluation.judging import JudgeJob, judge_jobs, judge_offline_list


def _yes_no(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("yes", "y", "true", "1"):
        return True
    if lowered in ("no", "n", "false", "0"):
        return False
    raise ValueError(value)


class Command(BaseCommand):
    help = "Judge predictions from a JSON-lines file and print Top-1..Top-K metrics."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON lines with id, reference, predictions, skin_type ('-' for stdin)")
        parser.add_argument("--offline", action="store_true", help="ontology only; never call an LLM")
        parser.add_argument("--repeats", type=int, default=3, help="judge repeats (default 3; 1 when --offline)")
        parser.add_argument("--k", type=int, default=6, help="K of Top-K (default 6)")
        parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
        parser.add_argument("--attach", metavar="NAME", help="store as an evaluation run with this name")
        parser.add_argument("--model-name", default="", help="model name for the leaderboard (with --attach)")
        parser.add_argument("--test-set", default="", help="test-set name for the leaderboard (with --attach)")
        parser.add_argument("--dataset", default="", help="dataset whose samples the ids refer to (with --attach)")
        parser.add_argument("--dve", type=_yes_no, default=None, help="yes/no: the model has the DVE (ablation)")
        parser.add_argument("--stage1", type=_yes_no, default=None, help="yes/no: the model had Stage I (ablation)")
        parser.add_argument("--concurrency", type=int, default=None, help="judge calls in flight (default: the judge endpoint's)")

    def handle(self, *args: Any, **options: Any) -> None:
        from evaluation.services import EvalError, validate_prediction_rows

        k, offline = options["k"], options["offline"]
        repeats = 1 if offline else options["repeats"]
        if k < 1 or repeats < 1:
            raise CommandError("--k and --repeats must be at least 1")
        raw_rows = self._read(options["file"], options.get("stdin"))
        try:
            rows = validate_prediction_rows(raw_rows)
        except EvalError as exc:
            raise CommandError(str(exc)) from exc
        if not rows:
            raise CommandError("the file holds no predictions")

        if options["attach"]:
            report, undecided = self._attach(rows, k, repeats, offline, options)
        else:
            report, undecided = self._judge_in_memory(rows, k, repeats, offline, options["concurrency"])
        if offline:
            report["undecided_offline"] = undecided
        if "baselines" not in report:  # judged in memory: no dataset, hence no training split
            report["baselines"] = baselines_core.compute_baselines(
                ClinicalJudge(), [row["reference"] for row in rows], k, model_top_k=report["top_k"],
                source_note="the predictions come from a file with no dataset (use --attach with --dataset for its "
                            "training split)")
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False))
        else:
            self.stdout.write(format_report(report))

    # ------------------------------------------------------------------------------------------

    def _read(self, path: str, stdin: Any) -> list[Any]:
        try:
            handle = (stdin or sys.stdin) if path == "-" else open(path, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        rows, problems = [], []
        with handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    problems.append(f"line {number}: not valid JSON ({exc.msg})")
        if problems:
            raise CommandError("; ".join(problems[:20]))
        return rows

    def _judge_in_memory(self, rows: list[dict], k: int, repeats: int, offline: bool,
                         concurrency: int | None) -> tuple[dict, int]:
        undecided = 0
        categories: dict[tuple[str, int], tuple[str, ...]] = {}
        if offline:
            judge = ClinicalJudge()
            for row in rows:
                verdicts, missed = judge_offline_list(judge, row["reference"], row["predictions"][:k])
                undecided += missed
                categories[(row["id"], 0)] = tuple(v.category for v in verdicts)
        else:
            from tqdm import tqdm

            from webapp.gateway import CallRecorder, build_gateway

            recorder = CallRecorder(purpose="evaluate_predictions")
            judge = ClinicalJudge(gateway=build_gateway(recorder))
            jobs = [JudgeJob(row["id"], row["reference"], tuple(row["predictions"][:k]), r)
                    for row in rows for r in range(repeats)]
            limit = concurrency or judge.gateway.endpoint("judge").max_concurrency
            failed = []
            try:
                with tqdm(total=len(jobs), desc="judging", unit="list", file=self.stderr._out, disable=len(jobs) < 50) as bar:
                    for outcome in judge_jobs(judge, jobs, concurrency=limit):
                        if outcome.error is not None:
                            failed.append(outcome)
                        else:
                            categories[(outcome.job.key, outcome.job.repeat)] = tuple(v.category for v in outcome.verdicts)
                        bar.update(1)
            finally:
                judge.gateway.close()
                recorder.flush()
            if failed:
                raise CommandError(f"{len(failed)} judge call(s) failed, e.g. {failed[0].error}")
        samples = [
            metrics_core.SampleResult(
                id=row["id"], reference=row["reference"], predictions=tuple(row["predictions"][:k]),
                judgements=tuple(categories[(row["id"], r)] for r in range(repeats)), skin_type=row["skin_type"],
            )
            for row in rows
        ]
        return metrics_core.evaluate(samples, k=k).to_dict(), undecided

    def _attach(self, rows: list[dict], k: int, repeats: int, offline: bool, options: dict) -> tuple[dict, int]:
        from annotations.models import Dataset
        from evaluation import services

        dataset = None
        if options["dataset"]:
            dataset = Dataset.objects.filter(name=options["dataset"]).first()
            if dataset is None:
                raise CommandError(f"no dataset named {options['dataset']!r}")
        run = services.import_predictions(
            rows, name=options["attach"], model_name=options["model_name"] or options["attach"],
            test_set=options["test_set"] or (dataset.name if dataset else "imported"), k=k, judge_repeats=repeats,
            dataset=dataset, uses_dve=options["dve"], uses_stage1=options["stage1"],
        )
        undecided = 0
        if offline:
            undecided = services.store_offline_judgements(run, ClinicalJudge())
        else:
            failures = services.judge_pending(run.id, concurrency=options["concurrency"], progress=len(rows) * repeats >= 50)
            if failures:
                raise CommandError(f"{failures} judge call(s) failed; run {run.id} is stored: resume it from its page")
        run.refresh_from_db()
        self.stderr.write(f"stored as evaluation run {run.id} ({run.name})")
        report = dict(run.metrics)
        report["run_id"] = run.id
        return report, undecided


def _pct(value: float | None) -> str:
    return "  -  " if value is None else f"{100 * value:5.1f}"


def format_report(report: dict) -> str:
    """The metrics as a short text table (what the command prints without --json)."""
    k = report["k"]
    lines = [f"n = {report['n']} samples, {report['repeats']} judge repeat(s), K = {k}", ""]
    lines.append("        " + " ".join(f"Top-{j + 1:<2}" for j in range(k)))
    lines.append("mean  % " + " ".join(f"{_pct(v):>6}" for v in report["top_k"]))
    lines.append("std   % " + " ".join(f"{_pct(v):>6}" for v in report["top_k_std"]))
    cis = report.get("top_k_ci95") or []
    lines.append("95%CI   " + " ".join(
        f"{(f'{100 * c[0]:.0f}-{100 * c[1]:.0f}' if c else '-'):>6}" for c in cis))
    lines.append("")
    lines.append("categories per rank (counts over all repeats):")
    keys = list(metrics_core.COUNT_KEYS)
    lines.append("rank " + " ".join(f"{key[:10]:>10}" for key in keys))
    for rank, counts in enumerate(report["category_counts"], start=1):
        lines.append(f"{rank:>4} " + " ".join(f"{counts[key]:>10}" for key in keys))
    lines.append("")
    lines.append(f"safety-critical: {100 * report['safety_critical_rate']:.1f}% of predictions, "
                 f"{100 * report['safety_critical_top1_rate']:.1f}% of rank-1 predictions")
    groups = report["skin_types"]["groups"]
    parts = [f"{name}: n={g['n']} top1={_pct(g['top_k'][0] if g['top_k'] else None).strip()}%" for name, g in groups.items()]
    gap = report["skin_types"]["gap"]
    lines.append("skin types " + "; ".join(parts) + (f"; top-1 gap {100 * gap[0]:.1f} points" if gap else ""))
    b = report.get("baselines")
    if b:
        source = ("the training split" + (f" of {b['prior_dataset']}" if b.get("prior_dataset") else "")
                  if b["source"] == baselines_core.SOURCE_TRAIN else "the test references: " + (b.get("source_note") or ""))
        lines.append("")
        lines.append(f"image-blind baselines (offline judge, same {b['n']} samples; label prior from {source}):")
        for key, title in baselines_core.BASELINES.items():
            base = b.get(key) or {}
            lines.append(f"{title.lower():<19}% " + " ".join(f"{_pct(v):>6}" for v in base.get("top_k") or []))
            lines.append(f"{'':<21}" + ", ".join(base.get("names") or []))
        below = baselines_core.below_messages(report["top_k"], b)
        lines.append("model is BELOW an image-blind baseline: " + "; ".join(below) if below
                     else f"model is not below either baseline at Top-1 or Top-{len(report['top_k'])}")
        if b.get("undecided_references"):
            lines.append(f"baselines: {b['undecided_references']} reference(s) the ontology cannot decide count as not credited")
    if "undecided_offline" in report:
        lines.append(f"offline: {report['undecided_offline']} prediction(s) the ontology could not decide counted as unrelated")
    if "run_id" in report:
        lines.append(f"stored as evaluation run {report['run_id']}")
    return "\n".join(lines)
