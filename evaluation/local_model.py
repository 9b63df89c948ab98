"""A local Qwen2.5-VL checkpoint loaded with transformers: diagnosis answers and attention maps.
Pure (no Django); runs on the ``gpu`` queue's worker, or on CPU for tiny models in tests.

Inputs are assembled here rather than by ``AutoProcessor``: Qwen2.5-VL's processor insists on a
video processor, which needs torchvision (not installed on CPU machines, see DESIGN.md). The
tokenizer encodes the text, the PIL image processor makes ``pixel_values`` and
``image_grid_thw``, and the image's tokens are inserted by id between the vision start and end
tokens, in the Qwen chat layout.

A checkpoint saved from a DVE-patched model (its config records the patch) is loaded through
``training.dve``'s loader, imported only then: evaluating such a checkpoint is the one place where
the evaluation app needs the training app's layer classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from evaluation.attention import AttentionMap, attention_maps

__all__ = ["LocalAnswer", "LocalVLM"]

SYSTEM_PROMPT = "You are a helpful assistant."


@dataclass(frozen=True)
class LocalAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int


class LocalVLM:
    def __init__(self, model: Any, tokenizer: Any, image_processor: Any) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        config = model.config
        self.image_token_id = config.image_token_id
        self.vision_start_id = config.vision_start_token_id
        self.vision_end_id = config.vision_end_token_id
        self.merge = config.vision_config.spatial_merge_size

    @classmethod
    def load(cls, checkpoint: str | Path, *, device: str | None = None, dtype: Any = None) -> "LocalVLM":
        from transformers import AutoConfig, AutoTokenizer, Qwen2_5_VLForConditionalGeneration

        checkpoint = str(checkpoint)
        config = AutoConfig.from_pretrained(checkpoint)
        kwargs = {"dtype": dtype} if dtype is not None else {}
        if getattr(config, "skinflow_dve", None):
            from training.dve import load_patched_qwen2_5_vl

            model = load_patched_qwen2_5_vl(checkpoint, config=config, **kwargs)
        else:
            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint, config=config, **kwargs)
        if device:
            model = model.to(device)
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        return cls(model, tokenizer, image_processor_for(checkpoint, model.config))

    # ------------------------------------------------------------------------------------------

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def build_inputs(self, prompt: str, image: Any, answer: str = "") -> dict[str, torch.Tensor]:
        """Model inputs for one image and prompt; ``answer`` (for attention) is appended as the reply."""
        vision = self.image_processor(images=[image.convert("RGB")], return_tensors="pt")
        grid = vision["image_grid_thw"]
        n_tokens = int(grid[0].prod()) // (self.merge**2)
        ids = (
            self._encode(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")
            + [self.vision_start_id] + [self.image_token_id] * n_tokens + [self.vision_end_id]
            + self._encode(f"{prompt}<|im_end|>\n<|im_start|>assistant\n{answer}")
        )
        device = self.model.device
        return {
            "input_ids": torch.tensor([ids], device=device),
            "attention_mask": torch.ones(1, len(ids), dtype=torch.long, device=device),
            "pixel_values": vision["pixel_values"].to(device=device, dtype=self.model.dtype),
            "image_grid_thw": grid.to(device),
        }

    @torch.no_grad()
    def generate(self, prompt: str, image: Any, *, max_new_tokens: int = 512) -> LocalAnswer:
        inputs = self.build_inputs(prompt, image)
        prompt_len = inputs["input_ids"].shape[1]
        out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[0, prompt_len:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return LocalAnswer(text=text, prompt_tokens=prompt_len, completion_tokens=int(new.numel()))

    def attention(self, prompt: str, image: Any, answer: str, *, layers: Sequence[int] | None = None) -> AttentionMap:
        """The map of the answer's last token (the final diagnostic token) over this image."""
        inputs = self.build_inputs(prompt, image, answer)
        return attention_maps(self.model, inputs, layers=layers)[0][0]


def image_processor_for(checkpoint: str | Path | None, config: Any) -> Any:
    """The checkpoint's saved image processor, or one built from the vision config (tiny test models)."""
    from transformers import Qwen2VLImageProcessorPil

    if checkpoint is not None and (Path(checkpoint) / "preprocessor_config.json").is_file():
        return Qwen2VLImageProcessorPil.from_pretrained(str(checkpoint))
    vision = config.vision_config
    factor = vision.patch_size * vision.spatial_merge_size
    return Qwen2VLImageProcessorPil(
        patch_size=vision.patch_size, merge_size=vision.spatial_merge_size,
        temporal_patch_size=vision.temporal_patch_size,
        min_pixels=(2 * factor) ** 2, max_pixels=(16 * factor) ** 2,
    )
