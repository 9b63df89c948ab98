"""The Figure 3 toy: datasets, and a short run that writes its JSON and PNG."""

from __future__ import annotations

import json

import pytest
import torch

from training.dve.toy import ToySettings, main
from training.dve.toy_data import DATASETS, make_split


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_datasets_are_balanced_reproducible_2d_sets(name: str) -> None:
    x_train, y_train, x_test, y_test = make_split(name, 400, 200, seed=3)
    assert x_train.shape == (400, 2) and x_test.shape == (200, 2)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert set(y_train.tolist()) == {0, 1}
    assert abs(y_train.float().mean().item() - 0.5) < 0.1
    again = make_split(name, 400, 200, seed=3)
    assert torch.equal(x_train, again[0]) and torch.equal(y_test, again[3])
    assert not torch.equal(x_train[:200], x_test)


def test_toy_run_separates_xor_where_the_static_layer_cannot(tmp_path) -> None:
    defaults = ToySettings()
    main(["--out", str(tmp_path), "--datasets", "xor", "--fd-steps", "400", "--static-steps", "200"])
    payload = json.loads((tmp_path / "figure3.json").read_text())
    assert payload["settings"]["num_groups"] == defaults.num_groups == 12
    xor = payload["accuracy"]["xor"]
    assert xor["fdlinear_test_acc"] >= 0.95
    assert xor["static_test_acc"] <= 0.70
    png = (tmp_path / "figure3.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
