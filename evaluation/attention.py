"""Attention attribution of section 4.4 (figures 5-6), pure torch (no Django).

For a Qwen2.5-VL-style model: the attention that the final diagnostic token pays to the image
tokens, averaged over heads and the chosen decoder layers, renormalised per image so that each
image's map sums to 1 over its own tokens, and laid out on the image's merged-patch grid. The
histogram sorts those per-token weights into the paper's bins (0-0.01, …, 0.05-0.06, > 0.06).

The model must run with eager attention (SDPA and flash kernels return no weights);
:func:`attention_maps` switches it for the call and restores the previous setting.

Renormalising per image is a choice the paper leaves open: it makes maps of images with
different token counts, and models with different amounts of attention on text, comparable
(the mass on the image is reported beside each map as ``image_mass``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

__all__ = ["HIST_EDGES", "HIST_LABELS", "AttentionMap", "attention_maps", "attention_histogram", "image_token_runs"]

# Bin edges of the paper's histograms; the last bin is open (> 0.06).
HIST_EDGES: tuple[float, ...] = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06)
HIST_LABELS: tuple[str, ...] = ("0-0.01", "0.01-0.02", "0.02-0.03", "0.03-0.04", "0.04-0.05", "0.05-0.06", ">0.06")


@dataclass
class AttentionMap:
    """One image's map: ``grid`` is (height, width) in merged patches (frames averaged), sums to 1."""

    grid: torch.Tensor
    weights: torch.Tensor  # the flat per-token weights (sum 1), in token order
    image_mass: float  # share of the query's attention (before renormalising) that fell on this image


def image_token_runs(input_ids: torch.Tensor, image_token_id: int) -> list[tuple[int, int]]:
    """(start, end) of each contiguous run of image tokens in a 1-D ``input_ids``; one run per image."""
    is_image = (input_ids == image_token_id).to(torch.int8)
    if not bool(is_image.any()):
        return []
    padded = torch.cat([torch.zeros(1, dtype=torch.int8), is_image, torch.zeros(1, dtype=torch.int8)])
    changes = torch.diff(padded)
    starts = torch.nonzero(changes == 1).flatten().tolist()
    ends = torch.nonzero(changes == -1).flatten().tolist()
    return list(zip(starts, ends))


def _layer_indices(n_layers: int, layers: Sequence[int] | None) -> list[int]:
    if not layers:
        return list(range(n_layers))
    out = []
    for layer in layers:
        index = layer if layer >= 0 else n_layers + layer
        if not 0 <= index < n_layers:
            raise ValueError(f"layer {layer} is outside the model's {n_layers} decoder layers")
        out.append(index)
    return out


@torch.no_grad()
def attention_maps(
    model: Any,
    inputs: dict[str, torch.Tensor],
    *,
    layers: Sequence[int] | None = None,
    query_index: int = -1,
    image_token_id: int | None = None,
    spatial_merge_size: int | None = None,
) -> list[list[AttentionMap]]:
    """Per batch row, one :class:`AttentionMap` per image, from one forward pass.

    ``inputs`` are the processor's outputs (``input_ids``, ``pixel_values``, ``image_grid_thw``,
    optionally ``attention_mask``). ``query_index`` is the position of the final diagnostic token
    (the last position by default; with left padding, -1 is right for every row). ``layers``
    picks decoder layers (negative counts from the end); all by default.
    """
    config = model.config
    image_token_id = image_token_id if image_token_id is not None else config.image_token_id
    merge = spatial_merge_size or config.vision_config.spatial_merge_size
    previous = getattr(config, "_attn_implementation", None)
    if previous != "eager":
        model.set_attn_implementation("eager")
    try:
        outputs = model(**inputs, output_attentions=True, return_dict=True)
    finally:
        if previous is not None and previous != "eager":
            model.set_attn_implementation(previous)
    attentions = outputs.attentions
    if not attentions:
        raise RuntimeError("the model returned no attention weights; it must support output_attentions")
    chosen = _layer_indices(len(attentions), layers)
    # (batch, heads, q, k) per layer -> the query row, mean over heads and layers: (batch, k)
    rows = torch.stack([attentions[i][:, :, query_index, :].float().mean(dim=1) for i in chosen]).mean(dim=0)

    grids = inputs["image_grid_thw"].tolist()
    input_ids = inputs["input_ids"]
    result: list[list[AttentionMap]] = []
    image_cursor = 0
    for b in range(input_ids.shape[0]):
        maps = []
        for start, end in image_token_runs(input_ids[b], image_token_id):
            t, h, w = grids[image_cursor]
            image_cursor += 1
            gh, gw = h // merge, w // merge
            if (end - start) != t * gh * gw:
                raise ValueError(f"image {image_cursor - 1} has {end - start} tokens, its grid says {t * gh * gw}")
            raw = rows[b, start:end]
            mass = float(raw.sum())
            weights = raw / raw.sum() if mass > 0 else torch.full_like(raw, 1.0 / raw.numel())
            grid = weights.reshape(t, gh, gw).mean(dim=0)
            grid = grid / grid.sum()
            maps.append(AttentionMap(grid=grid, weights=weights, image_mass=mass))
        result.append(maps)
    return result


def attention_histogram(maps: Sequence[AttentionMap], edges: Sequence[float] = HIST_EDGES) -> dict[str, Any]:
    """Counts and shares of per-token weights over ``maps`` in the paper's bins (last bin open)."""
    counts = [0] * len(edges)
    for m in maps:
        values = m.weights.flatten()
        for i, low in enumerate(edges):
            high = edges[i + 1] if i + 1 < len(edges) else None
            mask = values >= low if high is None else (values >= low) & (values < high)
            counts[i] += int(mask.sum())
    total = sum(counts)
    return {
        "labels": list(HIST_LABELS) if len(edges) == len(HIST_EDGES) else [str(e) for e in edges],
        "counts": counts,
        "shares": [c / total if total else 0.0 for c in counts],
        "images": len(maps),
    }


def overlay_png(image: Any, grid: torch.Tensor, *, alpha: float = 0.5) -> bytes:
    """The map over the image as a PNG (matplotlib, Agg): the grid stretched to the image size."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    width, height = image.size
    ax.imshow(image)
    ax.imshow(grid.cpu().numpy(), cmap="jet", alpha=alpha, extent=(0, width, height, 0), interpolation="bilinear")
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
