"""Load a Qwen2.5-VL checkpoint the way our engines need it: DVE-aware, processor without torchvision.

A checkpoint saved from a DVE-patched model records the patch in its config
(``config.skinflow_dve``); loading it with plain ``from_pretrained`` would silently drop every
FDLinear weight. :func:`load_model` is the one loader every engine uses, for the policy and for
the reference model alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

__all__ = ["dve_blocks", "load_model", "load_processor", "prepare_policy"]


def load_model(path: str | Path, **from_pretrained_kwargs: Any) -> Any:
    """A Qwen2.5-VL from a local Hugging Face directory, with its DVE patch when it has one."""
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

    from training.dve import load_patched_qwen2_5_vl, patch_record

    path = str(path)
    config = AutoConfig.from_pretrained(path)
    if patch_record(config) is not None:
        return load_patched_qwen2_5_vl(path, config=config, **from_pretrained_kwargs)
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(path, config=config, **from_pretrained_kwargs)


def load_processor(path: str | Path) -> Any:
    """``AutoProcessor`` where it works (GPU images with torchvision); otherwise Qwen2.5-VL's processor
    assembled from the saved tokenizer and the PIL image processor."""
    from transformers import AutoProcessor, AutoTokenizer, Qwen2VLImageProcessorPil

    from training.tiny_vlm import image_only_processor

    try:
        return AutoProcessor.from_pretrained(str(path))
    except (ImportError, OSError, TypeError, ValueError):
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(str(path))
        template_file = Path(path) / "chat_template.jinja"
        template = template_file.read_text(encoding="utf-8") if template_file.exists() else None
        return image_only_processor(image_processor, tokenizer, template)


def dve_blocks(model: Any) -> list[int]:
    """The 1-based full-attention blocks of the vision tower: 8/16/24/32 on Qwen2.5-VL-7B (the
    paper's DVE blocks), 2/4 on the tiny test model."""
    from training.dve import find_vision_tower

    return sorted(int(i) + 1 for i in find_vision_tower(model).fullatt_block_indexes)


def prepare_policy(model: Any, *, dve: bool, k: int | None, blocks: Sequence[int] | None = None) -> Any:
    """Apply DVE to an unpatched model when the run asks for it; refuse to strip it from a patched one."""
    from training.dve import is_patched, patch_qwen2_5_vl

    patched = is_patched(model)
    if dve and not patched:
        patch_qwen2_5_vl(model, blocks=list(blocks) if blocks else dve_blocks(model), K=k)
    elif not dve and patched:
        raise ValueError("the starting checkpoint carries DVE (FDLinear) layers; a run without DVE cannot start from it")
    return model
