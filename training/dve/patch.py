"""Patch a Qwen2.5-VL vision tower with FDLinear MLPs, and load patched checkpoints.

Only the full-attention blocks are patched: they are the blocks that receive per-image
``cu_seqlens`` (window blocks receive per-window boundaries), and Qwen2.5-VL's window
reordering keeps each image's tokens contiguous, so a segment mean is an image mean.

``cu_seqlens`` reaches the FDLinear layers through a forward pre-hook on the block: the
hook reads the block's own ``cu_seqlens`` argument (positional or keyword) and hands it to
the block's FDLinear layers for the duration of the block's forward, and a forward hook
(``always_call``) takes it away again. The block's code is untouched, the hooks run again in
a gradient-checkpointing recomputation, and they survive ``deepcopy`` because they hold no
reference to a particular module.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any

from torch import nn

from .fdlinear import FDLinear

CONFIG_KEY = "skinflow_dve"
FORMAT_VERSION = 1
MLP_PROJECTIONS = ("gate_proj", "up_proj", "down_proj")
DEFAULT_BLOCKS = (8, 16, 24, 32)
_CU_POSITION_ATTR = "_dve_cu_seqlens_position"


def find_vision_tower(model: nn.Module) -> nn.Module:
    """The Qwen2.5-VL vision transformer inside ``model``.

    transformers 5.x puts it at ``model.model.visual``; older layouts at ``model.visual``;
    a bare ``Qwen2_5_VisionTransformerPretrainedModel`` is accepted as is.
    """
    inner = getattr(model, "model", None)
    for candidate in (getattr(inner, "visual", None), getattr(model, "visual", None), model):
        if isinstance(candidate, nn.Module) and hasattr(candidate, "blocks") and hasattr(
            candidate, "fullatt_block_indexes"
        ):
            return candidate
    raise ValueError(
        f"{type(model).__name__} has no Qwen2.5-VL vision tower at .model.visual or .visual "
        "(and is not one itself)"
    )


def fd_layers(module: nn.Module) -> list[FDLinear]:
    """All FDLinear layers inside ``module``."""
    return [m for m in module.modules() if isinstance(m, FDLinear)]


def _cu_seqlens_position(block: nn.Module) -> int | None:
    params = [p for p in inspect.signature(type(block).forward).parameters.values() if p.name != "self"]
    for i, p in enumerate(params):
        if p.name == "cu_seqlens":
            return i if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) else None
    raise TypeError(f"{type(block).__name__}.forward takes no cu_seqlens argument; cannot segment images")


def _hand_segments_to_mlp(block: nn.Module, args: tuple, kwargs: dict) -> None:
    cu_seqlens = kwargs.get("cu_seqlens")
    position = getattr(block, _CU_POSITION_ATTR, None)
    if cu_seqlens is None and position is not None and len(args) > position:
        cu_seqlens = args[position]
    for layer in fd_layers(block.mlp):
        layer.segment_context = cu_seqlens


def _take_segments_back(block: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
    for layer in fd_layers(block.mlp):
        layer.segment_context = None


def _check_blocks(tower: nn.Module, blocks: Sequence[int]) -> list[int]:
    depth = len(tower.blocks)
    full_attention = {int(i) for i in tower.fullatt_block_indexes}
    checked = []
    for block in blocks:
        block = int(block)
        if not 1 <= block <= depth:
            raise ValueError(f"block {block} is outside 1..{depth} (blocks are 1-based)")
        if block - 1 not in full_attention:
            raise ValueError(
                f"block {block} (index {block - 1}) is a window-attention block; its cu_seqlens are "
                f"window boundaries, not images. Full-attention blocks (1-based): "
                f"{sorted(i + 1 for i in full_attention)}"
            )
        checked.append(block)
    if len(set(checked)) != len(checked):
        raise ValueError(f"duplicate blocks in {list(blocks)}")
    return checked


def patch_qwen2_5_vl(
    model: nn.Module,
    blocks: Iterable[int] = DEFAULT_BLOCKS,
    K: int | None = None,
    rank: int | None = None,
) -> nn.Module:
    """Replace gate/up/down projections of the given vision blocks' MLPs by FDLinear, in place.

    Args:
        model: a Qwen2.5-VL model (``model.model.visual`` or ``model.visual``) or its vision tower.
        blocks: 1-based block numbers; each must be a full-attention block.
        K: frequency groups per layer; ``None`` means each layer's ``d_in // 2`` (640 for
            gate/up and 1710 for down in Qwen2.5-VL-7B).
        rank: modulation bottleneck width; ``None`` means ``max(16, d_in // 16)``.

    At initialisation the patched model computes the same function as before (up to float32
    FFT round-off). The patch is recorded under ``config.skinflow_dve`` so that
    :func:`load_patched_qwen2_5_vl` can rebuild the architecture.
    """
    tower = find_vision_tower(model)
    block_numbers = _check_blocks(tower, list(blocks))
    for number in block_numbers:
        block = tower.blocks[number - 1]
        mlp = block.mlp
        if any(isinstance(getattr(mlp, name, None), FDLinear) for name in MLP_PROJECTIONS):
            raise ValueError(f"block {number} is already patched")
        for name in MLP_PROJECTIONS:
            linear = getattr(mlp, name)
            if not isinstance(linear, nn.Linear):
                raise TypeError(f"block {number}: mlp.{name} is {type(linear).__name__}, expected nn.Linear")
            setattr(mlp, name, FDLinear.from_linear(linear, num_groups=K, rank=rank))
        setattr(block, _CU_POSITION_ATTR, _cu_seqlens_position(block))
        block.register_forward_pre_hook(_hand_segments_to_mlp, with_kwargs=True)
        block.register_forward_hook(_take_segments_back, with_kwargs=True, always_call=True)

    record = {"format_version": FORMAT_VERSION, "blocks": block_numbers, "K": K, "rank": rank}
    config = getattr(model, "config", None)
    if config is not None:
        setattr(config, CONFIG_KEY, record)
    return model


def patch_record(config: Any) -> dict | None:
    """The recorded patch of a (saved) config, or None for an unpatched model."""
    record = getattr(config, CONFIG_KEY, None)
    if record is None:
        return None
    if int(record.get("format_version", 0)) != FORMAT_VERSION:
        raise ValueError(f"unsupported {CONFIG_KEY} format: {record}")
    return record


_PATCHED_CLASSES: dict[type, type] = {}


def _patched_class(model_class: type) -> type:
    """A subclass of ``model_class`` that applies the recorded patch right after construction.

    ``from_pretrained`` builds the model skeleton (on the meta device), so building the
    patched skeleton first lets transformers' own loader fill in every weight, with all of
    its options (dtype, device_map, sharded checkpoints, key renames).
    """
    if model_class not in _PATCHED_CLASSES:

        def __init__(self: nn.Module, config: Any, *args: Any, **kwargs: Any) -> None:
            model_class.__init__(self, config, *args, **kwargs)
            record = patch_record(config)
            patch_qwen2_5_vl(self, blocks=record["blocks"], K=record["K"], rank=record["rank"])

        # Same name and module as the original: transformers looks up checkpoint key renames
        # (e.g. ``model.layers`` -> ``model.language_model.layers``) by class name.
        namespace = {"__init__": __init__, "__module__": model_class.__module__, "__qualname__": model_class.__qualname__}
        _PATCHED_CLASSES[model_class] = type(model_class.__name__, (model_class,), namespace)
    return _PATCHED_CLASSES[model_class]


def load_patched_qwen2_5_vl(
    pretrained_model_name_or_path: str,
    model_class: type | None = None,
    **from_pretrained_kwargs: Any,
) -> nn.Module:
    """``from_pretrained`` for a checkpoint saved from a patched model.

    Accepts the usual ``from_pretrained`` keyword arguments (``dtype``, ``device_map``, ...).
    ``model_class`` defaults to ``Qwen2_5_VLForConditionalGeneration``. The returned model is
    an instance of ``model_class`` (so it saves and type-checks as usual) with the patch applied.
    """
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

    model_class = model_class or Qwen2_5_VLForConditionalGeneration
    config = from_pretrained_kwargs.pop("config", None)
    if config is None:
        config = AutoConfig.from_pretrained(pretrained_model_name_or_path)
    if patch_record(config) is None:
        raise ValueError(
            f"{pretrained_model_name_or_path} has no {CONFIG_KEY} entry in its config: not a DVE-patched checkpoint"
        )
    model = _patched_class(model_class).from_pretrained(
        pretrained_model_name_or_path, config=config, **from_pretrained_kwargs
    )
    # The subclass only differs in __init__, which has already run.
    model.__class__ = model_class
    return model


def is_patched(model: nn.Module) -> bool:
    """True when the vision tower holds FDLinear layers."""
    return bool(fd_layers(find_vision_tower(model)))

