"""Judging many top-K lists concurrently (pure Python, no Django).

Each job is one sample's whole list for one repeat: the judge decides what the ontology can and
sends the rest of that list in one LLM call, so the judge endpoint sees at most one call per
(sample, repeat). Results are yielded in the caller's thread as they complete, so a Django caller
can store each one at once (what makes a killed run resumable) without touching the ORM from
other threads.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Iterator

from evaluation.judge import ClinicalJudge, Verdict

__all__ = ["JudgeJob", "JudgeOutcome", "judge_jobs", "judge_offline_list"]


@dataclass(frozen=True)
class JudgeJob:
    key: Hashable
    reference: str
    predictions: tuple[str, ...]
    repeat: int


@dataclass(frozen=True)
class JudgeOutcome:
    job: JudgeJob
    verdicts: list[Verdict] | None
    error: BaseException | None = None


def judge_jobs(judge: ClinicalJudge, jobs: Iterable[JudgeJob], *, concurrency: int = 8) -> Iterator[JudgeOutcome]:
    """Run ``jobs`` with at most ``concurrency`` in flight; yield each outcome as it finishes.

    Jobs are submitted lazily (a window of ``2 × concurrency``), so a run of any size holds little
    memory and a caller that stops iterating leaves few calls behind.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    pending_jobs = iter(jobs)
    window = 2 * concurrency

    def one(job: JudgeJob) -> list[Verdict]:
        if not job.predictions:
            return []
        return judge.judge_list(job.reference, list(job.predictions), repeat=job.repeat)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="judge") as pool:
        running: dict[Future, JudgeJob] = {}

        def refill() -> None:
            while len(running) < window:
                job = next(pending_jobs, None)
                if job is None:
                    return
                running[pool.submit(one, job)] = job

        refill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                error = future.exception()
                yield JudgeOutcome(job, None if error else future.result(), error)
            refill()


def judge_offline_list(judge: ClinicalJudge, reference: str, predictions: Iterable[str]) -> tuple[list[Verdict], int]:
    """Ontology-only verdicts; a name the ontology cannot decide counts as ``unrelated`` (not correct).

    Returns the verdicts and how many were undecided, so the caller can say so.
    """
    verdicts: list[Verdict] = []
    undecided = 0
    for name in predictions:
        verdict = judge.judge_offline(reference, name)
        if verdict is None:
            undecided += 1
            verdict = Verdict(name, "unrelated", False, "undecided offline: not in the ontology, no LLM asked", "offline")
        verdicts.append(verdict)
    return verdicts, undecided


def verdict_dict(verdict: Verdict) -> dict[str, Any]:
    return {"category": verdict.category, "rationale": verdict.rationale, "source": verdict.source}
