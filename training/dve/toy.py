"""Reproduce SkinFlow Figure 3: a static 2x2 layer against FDLinear (d = 2, K = 12).

    python -m training.dve.toy --out DIR

Both models are a single 2 -> 2 layer whose outputs are the two class logits. FDLinear
conditions its weight on each point itself (every point is its own "image", i.e. its own
``cu_seqlens`` segment). Writes ``DIR/figure3.json`` (accuracies and settings) and
``DIR/figure3.png``: per dataset the static boundary, the FDLinear boundary, and the field of
directions of the generated weight, ``W(x)[1] - W(x)[0]`` (the normal of the local decision
line), over the input plane.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .fdlinear import FDLinear
from .toy_data import DATASETS, make_split


@dataclass
class ToySettings:
    num_groups: int = 12
    rank: int = 64
    fd_steps: int = 3000
    fd_lr: float = 1e-2
    static_steps: int = 1000
    static_lr: float = 5e-2
    n_train: int = 1000
    n_test: int = 1000
    seed: int = 0


class PointwiseFDLinear(nn.Module):
    """FDLinear whose dynamic weight is conditioned on each input point separately."""

    def __init__(self, num_groups: int, rank: int) -> None:
        super().__init__()
        self.layer = FDLinear(2, 2, num_groups=num_groups, rank=rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x, cu_seqlens=torch.arange(x.shape[0] + 1))

    def weight_field(self, x: torch.Tensor) -> torch.Tensor:
        """W(x) for every point, (N, 2, 2)."""
        return self.layer.dynamic_weight(x)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(dim=-1) == y).float().mean().item()


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, desc: str) -> list[float]:
    """Full-batch Adam on cross-entropy with a cosine schedule; returns the loss curve."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = []
    for _ in tqdm(range(steps), desc=desc, leave=False):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def run_dataset(name: str, settings: ToySettings) -> dict:
    torch.manual_seed(settings.seed)
    x_train, y_train, x_test, y_test = make_split(name, settings.n_train, settings.n_test, settings.seed)
    static = nn.Linear(2, 2)
    dynamic = PointwiseFDLinear(settings.num_groups, settings.rank)
    start = time.perf_counter()
    static_losses = train(static, x_train, y_train, settings.static_steps, settings.static_lr, f"{name}: static")
    fd_losses = train(dynamic, x_train, y_train, settings.fd_steps, settings.fd_lr, f"{name}: FDLinear")
    return {
        "name": name,
        "static": static,
        "fdlinear": dynamic,
        "data": (x_train, y_train, x_test, y_test),
        "metrics": {
            "static_train_acc": accuracy(static, x_train, y_train),
            "static_test_acc": accuracy(static, x_test, y_test),
            "fdlinear_train_acc": accuracy(dynamic, x_train, y_train),
            "fdlinear_test_acc": accuracy(dynamic, x_test, y_test),
            "static_final_loss": static_losses[-1],
            "fdlinear_final_loss": fd_losses[-1],
            "train_seconds": time.perf_counter() - start,
        },
    }


def _plot_boundary(ax, model: nn.Module, x: torch.Tensor, y: torch.Tensor, extent: tuple, title: str) -> None:
    xs = np.linspace(extent[0], extent[1], 200)
    ys = np.linspace(extent[2], extent[3], 200)
    gx, gy = np.meshgrid(xs, ys)
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=-1).astype(np.float32))
    with torch.no_grad():
        prob = torch.softmax(model(grid), dim=-1)[:, 1].reshape(gx.shape).numpy()
    ax.contourf(gx, gy, prob, levels=20, cmap="RdBu_r", alpha=0.55, vmin=0, vmax=1)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1.0)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", s=5, edgecolors="none", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)


def _plot_field(ax, model: PointwiseFDLinear, x: torch.Tensor, y: torch.Tensor, extent: tuple, title: str) -> None:
    xs = np.linspace(extent[0], extent[1], 22)
    ys = np.linspace(extent[2], extent[3], 22)
    gx, gy = np.meshgrid(xs, ys)
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=-1).astype(np.float32))
    with torch.no_grad():
        weight = model.weight_field(grid)
    normal = (weight[:, 1] - weight[:, 0]).numpy()
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-12
    angle = np.arctan2(normal[:, 1], normal[:, 0])
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", s=3, alpha=0.25, edgecolors="none", vmin=0, vmax=1)
    ax.quiver(gx.ravel(), gy.ravel(), normal[:, 0], normal[:, 1], angle, cmap="hsv", pivot="mid", scale=28, width=0.004)
    ax.set_title(title, fontsize=9)


def plot_figure(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 3, figsize=(11, 3.5 * len(results)))
    axes = np.atleast_2d(axes)
    for row, result in zip(axes, results):
        x_train, y_train, x_test, y_test = result["data"]
        pad = 0.4
        extent = (
            float(x_test[:, 0].min()) - pad,
            float(x_test[:, 0].max()) + pad,
            float(x_test[:, 1].min()) - pad,
            float(x_test[:, 1].max()) + pad,
        )
        m = result["metrics"]
        name = result["name"]
        _plot_boundary(row[0], result["static"], x_test, y_test, extent, f"{name}: static Linear(2,2), test {100 * m['static_test_acc']:.1f} %")
        _plot_boundary(row[1], result["fdlinear"], x_test, y_test, extent, f"{name}: FDLinear (d=2, K={result['fdlinear'].layer.num_groups}), test {100 * m['fdlinear_test_acc']:.1f} %")
        _plot_field(row[2], result["fdlinear"], x_test, y_test, extent, f"{name}: direction of W(x)[1] - W(x)[0]")
        for ax in row:
            ax.set_xlim(extent[:2])
            ax.set_ylim(extent[2:])
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(out_dir: Path, settings: ToySettings, datasets: list[str] | None = None) -> dict:
    """Train both models on every dataset, write the JSON and PNG, return the JSON payload."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = datasets or list(DATASETS)
    results = [run_dataset(name, settings) for name in tqdm(names, desc="datasets")]
    payload = {
        "settings": asdict(settings),
        "accuracy": {r["name"]: r["metrics"] for r in results},
    }
    (out_dir / "figure3.json").write_text(json.dumps(payload, indent=2))
    plot_figure(results, out_dir / "figure3.png")
    return payload


def main(argv: list[str] | None = None) -> None:
    defaults = ToySettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=None)
    parser.add_argument("--K", type=int, default=defaults.num_groups, help="frequency groups (default 12)")
    parser.add_argument("--rank", type=int, default=defaults.rank, help="modulation bottleneck width")
    parser.add_argument("--fd-steps", type=int, default=defaults.fd_steps)
    parser.add_argument("--static-steps", type=int, default=defaults.static_steps)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args(argv)
    settings = ToySettings(
        num_groups=args.K, rank=args.rank, fd_steps=args.fd_steps, static_steps=args.static_steps, seed=args.seed
    )
    payload = run(args.out, settings, args.datasets)
    for name, m in payload["accuracy"].items():
        print(f"{name:8s} static test {100 * m['static_test_acc']:5.1f} %   FDLinear test {100 * m['fdlinear_test_acc']:5.1f} %")
    print(f"wrote {args.out / 'figure3.json'} and {args.out / 'figure3.png'}")


if __name__ == "__main__":
    main()
