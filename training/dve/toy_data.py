"""The four 2-D binary classification sets of SkinFlow Figure 3 (generated, no downloads)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def _finish(points: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    order = rng.permutation(len(labels))
    return (
        torch.from_numpy(points[order].astype(np.float32)),
        torch.from_numpy(labels[order].astype(np.int64)),
    )


def make_spirals(n: int, rng: np.random.Generator, turns: float = 2.0, noise: float = 0.05):
    """Two interleaved Archimedean spirals of ``turns`` turns, radius up to 2."""
    half = n // 2
    t = np.sqrt(rng.uniform(0.02, 1.0, size=(2, half))) * turns * 2 * np.pi
    radius = 2.0 * t / (turns * 2 * np.pi)
    phase = np.array([[0.0], [np.pi]])
    points = np.stack([radius * np.cos(t + phase), radius * np.sin(t + phase)], axis=-1).reshape(-1, 2)
    points += rng.normal(scale=noise, size=points.shape)
    labels = np.repeat([0, 1], half)
    return _finish(points, labels, rng)


def make_xor(n: int, rng: np.random.Generator, spread: float = 0.35):
    """Four Gaussian blobs at (+-1, +-1); the label is the XOR of the two signs."""
    centers = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=float)
    which = rng.integers(0, 4, size=n)
    points = centers[which] + rng.normal(scale=spread, size=(n, 2))
    labels = (which >= 2).astype(np.int64)
    return _finish(points, labels, rng)


def make_circles(n: int, rng: np.random.Generator, inner: float = 0.5, outer: float = 1.5, noise: float = 0.12):
    """Two concentric noisy rings."""
    half = n // 2
    angle = rng.uniform(0, 2 * np.pi, size=(2, half))
    radius = np.array([[inner], [outer]])
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1).reshape(-1, 2)
    points += rng.normal(scale=noise, size=points.shape)
    labels = np.repeat([0, 1], half)
    return _finish(points, labels, rng)


def make_moons(n: int, rng: np.random.Generator, noise: float = 0.12):
    """Two interleaving half circles, centred on the origin."""
    half = n // 2
    angle = rng.uniform(0, np.pi, size=half)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    angle = rng.uniform(0, np.pi, size=half)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=-1)
    points = np.concatenate([upper, lower]) - np.array([0.5, 0.25])
    points = 1.5 * points + rng.normal(scale=noise, size=points.shape)
    labels = np.repeat([0, 1], half)
    return _finish(points, labels, rng)


DATASETS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {
    "spirals": make_spirals,
    "xor": make_xor,
    "circles": make_circles,
    "moons": make_moons,
}


def make_split(name: str, n_train: int, n_test: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train and test sets drawn independently from the same distribution."""
    make = DATASETS[name]
    rng = np.random.default_rng(seed)
    x_train, y_train = make(n_train, rng)
    x_test, y_test = make(n_test, rng)
    return x_train, y_train, x_test, y_test
