"""Running an attention analysis (section 4.4) for a local checkpoint on N test images: the model
answers each image, the map of its answer's last token is drawn over the image (a PNG under
MEDIA_ROOT/attention/<id>/), and the per-token weights of all images form the histogram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from PIL import Image

from evaluation.attention import attention_histogram, overlay_png
from evaluation.diagnosis import diagnosis_prompt
from evaluation.models import AttentionAnalysis
from evaluation.services import EvalError, select_test_samples


# Heatmaps are drawn at this resolution so the page can show them at 512 px and more without blurring.
HEATMAP_DPI = 200


def create_analysis(*, name: str, checkpoint: str, dataset: Any, split: str = "test", sample_size: int = 500,
                    seed: int = 0, layers: list[int] | None = None, max_new_tokens: int = 512,
                    start: bool = True, user: Any = None) -> AttentionAnalysis:
    if not checkpoint:
        raise EvalError("an attention analysis needs a local checkpoint folder")
    if dataset is not None and not select_test_samples(dataset, split=split, sample_size=1, seed=seed):
        raise EvalError(f"the test set is empty: {dataset.name} has no images in split {split or 'any'!r} "
                        "that are not excluded from evaluation")
    analysis = AttentionAnalysis.objects.create(name=name, checkpoint=checkpoint, dataset=dataset, split=split,
                                                sample_size=sample_size, seed=seed, layers=layers or [],
                                                max_new_tokens=max_new_tokens, created_by=user)
    if start:
        from evaluation import tasks

        transaction.on_commit(lambda: tasks.local_attention.delay(analysis.id))
    return analysis


def run_analysis(analysis_id: int, *, vlm: Any = None) -> AttentionAnalysis:
    analysis = AttentionAnalysis.objects.get(id=analysis_id)
    AttentionAnalysis.objects.filter(id=analysis.id).update(status=AttentionAnalysis.Status.RUNNING, error="",
                                                             done=0)
    try:
        samples = select_test_samples(analysis.dataset, split=analysis.split, sample_size=analysis.sample_size,
                                      seed=analysis.seed)
        AttentionAnalysis.objects.filter(id=analysis.id).update(total=len(samples))
        if vlm is None:
            from evaluation.local_model import LocalVLM

            vlm = LocalVLM.load(analysis.checkpoint)
        media = Path(settings.MEDIA_ROOT)
        out_dir = media / "attention" / str(analysis.id)
        out_dir.mkdir(parents=True, exist_ok=True)
        prompt = diagnosis_prompt(analysis.k)
        maps, entries = [], []
        for sample in samples:
            with Image.open(media / sample.image) as image:
                image = image.convert("RGB")
                answer = vlm.generate(prompt, image, max_new_tokens=analysis.max_new_tokens)
                amap = vlm.attention(prompt, image, answer.text, layers=analysis.layers or None)
                rel = f"attention/{analysis.id}/{sample.id}.png"
                with matplotlib.rc_context({"savefig.dpi": HEATMAP_DPI}):
                    (media / rel).write_bytes(overlay_png(image, amap.grid))
            maps.append(amap)
            entries.append({"sample_id": sample.id, "file": rel, "image_mass": amap.image_mass,
                            "answer": answer.text[-500:]})
            AttentionAnalysis.objects.filter(id=analysis.id).update(done=len(entries))
        histogram = attention_histogram(maps)
    except Exception as exc:  # the page shows why; the task itself stays quiet
        AttentionAnalysis.objects.filter(id=analysis.id).update(status=AttentionAnalysis.Status.FAILED,
                                                                 error=f"{type(exc).__name__}: {exc}"[:2000],
                                                                 finished_at=timezone.now())
        raise
    AttentionAnalysis.objects.filter(id=analysis.id).update(status=AttentionAnalysis.Status.DONE,
                                                             histogram=histogram, maps=entries,
                                                             finished_at=timezone.now())
    analysis.refresh_from_db()
    return analysis
