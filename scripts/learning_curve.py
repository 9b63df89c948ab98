"""Show that the TRL engine learns, on CPU, in a few minutes.

A tiny random Qwen2.5-VL with DVE is warm-started to answer the appendix-B top-1 prompt with one of
four diagnoses (so the first steps earn little: the target is one answer among four, and the warm start
is imperfect). The image's label is "psoriasis"; the reward is our Stage II diagnosis reward (positional, clinical judge; the ontology decides these
names, and a local OpenAI-compatible server stands by for names it cannot). GRPO then runs through
the real engine (``training.engines.trl_engine.train``: our export, our loader, our reward) and the
mean reward per step is printed and drawn to a PNG.

    .venv/bin/python scripts/learning_curve.py [--steps 30] [--out data/learning_curve.png]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DISEASES = ("psoriasis", "eczema", "acne vulgaris", "melanoma")
TARGET = "psoriasis"


def answer(disease: str) -> str:
    return '<think>x</think><answer>{"top1_diseases": [{"disease": "' + disease + '"}]}</answer>'


class _Tee(io.TextIOBase):
    """Keeps the engine's metric lines and advances a progress bar on each."""

    def __init__(self, bar) -> None:
        self.lines: list[str] = []
        self.buffer_ = ""
        self.bar = bar

    def write(self, text: str) -> int:
        self.buffer_ += text
        *complete, self.buffer_ = self.buffer_.split("\n")
        for line in complete:
            self.lines.append(line)
            if line.startswith("SKINFLOW_METRICS"):
                self.bar.update(1)
        return len(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--group", type=int, default=8, help="GRPO group size G")
    parser.add_argument("--lr", type=float, default=1e-3, help="tiny-model learning rate (the paper's 5e-7 is for 7B)")
    parser.add_argument("--out", default=str(ROOT / "data" / "learning_curve.png"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image
    from tqdm import tqdm

    from evaluation.diagnosis import diagnosis_prompt
    from training.engines.spec import RunSpec
    from training.engines.trl_engine import train
    from training.export import ExportRecord, build_rows, write_snapshot
    from training.metrics import parse_lines
    from training.tiny_vlm import save_tiny_base
    from webapp.llm_testserver import ScriptedLLMServer, last_user_text

    work = Path(tempfile.mkdtemp(prefix="learning-curve-"))
    image = Image.new("RGB", (16, 16), (200, 120, 110))
    image.save(work / "lesion.png")
    started = time.monotonic()
    save_tiny_base(work / "base", dve_k=4, examples=[(diagnosis_prompt(1), image, [answer(d) for d in DISEASES])],
                   warm_steps=200, seed=args.seed)
    print(f"warm-started tiny Qwen2.5-VL (DVE on) in {time.monotonic() - started:.0f} s", flush=True)

    rows = build_rows([ExportRecord(sample_id=1, image_path=work / "lesion.png", label=TARGET)], "II", k=1)
    write_snapshot(work / "snapshot", rows, stage="II", k=1, split="train")
    spec = RunSpec(run_id=0, stage="II", engine="trl", model_path=str(work / "base"), snapshot_dir=str(work / "snapshot"),
                   output_dir=str(work / "run"), dve=True, dve_k=4, k=1,
                   hyperparameters={"max_steps": args.steps, "group_size": args.group, "batch_size": 1, "lr": args.lr,
                                    "max_response_length": 40, "save_steps": 10_000, "seed": args.seed,
                                    "warmup_ratio": 0.0},
                   reward={"position_weights": [1.0]})

    def judge(request: dict) -> str:  # names outside the ontology: never the target
        names = json.loads(last_user_text(request).rsplit("\n", 1)[-1])
        return json.dumps({"verdicts": [{"name": n, "category": "unrelated", "rationale": "-"} for n in names]})

    with ScriptedLLMServer(judge) as server, tqdm(total=args.steps, desc="GRPO steps", file=sys.stderr) as bar:
        os.environ["SKINFLOW_LLM_BASE_URL"] = server.base_url
        os.environ["SKINFLOW_ALLOWED_ENDPOINT_HOSTS"] = server.base_url.split("/")[2]  # its loopback host:port
        tee = _Tee(bar)
        with contextlib.redirect_stdout(tee):
            train(spec)
    steps = parse_lines(tee.lines)
    xs = sorted(steps)
    rewards = [steps[s].get("reward_mean", float("nan")) for s in xs]

    first, last = rewards[:5], rewards[-5:]
    print(f"steps: {len(xs)}  judge LLM calls: {server.request_count}")
    print("mean reward per step: " + " ".join(f"{r:.2f}" for r in rewards))
    print(f"mean of steps 1-5: {sum(first) / len(first):.3f}   mean of the last 5 steps: {sum(last) / len(last):.3f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(xs, rewards, marker="o", markersize=3)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean reward (group of %d)" % args.group)
    ax.set_title(f"Tiny Qwen2.5-VL + DVE, TRL engine, target '{TARGET}' among {len(DISEASES)} warm-started answers", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"reward curve: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
