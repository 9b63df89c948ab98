"""FDLinear vs nn.Linear at Qwen2.5-VL-7B vision-MLP shapes, and the patch's parameter overhead.

    .venv/bin/python benchmarks/bench_dve.py [--repeats 7] [--skip-memory]

Prints, for 1280 -> 3420 (gate/up) and 3420 -> 1280 (down), float32 on CPU:
  * forward time of FDLinear / nn.Linear over the same 4 images x 1,024 tokens (goal <= 1.30),
  * the split of FDLinear's forward into weight build (bottleneck + gather + inverse FFT +
    scaling), matmul, and the rest,
  * the same ratio for forward + backward, and for 1 image x 4,096 tokens,
  * the extra peak memory of a forward (and forward + backward) pass,
and the parameter overhead of the four-block patch on the real Qwen2.5-VL-7B vision config,
built on the meta device (goal <= 2.5 %).

Times are medians over interleaved repeats: this machine is shared, so single runs are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.dve import FDLinear, dve_parameter_report, patch_qwen2_5_vl  # noqa: E402

SHAPES = [(1280, 3420), (3420, 1280)]
IMAGES, TOKENS_PER_IMAGE = 4, 1024

# Qwen2.5-VL-7B-Instruct vision_config, written out so that nothing is downloaded.
QWEN2_5_VL_7B_VISION = {
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "depth": 32,
    "num_heads": 16,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "out_hidden_size": 3584,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "in_channels": 3,
    "hidden_act": "silu",
}


def make_layers(d_in: int, d_out: int, seed: int = 0) -> tuple[nn.Linear, FDLinear]:
    torch.manual_seed(seed)
    linear = nn.Linear(d_in, d_out)
    layer = FDLinear.from_linear(linear)
    # Non-trivial modulation, as after training (timing does not depend on the values).
    with torch.no_grad():
        for name, p in layer.modulation.named_parameters():
            if "head" in name:
                p.normal_(0.0, 0.01)
    layer.group_index()  # built once per shape, outside the timed region
    return linear, layer


def cu_seqlens(images: int, tokens: int) -> torch.Tensor:
    return torch.arange(images + 1, dtype=torch.int32) * tokens


def time_ms(fns: dict, repeats: int) -> dict[str, dict[str, float]]:
    """Median and best wall time of each callable in ms, runs interleaved so that load from
    other processes on this shared machine hits every candidate alike."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: {"median": statistics.median(v), "best": min(v)} for name, v in samples.items()}


def time_layer(d_in: int, d_out: int, repeats: int) -> dict:
    linear, layer = make_layers(d_in, d_out)
    x = torch.randn(IMAGES * TOKENS_PER_IMAGE, d_in)
    cu = cu_seqlens(IMAGES, TOKENS_PER_IMAGE)
    segments = x.view(IMAGES, TOKENS_PER_IMAGE, d_in)

    def build_weights() -> list[torch.Tensor]:
        a_in, a_out, a_k = layer.modulation(segments.mean(dim=1))
        return [layer.compose_weight(a_in[i : i + 1], a_out[i : i + 1], a_k[i : i + 1]) for i in range(IMAGES)]

    with torch.no_grad():
        weights = [w[0] for w in build_weights()]
        forward = time_ms(
            {
                "linear": lambda: linear(x),
                "fdlinear": lambda: layer(x, cu_seqlens=cu),
                "fdlinear_one_image": lambda: layer(x),
                "build": build_weights,
                "matmul": lambda: [F.linear(segments[i], weights[i], layer.bias) for i in range(IMAGES)],
            },
            repeats,
        )

    grad_out = torch.randn(IMAGES * TOKENS_PER_IMAGE, d_out)
    x_grad = x.clone().requires_grad_(True)

    def train_step(module: nn.Module, **kwargs) -> None:
        module.zero_grad(set_to_none=True)
        x_grad.grad = None
        module(x_grad, **kwargs).backward(grad_out)

    backward = time_ms(
        {
            "linear": lambda: train_step(linear),
            "fdlinear": lambda: train_step(layer, cu_seqlens=cu),
        },
        max(3, repeats // 2),
    )
    return {"forward_ms": forward, "forward_backward_ms": backward}


# ----------------------------------------------------------------------------- memory
_PROBE_FLAG = "--memory-probe"


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _memory_probe(kind: str, mode: str, d_in: int, d_out: int) -> None:
    """Run in a fresh process: transient peak RSS of one pass above the steady state, in MiB."""
    torch.set_num_threads(torch.get_num_threads())
    linear, layer = make_layers(d_in, d_out)
    module = linear if kind == "linear" else layer
    kwargs = {} if kind == "linear" else {"cu_seqlens": cu_seqlens(IMAGES, TOKENS_PER_IMAGE)}
    x = torch.randn(IMAGES * TOKENS_PER_IMAGE, d_in, requires_grad=(mode == "forward_backward"))
    grad_out = torch.randn(IMAGES * TOKENS_PER_IMAGE, d_out)

    def one_pass() -> None:
        if mode == "forward":
            with torch.no_grad():
                module(x, **kwargs)
        else:
            module.zero_grad(set_to_none=True)
            x.grad = None
            module(x, **kwargs).backward(grad_out)

    one_pass()  # warm-up: thread pools, FFT plans, lazily built tables
    module.zero_grad(set_to_none=True)
    x.grad = None
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS high-water mark
    base = _rss_kib("VmRSS")
    one_pass()
    print(json.dumps({"peak_extra_mib": (_rss_kib("VmHWM") - base) / 1024}))


def measure_memory(d_in: int, d_out: int) -> dict[str, float]:
    # A fixed mmap threshold makes glibc return every large buffer to the OS on free, so RSS
    # follows the live tensors instead of the allocator's cache.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    results = {}
    for mode in ("forward", "forward_backward"):
        for kind in ("linear", "fdlinear"):
            out = subprocess.run(
                [sys.executable, __file__, _PROBE_FLAG, kind, mode, str(d_in), str(d_out)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            results[f"{mode}_{kind}"] = json.loads(out.stdout.strip().splitlines()[-1])["peak_extra_mib"]
    return results


# ----------------------------------------------------------------------------- parameters
def parameter_overhead() -> dict:
    from transformers import Qwen2_5_VLVisionConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

    config = Qwen2_5_VLVisionConfig(**QWEN2_5_VL_7B_VISION)
    with torch.device("meta"):
        tower = Qwen2_5_VisionTransformerPretrainedModel(config)
    patch_qwen2_5_vl(tower, blocks=(8, 16, 24, 32))
    return dve_parameter_report(tower)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32 on CPU")
    print(f"batch: {IMAGES} images x {TOKENS_PER_IMAGE} tokens = {IMAGES * TOKENS_PER_IMAGE} tokens\n")
    for d_in, d_out in SHAPES:
        t = time_layer(d_in, d_out, args.repeats)
        shape = FDLinear(d_in, d_out, device="meta")
        print(f"== {d_in} -> {d_out}  (K = {shape.num_groups}, bottleneck r = {shape.rank})")
        print("                 nn.Linear ms       FDLinear ms      FDLinear / nn.Linear")
        print("                 median   best      median   best    median  best")
        for label, table, key in (
            ("fwd 4 x 1024", t["forward_ms"], "fdlinear"),
            ("fwd+bwd 4x1024", t["forward_backward_ms"], "fdlinear"),
            ("fwd 1 x 4096", t["forward_ms"], "fdlinear_one_image"),
        ):
            lin, fd = table["linear"], table[key]
            print(f"{label:15s} {lin['median']:7.1f} {lin['best']:7.1f}   {fd['median']:7.1f} {fd['best']:7.1f}"
                  f"    {fd['median'] / lin['median']:5.2f} {fd['best'] / lin['best']:5.2f}")
        fwd = {name: v["best"] for name, v in t["forward_ms"].items()}
        rest = fwd["fdlinear"] - fwd["build"] - fwd["matmul"]
        print(f"split of the 4 x 1024 forward (best): weight build {fwd['build']:.1f} ms "
              f"({fwd['build'] / IMAGES:.1f} ms/image), matmul {fwd['matmul']:.1f} ms "
              f"({fwd['matmul'] / IMAGES:.1f} ms/image), rest {rest:.1f} ms; goal for the ratio <= 1.30")
        if not args.skip_memory:
            mem = measure_memory(d_in, d_out)
            for mode in ("forward", "forward_backward"):
                extra = mem[f"{mode}_fdlinear"] - mem[f"{mode}_linear"]
                print(f"peak memory above steady state, {mode:16s}: nn.Linear +{mem[f'{mode}_linear']:6.1f} MiB, "
                      f"FDLinear +{mem[f'{mode}_fdlinear']:6.1f} MiB, extra {extra:+6.1f} MiB")
        print()

    report = parameter_overhead()
    print("== parameter overhead: Qwen2.5-VL-7B vision tower, blocks 8/16/24/32 patched (meta device)")
    print(report.format())
    print(f"goal <= 2.5 %: {'met' if report.overhead <= 0.025 else 'NOT met'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == _PROBE_FLAG:
        _memory_probe(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
