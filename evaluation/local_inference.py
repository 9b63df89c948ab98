"""Inference of an evaluation run on a local checkpoint (the ``gpu`` queue): one image at a time,
each answer stored on its item the moment it is generated, so a killed worker resumes where it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from PIL import Image

from evaluation.models import EvalItem, EvalRun
from evaluation.services import mark_working, note_failures, progress_bar, store_answer

MAX_NEW_TOKENS = 1024


def infer_pending_local(run_id: int, *, vlm: Any = None, max_new_tokens: int = MAX_NEW_TOKENS,
                        progress: bool = False) -> int:
    """Generate an answer for every item of ``run`` without one; returns how many failed (the answers
    that arrived are judged next; ``finish_run`` decides the end state)."""
    run = EvalRun.objects.get(id=run_id)
    mark_working(run, EvalRun.Status.INFERRING)
    todo = list(EvalItem.objects.filter(run=run, inferred=False).select_related("sample"))
    if not todo:
        return 0
    if vlm is None:
        from evaluation.local_model import LocalVLM

        vlm = LocalVLM.load(run.checkpoint, device="cuda" if _cuda() else None)
    total = EvalItem.objects.filter(run=run).count()
    bar = progress_bar(total, total - len(todo), f"run {run.id} local inference", progress)
    failures = 0
    media = Path(settings.MEDIA_ROOT)
    for item in todo:
        try:
            if item.sample is None or not item.sample.image:
                raise OSError(f"item {item.external_id} has no image")
            with Image.open(media / item.sample.image) as image:
                answer = vlm.generate(run.prompt, image, max_new_tokens=max_new_tokens)
        except (OSError, ValueError, RuntimeError) as exc:
            failures += 1
            EvalItem.objects.filter(id=item.id).update(inference_error=str(exc)[:2000])
        else:
            store_answer(item.id, run.k, answer.text, answer.prompt_tokens, answer.completion_tokens)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if failures:
        note_failures(run, f"{failures} of {total} local generations failed (see the items); judging the answers "
                           "that arrived")
    return failures


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
