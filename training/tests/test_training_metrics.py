"""Metrics from both engines' output under one set of names."""

from __future__ import annotations

import json

from training.metrics import metric_line, parse_lines


def test_trl_lines_and_verl_file_logger_lines_give_the_same_names():
    trl = metric_line(3, {"reward": 0.5, "reward_std": 0.1, "kl": 0.02, "loss": 0.3, "learning_rate": 1e-6,
                          "completions/mean_length": 40.0, "step_time": 1.5})
    verl = json.dumps({"step": 4, "data": {"critic/rewards/mean": 0.6, "critic/rewards/std": 0.2,
                                            "actor/kl_loss": 0.01, "actor/pg_loss": -0.1, "actor/lr": 5e-7,
                                            "response_length/mean": 50.0, "timing_s/step": 9.0}})
    steps = parse_lines(["noise", trl, "Traceback ...", verl, "SKINFLOW_METRICS {broken"])
    assert set(steps) == {3, 4}
    names = {"reward_mean", "reward_std", "kl", "loss", "lr", "response_length", "step_time"}
    assert names <= set(steps[3]) and names <= set(steps[4])
    assert steps[3]["reward_mean"] == 0.5 and steps[4]["reward_mean"] == 0.6
    assert steps[4]["lr"] == 5e-7 and steps[3]["response_length"] == 40.0


def test_non_numeric_and_non_finite_values_are_dropped():
    line = metric_line(1, {"reward": float("nan"), "loss": 0.2, "note": "text", "ok": True})
    assert parse_lines([line]) == {1: {"loss": 0.2}}
