"""Attention attribution on a tiny random Qwen2.5-VL built from a config (CPU, no downloads)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from evaluation.attention import (
    HIST_LABELS,
    attention_histogram,
    attention_maps,
    image_token_runs,
    overlay_png,
)
from evaluation.plots import attention_histograms

IMAGE, VIDEO, START, END = 60, 61, 62, 63
GRID = torch.tensor([[1, 8, 8], [1, 4, 8]])  # two images: 16 and 8 merged tokens


def tiny_model(seed: int) -> Qwen2_5_VLForConditionalGeneration:
    config = Qwen2_5_VLConfig(
        text_config={"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
                     "bos_token_id": 0, "eos_token_id": 1,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]}},
        vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 48, "num_heads": 4, "out_hidden_size": 32,
                       "patch_size": 2, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 8,
                       "fullatt_block_indexes": [1], "in_channels": 3},
        image_token_id=IMAGE, video_token_id=VIDEO, vision_start_token_id=START, vision_end_token_id=END,
    )
    torch.manual_seed(seed)
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def sample_inputs(grids: torch.Tensor, rows: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """``rows`` sequences, each: text, then every image of ``grids`` (as in a chat prompt), then text."""
    ids = [5, 6]
    for tokens in (grids.prod(dim=1) // 4).tolist():
        ids += [START] + [IMAGE] * tokens + [END, 7]
    ids += [8, 9, 10]  # the answer's last token is the query
    gen = torch.Generator().manual_seed(seed)
    patches = int(grids.prod(dim=1).sum()) * rows
    return {
        "input_ids": torch.tensor([ids] * rows),
        "attention_mask": torch.ones(rows, len(ids), dtype=torch.long),
        "pixel_values": torch.randn(patches, 3 * 2 * 2 * 2, generator=gen),
        "image_grid_thw": grids.repeat(rows, 1),
    }


def test_per_image_maps_sum_to_one_on_the_image_grid():
    model = tiny_model(0)
    maps = attention_maps(model, sample_inputs(GRID))
    assert len(maps) == 1 and len(maps[0]) == 2
    first, second = maps[0]
    assert first.grid.shape == (4, 4) and second.grid.shape == (2, 4)
    for m in (first, second):
        assert m.weights.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert m.grid.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert (m.weights >= 0).all() and 0 < m.image_mass < 1
    # The two images together hold at most all of the query's attention.
    assert first.image_mass + second.image_mass <= 1 + 1e-6


def test_maps_are_the_models_attention_of_the_last_token_averaged_over_heads_and_layers():
    model = tiny_model(1)
    inputs = sample_inputs(GRID[:1])
    maps = attention_maps(model, inputs, layers=[0, -1])
    model.set_attn_implementation("eager")
    with torch.no_grad():
        attn = model(**inputs, output_attentions=True).attentions
    start, end = image_token_runs(inputs["input_ids"][0], IMAGE)[0]
    expected = torch.stack([attn[0][0, :, -1, start:end].mean(0), attn[2][0, :, -1, start:end].mean(0)]).mean(0)
    assert torch.allclose(maps[0][0].weights, expected / expected.sum(), atol=1e-5)
    assert maps[0][0].image_mass == pytest.approx(expected.sum().item(), abs=1e-5)
    # Another layer choice gives another map.
    other = attention_maps(model, inputs, layers=[1])
    assert not torch.allclose(other[0][0].weights, maps[0][0].weights)
    with pytest.raises(ValueError, match="outside"):
        attention_maps(model, inputs, layers=[3])


def test_attention_implementation_is_restored():
    model = tiny_model(2)
    model.set_attn_implementation("sdpa")
    attention_maps(model, sample_inputs(GRID[1:]))
    assert model.config._attn_implementation == "sdpa"


def test_histogram_over_n_samples_two_models_side_by_side(tmp_path):
    inputs = sample_inputs(GRID, rows=3)  # three samples, two images each
    series = []
    for seed in (3, 4):
        maps = [m for row in attention_maps(tiny_model(seed), inputs) for m in row]
        assert len(maps) == 6
        hist = attention_histogram(maps)
        assert hist["labels"] == list(HIST_LABELS) and hist["images"] == 6
        assert sum(hist["counts"]) == 3 * (16 + 8)  # every image token lands in exactly one bin
        assert sum(hist["shares"]) == pytest.approx(1.0)
        series.append((f"seed {seed}", hist["shares"]))
    # 16- and 8-token images average 1/16 and 1/8: some weights must fall in the open > 0.06 bin.
    assert hist["counts"][-1] > 0
    svg = attention_histograms(series, HIST_LABELS)
    assert svg.startswith(b"<?xml") and b"seed 3" in svg and b"seed 4" in svg
    png = overlay_png(Image.new("RGB", (64, 48), (180, 120, 110)), maps[0].grid)
    assert png.startswith(b"\x89PNG")
