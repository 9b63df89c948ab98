"""The Qwen2.5-VL patch on a tiny random model built from a config (CPU, no downloads)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from training.dve import (
    CONFIG_KEY,
    FDLinear,
    dve_parameter_report,
    fd_layers,
    find_vision_tower,
    is_patched,
    load_patched_qwen2_5_vl,
    patch_qwen2_5_vl,
)

IMAGE_TOKEN, VIDEO_TOKEN, VISION_START, VISION_END = 60, 61, 62, 63
# Two images of different sizes: (t, h, w) in patches; 2x2 patches merge into one LLM token.
GRID = torch.tensor([[1, 8, 8], [1, 4, 8]])
FULL_ATTENTION_BLOCKS = (2, 4)  # 1-based; fullatt_block_indexes = [1, 3]


def tiny_config() -> Qwen2_5_VLConfig:
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": 64,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 512,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]},
        },
        vision_config={
            "depth": 4,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_heads": 4,
            "out_hidden_size": 32,
            "patch_size": 2,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 8,
            "fullatt_block_indexes": [1, 3],
            "in_channels": 3,
        },
        image_token_id=IMAGE_TOKEN,
        video_token_id=VIDEO_TOKEN,
        vision_start_token_id=VISION_START,
        vision_end_token_id=VISION_END,
    )


def tiny_model(seed: int = 0) -> Qwen2_5_VLForConditionalGeneration:
    torch.manual_seed(seed)
    return Qwen2_5_VLForConditionalGeneration(tiny_config()).eval()


def pixel_values(grid: torch.Tensor, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    patches = int(grid.prod(dim=1).sum())
    return torch.randn(patches, 3 * 2 * 2 * 2, generator=gen)  # channels * temporal * patch * patch


def batch(grid: torch.Tensor = GRID) -> dict[str, torch.Tensor]:
    ids = [5, 6]
    for tokens in (grid.prod(dim=1) // 4).tolist():
        ids += [VISION_START] + [IMAGE_TOKEN] * tokens + [VISION_END, 7]
    return {
        "input_ids": torch.tensor([ids]),
        "pixel_values": pixel_values(grid),
        "image_grid_thw": grid,
    }


def randomize_modulation(model: torch.nn.Module, scale: float = 0.5, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in fd_layers(model):
            for name, p in layer.modulation.named_parameters():
                if "head" in name:
                    p.copy_(torch.randn(p.shape, generator=gen) * scale)


def test_patch_keeps_logits_at_initialisation() -> None:
    model = tiny_model()
    inputs = batch()
    with torch.no_grad():
        before = model(**inputs).logits
    patch_qwen2_5_vl(model, blocks=FULL_ATTENTION_BLOCKS)
    with torch.no_grad():
        after = model(**inputs).logits
    assert (after - before).abs().max().item() <= 1e-5
    # ... and the patch is live: moving the modulation moves the logits.
    randomize_modulation(model)
    with torch.no_grad():
        assert (model(**inputs).logits - before).abs().max().item() > 1e-4


def test_patch_swaps_exactly_the_requested_mlps_and_records_itself() -> None:
    model = tiny_model()
    patch_qwen2_5_vl(model, blocks=FULL_ATTENTION_BLOCKS, K=5)
    tower = find_vision_tower(model)
    assert tower is model.model.visual
    for index, block in enumerate(tower.blocks):
        kinds = {type(getattr(block.mlp, name)) for name in ("gate_proj", "up_proj", "down_proj")}
        assert kinds == ({FDLinear} if index + 1 in FULL_ATTENTION_BLOCKS else {torch.nn.Linear})
    assert all(layer.num_groups == 5 for layer in fd_layers(model))
    assert getattr(model.config, CONFIG_KEY)["blocks"] == list(FULL_ATTENTION_BLOCKS)
    assert is_patched(model)


def test_default_k_is_half_the_input_dimension() -> None:
    model = patch_qwen2_5_vl(tiny_model(), blocks=(4,))
    mlp = model.model.visual.blocks[3].mlp
    assert (mlp.gate_proj.num_groups, mlp.up_proj.num_groups, mlp.down_proj.num_groups) == (16, 16, 24)


def test_window_blocks_and_double_patching_are_refused() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="window-attention"):
        patch_qwen2_5_vl(model, blocks=(1,))
    with pytest.raises(ValueError, match="outside"):
        patch_qwen2_5_vl(model, blocks=(5,))
    patch_qwen2_5_vl(model, blocks=(2,))
    with pytest.raises(ValueError, match="already patched"):
        patch_qwen2_5_vl(model, blocks=(2,))


def test_vision_tower_alone_and_legacy_visual_attribute_are_accepted() -> None:
    model = tiny_model()
    tower = model.model.visual
    patch_qwen2_5_vl(tower, blocks=(2,))
    assert isinstance(tower.blocks[1].mlp.down_proj, FDLinear)

    class Legacy(torch.nn.Module):
        def __init__(self, visual: torch.nn.Module) -> None:
            super().__init__()
            self.visual = visual

    assert find_vision_tower(Legacy(tiny_model().model.visual)) is not None


def test_packed_images_get_per_image_weights_inside_the_model() -> None:
    model = patch_qwen2_5_vl(tiny_model(), blocks=FULL_ATTENTION_BLOCKS)
    randomize_modulation(model)
    tower = model.model.visual
    pixels = pixel_values(GRID)
    split = int(GRID[0].prod())

    seen: list[list[int]] = []
    layer = tower.blocks[1].mlp.gate_proj
    layer.register_forward_pre_hook(lambda m, args: seen.append(list(m.segment_context.tolist())))

    with torch.no_grad():
        packed = tower(pixels, grid_thw=GRID).pooler_output
        alone_first = tower(pixels[:split], grid_thw=GRID[:1]).pooler_output
        alone_second = tower(pixels[split:], grid_thw=GRID[1:]).pooler_output
    # The block handed the image boundaries to the layer, and took them back afterwards.
    assert seen[0] == [0, 64, 96]
    assert layer.segment_context is None
    # Two images packed in one sequence are processed exactly as each image alone ...
    assert torch.allclose(packed, torch.cat([alone_first, alone_second]), atol=1e-5)
    # ... with different weights (the images have different means).
    hidden = torch.randn(96, 32)
    with torch.no_grad():
        weights = layer.dynamic_weight(torch.stack([hidden[:64].mean(0), hidden[64:].mean(0) + 1]))
    assert (weights[0] - weights[1]).abs().max() > 1e-3


def test_one_optimizer_step_trains_the_patched_model() -> None:
    model = patch_qwen2_5_vl(tiny_model(), blocks=FULL_ATTENTION_BLOCKS).train()
    inputs = batch()
    spectra = {id(layer): layer.spectrum.detach().clone() for layer in fd_layers(model)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = model(**inputs, labels=inputs["input_ids"]).loss
    assert torch.isfinite(loss)
    loss.backward()
    for layer in fd_layers(model):
        assert layer.spectrum.grad is not None and layer.spectrum.grad.abs().sum() > 0
        assert layer.modulation.group_head_weight.grad.abs().sum() > 0
    optimizer.step()
    assert all(not torch.equal(layer.spectrum, spectra[id(layer)]) for layer in fd_layers(model))
    with torch.no_grad():
        assert model(**inputs, labels=inputs["input_ids"]).loss < loss


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_gradient_checkpointing_gives_the_same_gradients(use_reentrant: bool) -> None:
    reference = patch_qwen2_5_vl(tiny_model(), blocks=FULL_ATTENTION_BLOCKS)
    randomize_modulation(reference)
    checkpointed = copy.deepcopy(reference)  # hooks must survive deepcopy
    checkpointed.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": use_reentrant})
    inputs = batch()
    for model in (reference, checkpointed):
        model.train()
        model(**inputs, labels=inputs["input_ids"]).loss.backward()
    for a, b in zip(fd_layers(reference), fd_layers(checkpointed)):
        assert torch.allclose(a.spectrum.grad, b.spectrum.grad, atol=1e-6)
        assert torch.allclose(a.modulation.reduce_weight.grad, b.modulation.reduce_weight.grad, atol=1e-6)


def test_save_and_load_round_trip_after_training(tmp_path) -> None:
    model = patch_qwen2_5_vl(tiny_model(), blocks=FULL_ATTENTION_BLOCKS, K=6, rank=8).train()
    inputs = batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(**inputs, labels=inputs["input_ids"]).loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        expected = model(**inputs).logits

    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved[CONFIG_KEY]["blocks"] == list(FULL_ATTENTION_BLOCKS)

    loaded = load_patched_qwen2_5_vl(str(tmp_path))
    assert type(loaded) is Qwen2_5_VLForConditionalGeneration
    layers = fd_layers(loaded)
    assert len(layers) == 3 * len(FULL_ATTENTION_BLOCKS)
    assert all(layer.num_groups == 6 and layer.rank == 8 for layer in layers)
    loaded.eval()
    with torch.no_grad():
        # Bit-identity is not promised by the CPU kernels (alignment, threading); a wrong load
        # would be off by orders of magnitude more.
        torch.testing.assert_close(loaded(**inputs).logits, expected, atol=1e-6, rtol=0)

    # The checkpoint also loads in another dtype, like any from_pretrained call.
    half = load_patched_qwen2_5_vl(str(tmp_path), dtype=torch.bfloat16).eval()
    assert fd_layers(half)[0].spectrum.dtype == torch.bfloat16
    with torch.no_grad():
        half_logits = half(**inputs).logits
    assert half_logits.dtype == torch.bfloat16
    assert (half_logits.float() - expected).abs().max() < 0.05 * expected.abs().max()


def test_loader_refuses_unpatched_checkpoints(tmp_path) -> None:
    tiny_model().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=CONFIG_KEY):
        load_patched_qwen2_5_vl(str(tmp_path))


def test_parameter_report_counts_the_patch() -> None:
    model = tiny_model()
    unpatched = sum(p.numel() for p in model.model.visual.parameters())
    patch_qwen2_5_vl(model, blocks=FULL_ATTENTION_BLOCKS)
    report = dve_parameter_report(model)
    assert report.fd_layers == 6
    assert report.vision_params_unpatched == unpatched
    assert report.vision_params_patched == sum(p.numel() for p in model.model.visual.parameters())
    assert report.extra_params == report.spectrum_params + report.bias_params + report.modulation_params - report.replaced_linear_params
    assert 0 < report.overhead == report.extra_params / unpatched
