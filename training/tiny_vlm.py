"""A tiny random Qwen2.5-VL built from a config, with a tokenizer and processor built locally.

This is the CPU test path of the training engines (no model hub, no GPU): the same model class,
processor class and chat format as the real Qwen2.5-VL, only a few thousand parameters wide.

* The tokenizer is byte-level (every text round-trips exactly) plus the Qwen chat/vision special
  tokens and a few dozen *domain tokens* — the caption keys and the appendix-B answer scaffolding —
  so that a whole caption or diagnosis answer is a few dozen tokens instead of a few hundred bytes.
* The processor is Qwen2.5-VL's own processor class without a video processor: Qwen2.5-VL's video
  processor needs torchvision, which the CPU install does not have, and images are all we use.
* :func:`warm_start` teaches the random model, by plain teacher forcing, to answer in a given format
  (a handful of answers sampled per prompt kind). A random 2-layer model never emits valid JSON, so
  without it no completion would ever reach the caption scorer or the clinical judge.

Pure Python: no Django.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Sequence

__all__ = [
    "CHAT_TEMPLATE",
    "DOMAIN_TOKENS",
    "image_only_processor",
    "build_processor",
    "build_tokenizer",
    "build_tiny_model",
    "save_tiny_base",
    "tiny_config",
    "warm_start",
]

SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen2.5-VL's chat format, reduced to what we send: text and image parts, no tools, no video.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _domain_tokens() -> tuple[str, ...]:
    from annotations.schema import FIELDS

    # Whole pieces of serialized JSON, in the order json.dumps writes them: the tokenizer matches
    # added tokens left to right, so overlapping pieces ('{"' and '{"color": "') would shadow each other.
    keys = (f'{{"{FIELDS[0]}": "',) + tuple(f'", "{name}": "' for name in FIELDS[1:]) + ('"}',)
    scaffolding = ("<think>", "</think>", "<answer>", "</answer>", '[{"disease": "', '"}, {"disease": "', '"}]}') + tuple(
        f'{{"top{k}_diseases": ' for k in (1, 2, 3, 4, 5, 6)
    )
    return keys + scaffolding


DOMAIN_TOKENS = _domain_tokens()


def build_tokenizer() -> Any:
    """Byte-level fast tokenizer with Qwen's special tokens and the domain tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS),
    )
    tokenizer.add_tokens(list(DOMAIN_TOKENS))
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _processor_class() -> type:
    from transformers import Qwen2_5_VLProcessor

    class ImageOnlyQwenVLProcessor(Qwen2_5_VLProcessor):
        """Qwen2.5-VL's processor for images only (no video processor, hence no torchvision)."""

        def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

        def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> list[str]:  # type: ignore[override]
            # ProcessorMixin.save_pretrained walks every attribute and fails on the missing one.
            self.tokenizer.save_pretrained(save_directory)
            self.image_processor.save_pretrained(save_directory)
            (Path(save_directory) / "chat_template.jinja").write_text(self.chat_template or "", encoding="utf-8")
            return [str(save_directory)]

    return ImageOnlyQwenVLProcessor


_PROCESSOR_CLASS: type | None = None


def image_only_processor(image_processor: Any, tokenizer: Any, chat_template: str | None = None) -> Any:
    """Qwen2.5-VL's processor class assembled without a video processor."""
    global _PROCESSOR_CLASS
    if _PROCESSOR_CLASS is None:
        _PROCESSOR_CLASS = _processor_class()
    template = chat_template or getattr(tokenizer, "chat_template", None) or CHAT_TEMPLATE
    return _PROCESSOR_CLASS(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                            chat_template=template)


def build_processor(tokenizer: Any | None = None, *, image_side: int = 16) -> Any:
    """The image-only processor; every image is resized to about ``image_side``² pixels (16 tokens at 16)."""
    from transformers import Qwen2VLImageProcessorPil

    tokenizer = tokenizer or build_tokenizer()
    pixels = image_side * image_side
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=2, merge_size=2, temporal_patch_size=2, min_pixels=pixels, max_pixels=pixels,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    return image_only_processor(image_processor, tokenizer)


def tiny_config(tokenizer: Any, *, hidden: int = 64, layers: int = 2) -> Any:
    """Qwen2.5-VL config: ``layers`` text layers, a 4-block vision tower whose blocks 2 and 4 are
    full-attention blocks (the ones DVE patches)."""
    from transformers import Qwen2_5_VLConfig

    ids = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": 2 * hidden,
            "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 4096, "bos_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": [1, 1, hidden // 4 // 2 - 2]},
        },
        vision_config={
            "depth": 4, "hidden_size": 32, "intermediate_size": 48, "num_heads": 4, "out_hidden_size": hidden,
            "patch_size": 2, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 8,
            "fullatt_block_indexes": [1, 3], "in_channels": 3,
        },
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


def build_tiny_model(tokenizer: Any, *, seed: int = 0, dve_k: int | None = None, hidden: int = 64) -> Any:
    """A random tiny Qwen2.5-VL; with ``dve_k`` its full-attention vision blocks carry FDLinear."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(tiny_config(tokenizer, hidden=hidden))
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )
    if dve_k is not None:
        from training.dve import patch_qwen2_5_vl

        patch_qwen2_5_vl(model, blocks=[2, 4], K=dve_k)
    return model


def warm_start(
    model: Any,
    processor: Any,
    examples: Sequence[tuple[str, Any, Sequence[str]]],
    *,
    steps: int = 80,
    lr: float = 5e-3,
    seed: int = 0,
) -> list[float]:
    """Teacher-force ``model`` to answer each (prompt text, PIL image, candidate answers) example
    with one of its answers (drawn uniformly each step). Returns the loss per step."""
    import torch

    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    tokenizer = processor.tokenizer
    model.train()
    losses = []
    for _ in range(steps):
        prompt_text, image, answers = examples[rng.randrange(len(examples))]
        answer = answers[rng.randrange(len(answers))]
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt_text}]}]
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        batch = processor(text=[prompt + answer + tokenizer.eos_token], images=[image], return_tensors="pt")
        prompt_len = len(processor(text=[prompt], images=[image], return_tensors="pt")["input_ids"][0])
        labels = batch["input_ids"].clone()
        labels[:, :prompt_len] = -100
        batch.pop("mm_token_type_ids", None)
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


def save_tiny_base(
    path: str | Path,
    *,
    dve_k: int | None = 4,
    examples: Sequence[tuple[str, Any, Sequence[str]]] = (),
    warm_steps: int = 80,
    seed: int = 0,
    lr: float = 5e-3,
) -> Path:
    """Build (and optionally warm-start) a tiny model and save model, tokenizer and image processor
    as a Hugging Face directory our engines load like any Qwen2.5-VL checkpoint."""
    path = Path(path)
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    model = build_tiny_model(tokenizer, seed=seed, dve_k=dve_k)
    losses = warm_start(model, processor, examples, steps=warm_steps, seed=seed, lr=lr) if examples else []
    model.save_pretrained(path)
    processor.save_pretrained(path)
    (path / "tiny_vlm.json").write_text(json.dumps({"warm_start_losses": losses[-5:]}), encoding="utf-8")
    return path


# ---- the launch form's "Tiny CPU model (smoke test)" -------------------------------------------------------

# Bump when the recipe below changes: the folder name carries its hash, so an old build is never reused.
# The model itself is build_tiny_model's default (64 wide, 2 text layers), in two variants: with DVE (FDLinear,
# K=4, warm-started with it) for runs with DVE on, and plain for runs without. Adding fresh FDLinear layers to a
# plain warm-started model at the start of Stage I changed its vision features enough that every caption it
# sampled was garbage (reward 0 at every step), so a DVE run starts from a model that learnt with them.
SMOKE_RECIPE: dict[str, Any] = {"version": 4, "warm_steps": 400, "warm_lr": 1e-2, "seed": 0, "ks": [3, 6],
                                "dve_k": 4}

# One caption and two answer lists to learn: in 400 steps a 2-layer model writes about half its captions as
# valid JSON at temperature 0.7 and nearly every diagnosis list (measured: 4/8 and 8/8), and sampling
# (temperature) makes the completions of a group differ from it, so the rewards inside a group differ too.
_SMOKE_CAPTIONS = ({"color": "pink", "lesion_type": "plaque", "location": "elbow"},)
_SMOKE_DIAGNOSES = (("psoriasis", "eczema", "lichen planus"), ("eczema", "psoriasis", "tinea corporis"))


def smoke_recipe_hash() -> str:
    """A short hash of :data:`SMOKE_RECIPE` and the tokens/prompts the warm start uses."""
    import hashlib

    from training.export import caption_prompt

    text = json.dumps([SMOKE_RECIPE, list(DOMAIN_TOKENS), caption_prompt()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def smoke_model_dir(models_root: str | Path, *, dve: bool = True) -> Path:
    """Where the smoke-test base model lives: ``<models_root>/tiny-qwen2.5-vl-<hash>[-dve]``."""
    return Path(models_root) / f"tiny-qwen2.5-vl-{smoke_recipe_hash()}{'-dve' if dve else ''}"


def smoke_examples() -> list[tuple[str, Any, list[str]]]:
    """Warm-start examples: Stage I captions and Stage II answers (K 3 and 6), several per prompt, so the
    sampled completions differ and GRPO sees rewards that vary inside a group."""
    from PIL import Image

    from annotations.schema import FIELDS, serialize_caption
    from evaluation.diagnosis import diagnosis_prompt
    from training.export import caption_prompt

    image = Image.new("RGB", (16, 16), (200, 120, 110))
    captions = [serialize_caption({f: "" for f in FIELDS} | c) for c in _SMOKE_CAPTIONS]
    examples: list[tuple[str, Any, list[str]]] = [(caption_prompt(), image, captions)]
    for k in SMOKE_RECIPE["ks"]:
        answers = []
        for names in _SMOKE_DIAGNOSES:
            listed = ", ".join(json.dumps({"disease": n}) for n in names[:k])
            answers.append(f'<think>x</think><answer>{{"top{k}_diseases": [{listed}]}}</answer>')
        examples.append((diagnosis_prompt(k), image, answers))
    return examples


def ensure_smoke_model(models_root: str | Path, *, dve: bool = True) -> Path:
    """Build the smoke-test base model once; later calls (and concurrent ones) return the same folder.

    The model is written to a private temporary folder and renamed into place: a rename is atomic, so a
    reader never sees half a model, and of two workers building at once the second's rename fails and
    its copy is discarded.
    """
    import os
    import shutil
    import tempfile

    target = smoke_model_dir(models_root, dve=dve)
    if (target / "config.json").is_file():
        return target
    print(f"building the tiny CPU model in {target} (once; about a minute)", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        save_tiny_base(scratch / "model", dve_k=SMOKE_RECIPE["dve_k"] if dve else None, examples=smoke_examples(),
                       warm_steps=SMOKE_RECIPE["warm_steps"], seed=SMOKE_RECIPE["seed"], lr=SMOKE_RECIPE["warm_lr"])
        try:
            os.rename(scratch / "model", target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m training.tiny_vlm MODELS_ROOT [--plain]``: build the smoke-test model (with DVE, or plain)
    there once; prints its folder.

    The run supervisor calls this as a child process, so torch never loads into the Celery worker itself."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    plain = "--plain" in argv
    argv = [a for a in argv if a != "--plain"]
    if len(argv) != 1:
        print("usage: python -m training.tiny_vlm MODELS_ROOT [--plain]", file=sys.stderr)
        return 2
    print(ensure_smoke_model(argv[0], dve=not plain), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
