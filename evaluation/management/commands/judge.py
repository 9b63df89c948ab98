"""``python manage.py judge [--offline] [--repeat N]``: judge JSON lines from stdin.

Input, one object per line: ``{"reference": "...", "prediction": "..."}``. Output, one JSON line per
input line, in input order: ``line``, ``reference``, ``prediction``, ``category``, ``correct``,
``source``, ``rationale``, ``reference_id`` and ``prediction_id`` (ontology ids, null when the name
does not resolve). A bad line yields ``{"line": n, "error": "..."}`` and processing goes on; blank
lines are skipped.

``--offline`` never calls an LLM: where the ontology cannot decide, ``category`` is ``"unknown"``
and ``correct`` and ``source`` are null. Online, all lines are read first and grouped by
reference, so each reference costs one judge call (chunked when long) for the names the ontology
cannot resolve.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from evaluation.judge import ClinicalJudge, JudgeError, Verdict, run_sync


class Command(BaseCommand):
    help = "Judge predicted diagnoses against references: JSON lines on stdin, JSON lines on stdout."
    # call_command(..., stdin=io.StringIO(...)) in tests, like Django's createsuperuser.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--offline", action="store_true", help="ontology only; never call an LLM")
        parser.add_argument("--repeat", type=int, default=0,
                            help="repeat index of this judgement (cached separately; the paper uses 0, 1, 2)")

    def handle(self, *args: Any, **options: Any) -> None:
        stdin = options.get("stdin") or sys.stdin
        rows = list(_read_rows(stdin))
        offline = options["offline"]
        self._recorder = None
        judge = ClinicalJudge(gateway=None if offline else self._gateway())
        try:
            verdicts = self._judge_offline(judge, rows) if offline else self._judge_online(judge, rows, options["repeat"])
        finally:
            if judge.gateway is not None:
                judge.gateway.close()
                if self._recorder is not None:
                    self._recorder.flush()
        for row in rows:
            if "error" in row:
                out = {"line": row["line"], "error": row["error"]}
            else:
                outcome = verdicts.get(row["line"])
                out = self._output(judge, row, outcome)
            self.stdout.write(json.dumps(out, ensure_ascii=False))

    def _gateway(self):
        from webapp.gateway import CallRecorder, build_gateway

        self._recorder = CallRecorder(purpose="judge command")
        return build_gateway(self._recorder)

    @staticmethod
    def _judge_offline(judge: ClinicalJudge, rows: list[dict]) -> dict[int, Verdict | None]:
        return {r["line"]: judge.judge_offline(r["reference"], r["prediction"]) for r in rows if "error" not in r}

    def _judge_online(self, judge: ClinicalJudge, rows: list[dict], repeat: int) -> dict[int, Verdict | str]:
        by_reference: dict[str, dict[str, None]] = {}
        for row in rows:
            if "error" not in row:
                by_reference.setdefault(row["reference"], {})[row["prediction"]] = None
        references = list(by_reference)
        done = 0

        async def one(reference: str) -> dict[str, Verdict]:
            nonlocal done
            try:
                return await judge.ajudge_names(reference, list(by_reference[reference]), repeat=repeat)
            finally:
                done += 1
                if len(references) >= 20 and (done % 50 == 0 or done == len(references)):
                    self.stderr.write(f"judged {done}/{len(references)} references")

        async def everything() -> list[Any]:
            return await asyncio.gather(*(one(r) for r in references), return_exceptions=True)

        outcomes = dict(zip(references, run_sync(everything())))
        result: dict[int, Verdict | str] = {}
        for row in rows:
            if "error" in row:
                continue
            outcome = outcomes[row["reference"]]
            if isinstance(outcome, BaseException):
                from webapp.llm import LLMError

                if not isinstance(outcome, (LLMError, JudgeError)):
                    raise outcome
                # Names the ontology decides do not need the failed call.
                offline = judge.judge_offline(row["reference"], row["prediction"])
                result[row["line"]] = offline or f"the judge LLM failed for this reference: {outcome}"
            else:
                result[row["line"]] = outcome[row["prediction"]]
        return result

    @staticmethod
    def _output(judge: ClinicalJudge, row: dict, outcome: Verdict | str | None) -> dict:
        if isinstance(outcome, str):
            return {"line": row["line"], "error": outcome}
        ref, pred = judge.resolve(row["reference"]), judge.resolve(row["prediction"])
        out: dict[str, Any] = {"line": row["line"], "reference": row["reference"], "prediction": row["prediction"]}
        if outcome is None:
            out.update(category="unknown", correct=None, source=None,
                       rationale="the ontology cannot decide and --offline forbids the LLM")
        else:
            out.update(category=outcome.category, correct=outcome.correct, source=outcome.source,
                       rationale=outcome.rationale)
        out.update(reference_id=ref.id if ref else None, prediction_id=pred.id if pred else None)
        return out


def _read_rows(stdin) -> Any:
    """Parsed input rows: {"line", "reference", "prediction"} or {"line", "error"}."""
    for number, raw in enumerate(stdin, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield {"line": number, "error": f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})"}
            continue
        if not isinstance(data, dict):
            yield {"line": number, "error": f"line {number}: expected a JSON object with 'reference' and 'prediction'"}
            continue
        problems = [key for key in ("reference", "prediction") if not isinstance(data.get(key), str)]
        if problems:
            yield {"line": number, "error": f"line {number}: {' and '.join(repr(p) for p in problems)} must be a string"}
            continue
        if not data["reference"].strip():
            yield {"line": number, "error": f"line {number}: 'reference' is empty"}
            continue
        yield {"line": number, "reference": data["reference"], "prediction": data["prediction"]}
