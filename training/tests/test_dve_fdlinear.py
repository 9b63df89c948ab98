"""FDLinear: equivalence with nn.Linear at init, the single-iFFT composition, gradients, packing."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from training.dve import FDLinear, frequency_groups, group_sizes


def _randomize_heads(layer: FDLinear, scale: float = 0.3, seed: int = 0) -> None:
    """Move the modulation heads away from zero so that weights really depend on the input."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in layer.modulation.named_parameters():
            if "head" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)


def _explicit_weight(layer: FDLinear, x_bar: torch.Tensor) -> torch.Tensor:
    """diag(a_out) (sum_k alpha_k B_k) diag(a_in), with every B_k materialised on its own."""
    a_in, a_out, a_k = layer.modulation(x_bar)
    spectrum = torch.view_as_complex(layer.spectrum.detach().float().contiguous())
    groups = frequency_groups(layer.out_features, layer.in_features, layer.num_groups)
    weights = []
    for b in range(x_bar.shape[0]):
        total = torch.zeros(layer.out_features, layer.in_features)
        for k in range(layer.num_groups):
            basis = torch.fft.irfft2(
                torch.where(groups == k, spectrum, torch.zeros_like(spectrum)),
                s=(layer.out_features, layer.in_features),
                norm="ortho",
            )
            total = total + a_k[b, k] * basis
        weights.append(a_out[b, :, None] * total * a_in[b, None, :])
    return torch.stack(weights)


@pytest.mark.parametrize(
    ("d_in", "d_out", "bias"),
    [(16, 16, True), (12, 20, True), (21, 8, False), (7, 7, True), (33, 10, True)],
)
def test_from_linear_reproduces_linear_output(d_in: int, d_out: int, bias: bool) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(d_in, d_out, bias=bias)
    layer = FDLinear.from_linear(linear, K=max(1, d_in // 2))
    x = torch.randn(3, 40, d_in)
    # One image, several packed images, ragged images: modulation is 1 everywhere at init.
    for cu in (None, torch.tensor([0, 30, 60, 90, 120]), torch.tensor([0, 7, 100, 120])):
        out = layer(x, cu_seqlens=cu)
        assert out.shape == (3, 40, d_out)
        assert (out - linear(x)).abs().max().item() <= 1e-5
    assert (layer.static_weight() - linear.weight).abs().max().item() <= 1e-5


def test_from_linear_keeps_dtype_and_layer_sizes() -> None:
    linear = nn.Linear(10, 6).to(torch.float64)
    layer = FDLinear.from_linear(linear, K=3)
    assert layer.spectrum.dtype == torch.float64
    assert layer.spectrum.shape == (6, 10 // 2 + 1, 2)
    assert layer.num_groups == 3
    assert FDLinear.from_linear(nn.Linear(10, 6)).num_groups == 5  # default K = d_in / 2


def test_single_ifft_composition_equals_sum_of_bases() -> None:
    torch.manual_seed(1)
    for d_in, d_out, k in [(8, 6, 5), (9, 5, 4), (6, 6, 40)]:
        layer = FDLinear.from_linear(nn.Linear(d_in, d_out), K=k)
        _randomize_heads(layer)
        x_bar = torch.randn(3, d_in)
        with torch.no_grad():
            fast = layer.dynamic_weight(x_bar)
            slow = _explicit_weight(layer, x_bar)
        assert (fast - slow).abs().max().item() <= 1e-5


def test_bases_are_frequency_disjoint_and_sum_to_the_weight() -> None:
    torch.manual_seed(2)
    layer = FDLinear.from_linear(nn.Linear(10, 7), K=5)
    groups = layer.group_index()
    with torch.no_grad():
        bases = [layer.basis(k) for k in range(layer.num_groups)]
        assert (sum(bases) - layer.static_weight()).abs().max().item() <= 1e-5
        for k, basis in enumerate(bases):
            support = torch.fft.rfft2(basis, norm="ortho").abs() > 1e-5
            assert bool((groups[support] == k).all()), f"basis {k} leaks into other groups"


def test_forward_is_per_image_matmul_with_the_image_mean() -> None:
    torch.manual_seed(3)
    layer = FDLinear.from_linear(nn.Linear(12, 9), K=6)
    _randomize_heads(layer)
    x = torch.randn(25, 12)
    cu = torch.tensor([0, 10, 25])
    with torch.no_grad():
        out = layer(x, cu_seqlens=cu)
        for a, b in [(0, 10), (10, 25)]:
            weight = _explicit_weight(layer, x[a:b].mean(0, keepdim=True))[0]
            expected = x[a:b] @ weight.T + layer.bias
            assert (out[a:b] - expected).abs().max().item() <= 1e-5


def test_packed_images_get_their_own_weights() -> None:
    torch.manual_seed(4)
    layer = FDLinear.from_linear(nn.Linear(16, 8), K=8)
    _randomize_heads(layer)
    first, second = torch.randn(10, 16), torch.randn(14, 16) + 1.0
    packed = torch.cat([first, second])
    with torch.no_grad():
        w_first = layer.dynamic_weight(first.mean(0, keepdim=True))
        w_second = layer.dynamic_weight(second.mean(0, keepdim=True))
        out = layer(packed, cu_seqlens=torch.tensor([0, 10, 24]))
        # Each image alone gives the same result as inside the pack ...
        assert torch.allclose(out[:10], layer(first), atol=1e-5)
        assert torch.allclose(out[10:], layer(second), atol=1e-5)
        # ... and the pack is not treated as one image.
        assert not torch.allclose(out, layer(packed), atol=1e-3)
    assert (w_first - w_second).abs().max().item() > 1e-3


def test_without_cu_seqlens_the_input_is_one_image_not_one_weight_per_token() -> None:
    torch.manual_seed(5)
    layer = FDLinear.from_linear(nn.Linear(6, 6), K=3)
    _randomize_heads(layer)
    x = torch.randn(2, 5, 6)
    with torch.no_grad():
        weight = layer.dynamic_weight(x.reshape(-1, 6).mean(0, keepdim=True))[0]
        expected = x @ weight.T + layer.bias
        assert torch.allclose(layer(x), expected, atol=1e-5)
        per_token = layer(x, cu_seqlens=torch.arange(11))
        assert not torch.allclose(layer(x), per_token, atol=1e-3)


def test_gradients_reach_spectrum_and_bottleneck() -> None:
    torch.manual_seed(6)
    layer = FDLinear.from_linear(nn.Linear(10, 12), K=5)
    x = torch.randn(30, 10, requires_grad=True)
    target = torch.randn(30, 12)
    cu = torch.tensor([0, 12, 30])
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)

    loss = ((layer(x, cu_seqlens=cu) - target) ** 2).mean()
    loss.backward()
    grads = {name: p.grad for name, p in layer.named_parameters()}
    assert grads["spectrum"].abs().sum() > 0
    for head in ("in_head", "out_head", "group_head"):
        assert grads[f"modulation.{head}_weight"].abs().sum() > 0, head
    assert x.grad is not None and x.grad.abs().sum() > 0
    # Zero heads shield the reduction layer at step 0 (as LoRA's zero B does); one step later
    # every parameter of the bottleneck receives gradient.
    optimizer.step()
    optimizer.zero_grad()
    loss = ((layer(x, cu_seqlens=cu) - target) ** 2).mean()
    loss.backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_modulations_start_at_exactly_one() -> None:
    layer = FDLinear(20, 30, num_groups=10)
    a_in, a_out, a_k = layer.modulation(torch.randn(4, 20) * 5)
    for a in (a_in, a_out, a_k):
        assert torch.equal(a, torch.ones_like(a))


def test_bfloat16_layer_runs_fft_in_float32_and_matches_linear() -> None:
    torch.manual_seed(7)
    linear = nn.Linear(64, 48)
    layer = FDLinear.from_linear(copy.deepcopy(linear).to(torch.bfloat16))
    x = torch.randn(2, 50, 64)
    out = layer(x.to(torch.bfloat16), cu_seqlens=torch.tensor([0, 40, 100]))
    assert out.dtype == torch.bfloat16
    reference = linear(x)
    assert (out.float() - reference).abs().max().item() < 0.05 * reference.abs().max().item()
    assert layer.dynamic_weight(torch.randn(1, 64, dtype=torch.bfloat16)).dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer.compose_weight(torch.ones(1, 64), torch.ones(1, 48), torch.ones(1, 32)).dtype == torch.float32


def test_bad_cu_seqlens_are_rejected() -> None:
    layer = FDLinear(4, 4)
    with pytest.raises(ValueError):
        layer(torch.randn(10, 4), cu_seqlens=torch.tensor([0, 5, 9]))
    with pytest.raises(ValueError):
        layer(torch.randn(10, 4), cu_seqlens=torch.tensor([0, 6, 5, 10]))


# ----------------------------------------------------------------------------- groups


@pytest.mark.parametrize(("d_out", "d_in", "k"), [(12, 16, 8), (9, 7, 5), (3420 // 20, 1280 // 20, 32)])
def test_groups_are_contiguous_radius_bands(d_out: int, d_in: int, k: int) -> None:
    groups = frequency_groups(d_out, d_in, k)
    assert groups.shape == (d_out, d_in // 2 + 1)
    sizes = group_sizes(groups, k)
    assert int(sizes.sum()) == groups.numel()
    assert int(sizes.min()) > 0
    # Equal cuts (+-1), then a split Hermitian pair may move one coordinate across a boundary.
    assert int(sizes.max() - sizes.min()) <= 3
    fu = torch.fft.fftfreq(d_out).abs()[:, None] / 0.5
    fv = torch.fft.rfftfreq(d_in)[None, :] / 0.5
    radius = torch.sqrt(fu**2 + fv**2)
    for g in range(k - 1):
        assert radius[groups == g].max() <= radius[groups == g + 1].min() + 1e-12
    assert int(groups[0, 0]) == 0  # DC is in the lowest band


@pytest.mark.parametrize(("d_out", "d_in"), [(10, 8), (9, 8), (10, 9), (64, 64)])
def test_hermitian_partners_share_a_group(d_out: int, d_in: int) -> None:
    for k in (3, 7, 16):
        groups = frequency_groups(d_out, d_in, k)
        partner = (-torch.arange(d_out)) % d_out
        assert torch.equal(groups[:, 0], groups[partner, 0])
        if d_in % 2 == 0:
            assert torch.equal(groups[:, -1], groups[partner, -1])


def test_groups_are_deterministic_and_allow_more_groups_than_coordinates() -> None:
    assert torch.equal(frequency_groups(30, 20, 9), frequency_groups(30, 20, 9))
    tiny = frequency_groups(2, 2, 12)  # the Figure 3 layer: 4 coordinates, 12 groups
    assert tiny.unique().numel() == 4
    assert int(tiny.max()) < 12


def test_inference_and_autograd_paths_agree() -> None:
    torch.manual_seed(8)
    for d_in, d_out in [(6, 5), (96, 80)]:  # batched small-weight path and per-image path
        layer = FDLinear.from_linear(nn.Linear(d_in, d_out), K=4)
        _randomize_heads(layer, scale=0.1)
        x = torch.randn(60, d_in)
        for cu in (torch.tensor([0, 20, 40, 60]), torch.tensor([0, 5, 5, 60]), torch.arange(61)):
            with torch.no_grad():
                inference = layer(x, cu_seqlens=cu)
            training = layer(x, cu_seqlens=cu)
            assert training.requires_grad
            assert torch.allclose(inference, training.detach(), atol=1e-5)
