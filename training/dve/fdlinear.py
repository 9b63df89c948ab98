"""FDLinear: frequency-disjoint dynamic linear layer (SkinFlow section 3.2).

The layer keeps the half spectrum ``S = rfft2(W)`` of its weight as parameters. For every
image it predicts three modulation vectors from the image's mean token ``x_bar`` and uses

    W(x_bar) = diag(a_out) . irfft2(S * a_K[group]) . diag(a_in)

which equals ``diag(a_out) . (sum_k a_K[k] B_k) . diag(a_in)`` with ``B_k`` the inverse
transform of group k alone, without ever materialising the K bases: one gather and one
inverse FFT per image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .groups import frequency_groups, half_spectrum_shape

# Orthonormal FFT scaling keeps spectrum entries on the same scale as weight entries, so
# optimiser step sizes, weight decay and init statistics carry over from the dense layer.
FFT_NORM = "ortho"

# Above this many weight elements per chunk, images are built one chunk at a time: on CPU a
# batched irfft2 over several large matrices is slower per image than one at a time, and the
# chunking bounds the temporary memory of a forward pass without autograd.
_MAX_CHUNK_ELEMENTS = 1 << 21


def default_num_groups(in_features: int) -> int:
    """K = d/2 with d the layer's input dimension (SkinFlow 4.1.1)."""
    return max(1, in_features // 2)


def default_rank(in_features: int) -> int:
    """Bottleneck width: d_in / 16, at least 16."""
    return max(16, in_features // 16)


class ModulationBottleneck(nn.Module):
    """``x_bar -> r -> (a_in, a_out, a_K)``: one light bottleneck with three heads.

    Deliberately without a normalisation layer: normalising ``x_bar`` throws away its
    magnitude, and the modulation then cannot tell apart inputs along the same direction
    (the 2-D spirals toy fails at about 65 % that way).

    Parameters are plain tensors rather than ``nn.Linear`` children so that a framework's
    generic ``_init_weights`` (transformers' ``post_init``) never overwrites the zero heads.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_groups: int,
        rank: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.out_features = out_features
        self.num_groups = num_groups
        self.rank = rank
        self.reduce_weight = nn.Parameter(torch.empty(rank, in_features, **kw))
        self.reduce_bias = nn.Parameter(torch.empty(rank, **kw))
        self.in_head_weight = nn.Parameter(torch.empty(in_features, rank, **kw))
        self.in_head_bias = nn.Parameter(torch.empty(in_features, **kw))
        self.out_head_weight = nn.Parameter(torch.empty(out_features, rank, **kw))
        self.out_head_bias = nn.Parameter(torch.empty(out_features, **kw))
        self.group_head_weight = nn.Parameter(torch.empty(num_groups, rank, **kw))
        self.group_head_bias = nn.Parameter(torch.empty(num_groups, **kw))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Reduction as nn.Linear's default; heads at zero so every modulation starts at exactly 1.
        # (Like LoRA's zero B: the reduction gets its first gradient after the heads move.)
        nn.init.kaiming_uniform_(self.reduce_weight, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.reduce_bias, -bound, bound)
        for p in (
            self.in_head_weight,
            self.in_head_bias,
            self.out_head_weight,
            self.out_head_bias,
            self.group_head_weight,
            self.group_head_bias,
        ):
            nn.init.zeros_(p)

    def forward(self, x_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x_bar`` (B, d_in) -> ``a_in`` (B, d_in), ``a_out`` (B, d_out), ``a_K`` (B, K), in float32.

        Computed in float32 whatever the parameter dtype: modulations sit near 1, where bf16
        cannot resolve the small changes that training makes.
        """
        h = F.gelu(F.linear(x_bar.float(), self.reduce_weight.float(), self.reduce_bias.float()))
        a_in = 1.0 + F.linear(h, self.in_head_weight.float(), self.in_head_bias.float())
        a_out = 1.0 + F.linear(h, self.out_head_weight.float(), self.out_head_bias.float())
        a_k = 1.0 + F.linear(h, self.group_head_weight.float(), self.group_head_bias.float())
        return a_in, a_out, a_k


def _as_cu_seqlens(cu_seqlens: torch.Tensor | Sequence[int], num_tokens: int) -> list[int]:
    bounds = cu_seqlens.tolist() if isinstance(cu_seqlens, torch.Tensor) else [int(b) for b in cu_seqlens]
    if len(bounds) < 2 or bounds[0] != 0 or bounds[-1] != num_tokens:
        raise ValueError(
            f"cu_seqlens must run from 0 to the number of tokens ({num_tokens}), got {bounds[:3]}...{bounds[-2:]}"
        )
    if any(b > a for a, b in zip(bounds[1:], bounds[:-1])):
        raise ValueError("cu_seqlens must be non-decreasing")
    return bounds


class FDLinear(nn.Module):
    """Drop-in dynamic replacement for ``nn.Linear`` with one weight per image.

    Args:
        in_features, out_features, bias: as ``nn.Linear``.
        num_groups: K, the number of frequency groups (bases). Default ``in_features // 2``.
        rank: width of the modulation bottleneck. Default ``max(16, in_features // 16)``.

    ``forward(x, cu_seqlens=None)``: ``x`` is ``(..., in_features)``; its tokens (all leading
    dimensions flattened) are split into images by ``cu_seqlens`` (cumulative lengths, as in
    Qwen2.5-VL's packed vision sequence). Without ``cu_seqlens``, a segmentation set by the
    enclosing block (see :mod:`training.dve.patch`) is used, and otherwise the whole input is
    treated as one image.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        num_groups: int | None = None,
        rank: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.out_features = out_features
        self.num_groups = num_groups if num_groups is not None else default_num_groups(in_features)
        self.rank = rank if rank is not None else default_rank(in_features)
        # Real and imaginary parts in one tensor, last dimension 2 (torch.view_as_real layout).
        self.spectrum = nn.Parameter(torch.empty(*half_spectrum_shape(out_features, in_features), 2, **kw))
        self.bias = nn.Parameter(torch.empty(out_features, **kw)) if bias else None
        self.modulation = ModulationBottleneck(in_features, out_features, self.num_groups, self.rank, **kw)
        # Segmentation handed in by the enclosing vision block for the duration of its forward.
        self.segment_context: torch.Tensor | Sequence[int] | None = None
        self._group_index_cache: dict[torch.device, torch.Tensor] = {}
        self._reset_spectrum_and_bias()

    # ----------------------------------------------------------------- construction
    def _reset_spectrum_and_bias(self) -> None:
        if self.spectrum.is_meta:
            return
        weight = torch.empty(self.out_features, self.in_features, device=self.spectrum.device)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        with torch.no_grad():
            self.spectrum.copy_(self._spectrum_of(weight))
            if self.bias is not None:
                bound = 1.0 / math.sqrt(self.in_features)
                self.bias.uniform_(-bound, bound)

    @staticmethod
    def _spectrum_of(weight: torch.Tensor) -> torch.Tensor:
        return torch.view_as_real(torch.fft.rfft2(weight.detach().float(), norm=FFT_NORM))

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, num_groups: int | None = None, rank: int | None = None, K: int | None = None
    ) -> FDLinear:
        """An FDLinear whose output equals ``linear``'s at initialisation (modulations are 1).

        ``K`` is an alias of ``num_groups``. The new layer lives on the linear layer's device
        and dtype; on the meta device only the shapes are created.
        """
        if K is not None and num_groups is not None and K != num_groups:
            raise ValueError("pass either K or num_groups, not both")
        num_groups = K if K is not None else num_groups
        weight = linear.weight
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            num_groups=num_groups,
            rank=rank,
            device=weight.device,
            dtype=weight.dtype,
        )
        if not weight.is_meta:
            with torch.no_grad():
                layer.spectrum.copy_(cls._spectrum_of(weight))
                if linear.bias is not None:
                    layer.bias.copy_(linear.bias)
        return layer

    # ----------------------------------------------------------------- weight synthesis
    def group_index(self, device: torch.device | None = None) -> torch.Tensor:
        """Group id per half-spectrum coordinate, ``(d_out, d_in//2+1)`` long, on ``device``.

        Derived from the shapes, so it is neither a parameter nor a buffer (a checkpoint does
        not carry it and a meta-device construction does not leave it uninitialised).
        """
        device = torch.device(device) if device is not None else self.spectrum.device
        cached = self._group_index_cache.get(device)
        if cached is None:
            cached = frequency_groups(self.out_features, self.in_features, self.num_groups).to(device)
            self._group_index_cache[device] = cached
        return cached

    def _inverse(self, spec: torch.Tensor) -> torch.Tensor:
        """Inverse of ``rfft2(W, norm=ortho)`` for a complex half spectrum ``(..., d_out, d_in//2+1)``.

        Done as ``ifft`` over rows then ``irfft`` over columns, which is exactly ``irfft2`` with
        ``s=(d_out, d_in)`` (so odd ``d_in`` round-trips) but about 30 % faster on CPU than
        the fused call.
        """
        rows = torch.fft.ifft(spec, dim=-2, norm=FFT_NORM)
        return torch.fft.irfft(rows, n=self.in_features, dim=-1, norm=FFT_NORM)

    def static_weight(self) -> torch.Tensor:
        """The weight at modulation 1, ``irfft2(S)``, in float32."""
        return self._inverse(torch.view_as_complex(self.spectrum.float().contiguous()))

    def basis(self, k: int) -> torch.Tensor:
        """The spatial basis ``B_k``: inverse transform of group k's coefficients alone (float32)."""
        mask = (self.group_index() == k).to(torch.float32).unsqueeze(-1)
        return self._inverse(torch.view_as_complex((self.spectrum.float() * mask).contiguous()))

    def compose_weight(self, a_in: torch.Tensor, a_out: torch.Tensor, a_k: torch.Tensor) -> torch.Tensor:
        """``W = diag(a_out) irfft2(S * a_K[group]) diag(a_in)`` for a batch of modulations, float32.

        a_in (B, d_in), a_out (B, d_out), a_k (B, K) -> (B, d_out, d_in).
        """
        # Without autograd the scalings run in place: each avoids a fresh weight-sized buffer.
        in_place = not torch.is_grad_enabled()
        # Autocast must not push the FFT into half precision (cuFFT half needs power-of-two
        # sizes, and bf16 spectra lose the weight's fine structure).
        with torch.autocast(device_type=self.spectrum.device.type, enabled=False):
            rows, cols = self.spectrum.shape[:2]
            groups = self.group_index().reshape(-1)
            # The one gather: each coordinate's group coefficient.
            gain = torch.index_select(a_k.float(), 1, groups).view(-1, rows, cols, 1)
            spec = torch.view_as_complex(self.spectrum.float() * gain)
            # diag(a_out) acts on rows, which the column-wise second FFT step leaves apart.
            rows_half = torch.fft.ifft(spec, dim=-2, norm=FFT_NORM)
            row_gain = a_out.float().unsqueeze(-1)
            rows_half = rows_half.mul_(row_gain) if in_place else rows_half * row_gain
            weight = torch.fft.irfft(rows_half, n=self.in_features, dim=-1, norm=FFT_NORM)
            col_gain = a_in.float().unsqueeze(-2)
            return weight.mul_(col_gain) if in_place else weight * col_gain

    def dynamic_weight(self, x_bar: torch.Tensor) -> torch.Tensor:
        """``W(x_bar)`` for image means ``x_bar`` of shape (B, d_in) -> (B, d_out, d_in), float32."""
        return self.compose_weight(*self.modulation(x_bar))

    # ----------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor, cu_seqlens: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        if cu_seqlens is None:
            cu_seqlens = self.segment_context
        lead_shape = x.shape[:-1]
        tokens = x.reshape(-1, self.in_features)
        num_tokens = tokens.shape[0]
        bounds = [0, num_tokens] if cu_seqlens is None else _as_cu_seqlens(cu_seqlens, num_tokens)
        spans = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        if not spans:
            return x.new_zeros(*lead_shape, self.out_features)
        out = self._forward_spans(tokens, spans)
        return out.reshape(*lead_shape, self.out_features)

    def _forward_spans(self, tokens: torch.Tensor, spans: list[tuple[int, int]]) -> torch.Tensor:
        lengths = {b - a for a, b in spans}
        equal = len(lengths) == 1
        if equal:
            length = lengths.pop()
            x_bar = tokens.view(len(spans), length, self.in_features).mean(dim=1, dtype=torch.float32)
        else:
            x_bar = torch.stack([tokens[a:b].mean(dim=0, dtype=torch.float32) for a, b in spans])
        a_in, a_out, a_k = self.modulation(x_bar)

        # Without autograd, results go straight into one output buffer instead of a final cat.
        out = None if torch.is_grad_enabled() else tokens.new_empty(tokens.shape[0], self.out_features)
        pieces = []
        # Small weights (the 2-D toy: one "image" per point) are built and applied in batches;
        # large ones one image at a time, where a 2-D GEMM is the fastest path.
        step = self._chunk_size() if equal else 1
        for start in range(0, len(spans), step):
            stop = min(start + step, len(spans))
            weight = self.compose_weight(a_in[start:stop], a_out[start:stop], a_k[start:stop]).to(tokens.dtype)
            a, b = spans[start][0], spans[stop - 1][1]
            if stop - start == 1:
                piece = self._matmul(tokens[a:b], weight[0], None if out is None else out[a:b])
            else:
                x_chunk = tokens[a:b].view(stop - start, -1, self.in_features)
                target = None if out is None else out[a:b].view(stop - start, -1, self.out_features)
                piece = self._batched_matmul(x_chunk, weight, target).reshape(-1, self.out_features)
            pieces.append(piece)
        if out is not None:
            return out
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def _matmul(self, x: torch.Tensor, weight: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
        if out is None:
            return F.linear(x, weight, self.bias)
        if self.bias is None:
            return torch.mm(x, weight.t(), out=out)
        return torch.addmm(self.bias, x, weight.t(), out=out)

    def _batched_matmul(self, x: torch.Tensor, weight: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
        kw = {} if out is None else {"out": out}
        if self.bias is None:
            return torch.bmm(x, weight.transpose(1, 2), **kw)
        return torch.baddbmm(self.bias.view(1, 1, -1), x, weight.transpose(1, 2), **kw)

    def _chunk_size(self) -> int:
        return max(1, _MAX_CHUNK_ELEMENTS // (self.out_features * self.in_features))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"num_groups={self.num_groups}, rank={self.rank}"
        )
