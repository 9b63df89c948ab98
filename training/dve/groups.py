"""Frequency-disjoint grouping of a weight's half spectrum.

FDLinear stores ``rfft2(W)`` of a ``d_out x d_in`` weight: a half spectrum of
``d_out x (d_in // 2 + 1)`` complex coefficients (full FFT along the output
axis, real FFT along the input axis). The coordinates are ordered from low to
high normalized radius and cut into K contiguous groups; each group gets one
dynamic coefficient ``alpha_k``, which is the paper's basis ``B_k``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch


def half_spectrum_shape(out_features: int, in_features: int) -> tuple[int, int]:
    """Shape of ``rfft2`` of an ``out_features x in_features`` real matrix."""
    return out_features, in_features // 2 + 1


def hermitian_partner_rows(out_features: int) -> np.ndarray:
    """Row ``u`` of the DC/Nyquist columns is the complex conjugate of row ``(-u) mod d_out``."""
    return (-np.arange(out_features)) % out_features


@functools.lru_cache(maxsize=32)
def _frequency_groups_numpy(out_features: int, in_features: int, num_groups: int) -> np.ndarray:
    rows, cols = half_spectrum_shape(out_features, in_features)
    u = np.arange(rows, dtype=np.int64)
    v = np.arange(cols, dtype=np.int64)
    # |signed frequency| along the full-FFT axis: rows u and d_out-u are the same frequency.
    u_abs = np.minimum(u, out_features - u)
    # Normalized radius^2 = (2|u|/d_out)^2 + (2v/d_in)^2. Scaled by (d_out*d_in/2)^2 it is
    # an exact integer, so ties are real ties on every platform and the order is reproducible.
    radius_key = (u_abs[:, None] * in_features) ** 2 + (v[None, :] * out_features) ** 2
    uu = np.broadcast_to(u[:, None], (rows, cols)).ravel()
    uabs = np.broadcast_to(u_abs[:, None], (rows, cols)).ravel()
    vv = np.broadcast_to(v[None, :], (rows, cols)).ravel()
    # Deterministic tie-break: radius, then |row frequency|, then column, then row. This puts
    # the two Hermitian partners of the DC/Nyquist columns next to each other.
    order = np.lexsort((uu, vv, uabs, radius_key.ravel()))
    n = order.size
    rank_group = (np.arange(n, dtype=np.int64) * num_groups) // n
    groups = np.empty(n, dtype=np.int64)
    groups[order] = rank_group
    groups = groups.reshape(rows, cols)

    # The DC column (and the Nyquist column when d_in is even) is Hermitian along the rows:
    # irfft2 only sees the symmetric part of it. A pair split across two groups would make a
    # basis B_k leak into its neighbour, so the pair follows the group of its lower row.
    partner = hermitian_partner_rows(out_features)
    boundary_cols = [0] + ([cols - 1] if in_features % 2 == 0 and cols > 1 else [])
    for col in boundary_cols:
        lower = np.minimum(u, partner)
        groups[:, col] = groups[lower, col]
    groups.setflags(write=False)
    return groups


def frequency_groups(out_features: int, in_features: int, num_groups: int) -> torch.Tensor:
    """Group id (``0 .. num_groups-1``) of every half-spectrum coordinate, shape ``(d_out, d_in//2+1)``.

    Groups are contiguous runs of the radius order with sizes differing by at most one (before
    the Hermitian-pair adjustment moves a boundary by one coordinate). When ``num_groups``
    exceeds the number of coordinates, some groups are empty: their coefficient has no effect.
    """
    if out_features < 1 or in_features < 1:
        raise ValueError("layer dimensions must be positive")
    if num_groups < 1:
        raise ValueError(f"num_groups must be >= 1, got {num_groups}")
    return torch.from_numpy(_frequency_groups_numpy(out_features, in_features, num_groups).copy())


def group_sizes(groups: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Number of half-spectrum coordinates in each group."""
    return torch.bincount(groups.reshape(-1), minlength=num_groups)
