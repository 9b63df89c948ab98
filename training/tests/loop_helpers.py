"""Shared set-up of the training-loop tests: a small dataset with train and test images, a run, a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from annotations.models import Dataset, Sample
from annotations.tests.images import jpeg_bytes, write
from training import services
from training.models import Checkpoint, TrainingRun
from training.tests.tiny_base import REFERENCE_CAPTION


def loop_dataset(name: str = "Loop", *, train: int = 3, test: int = 2) -> Dataset:
    dataset = Dataset.objects.create(name=name, source="folder")
    labels = ["psoriasis", "eczema", "psoriasis", "melanocytic nevus"]
    for i in range(train + test):
        split = "train" if i < train else "test"
        rel = f"{split}/{name}/{i}.jpg"
        write(Path(settings.MEDIA_ROOT) / rel, jpeg_bytes(color=(200, 100 + 20 * i, 110), size=(24, 24)))
        Sample.objects.create(dataset=dataset, external_id=str(i), image=rel, label=labels[i % len(labels)],
                              split=split, state=Sample.State.AUTO_ACCEPTED, caption=REFERENCE_CAPTION)
    return dataset


def recorded_run(dataset: Dataset, *, name: str = "r", stage: str = "I", state: str = "running",
                 **fields) -> TrainingRun:
    """A run as the supervisor leaves it (no worker): the snapshot recorded, its folder created."""
    snapshot = services.create_snapshot(dataset, "train", stage, k=3, build=False)
    run = TrainingRun.objects.create(name=name, stage=stage, snapshot=snapshot, state=state, k=3,
                                     hyperparameters={"max_steps": 10}, **fields)
    folder = services.training_root() / "runs" / f"run-{run.pk}"
    folder.mkdir(parents=True, exist_ok=True)
    run.run_dir = str(folder)
    run.save(update_fields=["run_dir"])
    return run


def saved_checkpoint(run: TrainingRun, step: int = 2, *, final: bool = True) -> Checkpoint:
    """A checkpoint folder with what a Hugging Face folder holds (small), registered on ``run``."""
    folder = Path(run.run_dir) / "checkpoints" / f"step-{step}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}), encoding="utf-8")
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    return Checkpoint.objects.create(run=run, step=step, path=str(folder), is_final=final)
