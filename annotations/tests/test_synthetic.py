"""The synthetic dermatology set (issue 15, item 1): deterministic, schema-valid, labels in the pixels."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotations.folder_source import scan_label_folders
from annotations.schema import FIELDS, LESION_TYPES, parse_caption
from annotations.synthetic import (FIELD_VALUES, FOV_MM, IMAGE_SIZE, LABELS, LOOKALIKE_PAIRS, MANIFEST_NAME, SKIN_TONES,
                                   SPLITS, SYNTHETIC_FIELD_WEIGHTS, generate_sample, generate_set, generate_split,
                                   image_seed, number_category, read_manifest, write_contact_sheet,
                                   write_synthetic_folder)

PER_LABEL = 6  # one image per Fitzpatrick type per label


@pytest.fixture(scope="module")
def train():
    return generate_split("train", PER_LABEL, seed=0)


@pytest.fixture(scope="module")
def test_split():
    return generate_split("test", 4, seed=0)


def _by_label(samples):
    out = defaultdict(list)
    for s in samples:
        out[s.label].append(s)
    return out


def test_at_least_six_labels_all_fitzpatrick17k_names_known_to_the_ontology():
    from evaluation.ontology import DEFAULT_PATH, default_ontology

    f17k = json.loads(Path(DEFAULT_PATH).read_text(encoding="utf-8"))["f17k_labels"]
    ontology = default_ontology()
    assert len(LABELS) >= 6
    for label in LABELS:
        assert label in f17k, label
        assert ontology.resolve(label) is not None, label


def test_same_seed_gives_identical_bytes_and_captions(train):
    again = generate_split("train", PER_LABEL, seed=0)
    assert [(s.relpath, s.png, s.caption, s.fitzpatrick, s.seed) for s in train] == \
           [(s.relpath, s.png, s.caption, s.fitzpatrick, s.seed) for s in again]
    other = generate_split("train", 1, seed=1)
    assert {s.png for s in other}.isdisjoint({s.png for s in train})


def test_images_are_small_rgb_pngs(train):
    for s in train[:: PER_LABEL]:
        img = Image.open(__import__("io").BytesIO(s.png))
        assert img.format == "PNG" and img.mode == "RGB" and img.size == (IMAGE_SIZE, IMAGE_SIZE)


def test_captions_pass_the_schema_and_fill_the_visible_fields(train):
    for s in train:
        assert list(s.caption) == list(FIELDS)
        assert parse_caption(s.caption).to_dict() == s.caption  # valid and already canonical
        assert parse_caption(json.dumps(s.caption)).to_dict() == s.caption
        assert s.caption["location"] == "" and s.caption["other"] == ""  # close-ups: no anatomical context
        for name in FIELDS:
            if SYNTHETIC_FIELD_WEIGHTS[name]:
                assert s.caption[name], (s.relpath, name)
        assert set(s.caption["lesion_type"].split(", ")) <= set(LESION_TYPES)


def test_captions_follow_the_generating_parameters(train):
    for s in train:
        c = s.caption
        assert c["number"] in ("single", "few", "multiple", "numerous")
        low, _, high = c["size"].removesuffix(" mm").partition("-")
        assert 1 <= int(low) <= int(high or low) <= FOV_MM
        if c["number"] == "single":
            assert c["distribution_characteristics"] == "isolated"
        else:
            assert c["distribution_characteristics"] == "scattered"
        if s.fitzpatrick >= 5 and c["color"] in ("red", "salmon-red", "pink"):
            pytest.fail(f"{s.relpath}: erythema on type {s.fitzpatrick} is captioned violaceous/dusky, got {c['color']}")
    assert [number_category(n) for n in (1, 2, 4, 5, 9, 10, 30)] == \
           ["single", "few", "few", "multiple", "multiple", "numerous", "numerous"]


def test_caption_values_come_from_the_closed_vocabulary(train, test_split):
    import re

    assert set(FIELD_VALUES) == set(FIELDS) - {"size"}
    for s in [*train, *test_split]:
        for name, value in s.caption.items():
            if name == "size":
                assert re.fullmatch(r"\d+(?:-\d+)? mm", value), value
            else:
                assert value in FIELD_VALUES[name], (s.relpath, name, value)


def test_every_label_differs_from_every_other_in_a_captioned_attribute(train):
    groups = _by_label(train)
    for a, b in itertools.combinations(LABELS, 2):
        separating = [name for name in FIELDS
                      if {s.caption[name] for s in groups[a]}.isdisjoint({s.caption[name] for s in groups[b]})]
        assert separating, f"{a} and {b} share a value in every captioned field"


def test_lookalike_pairs_differ_in_the_named_attributes_and_share_others(train):
    groups = _by_label(train)
    for (a, b), names in LOOKALIKE_PAIRS.items():
        for name in names:
            va, vb = {s.caption[name] for s in groups[a]}, {s.caption[name] for s in groups[b]}
            assert va.isdisjoint(vb), (a, b, name, va, vb)
        shared = [name for name in FIELDS if {s.caption[name] for s in groups[a]} & {s.caption[name] for s in groups[b]}]
        assert len(shared) >= 4, (a, b, shared)  # a look-alike: most of the caption is the same
    nevus, melanoma = groups["nevocytic nevus"], groups["melanoma"]
    assert all(s.caption["color"].startswith("uniform") for s in nevus)
    assert all(s.caption["color"].startswith("variegated") for s in melanoma)
    assert {s.caption["border_characteristics"] for s in nevus} == {"regular, well-defined"}
    assert all(s.caption["border_characteristics"].startswith("irregular") for s in melanoma)
    psoriasis, eczema = groups["psoriasis"], groups["eczema"]
    assert {s.caption["border_characteristics"] for s in psoriasis} == {"well-defined"}
    assert {s.caption["border_characteristics"] for s in eczema} == {"ill-defined"}
    assert {s.caption["surface_characteristics"] for s in psoriasis} == {"thick silvery scale"}
    assert all(s.caption["surface_characteristics"].startswith("fine scale") for s in eczema)


def test_within_class_variation(train):
    groups = _by_label(train)
    for label, samples in groups.items():
        assert len({s.caption["size"] for s in samples}) >= 2, label
        assert len({json.dumps(s.caption) for s in samples}) >= 3, label
        assert len({s.png for s in samples}) == len(samples), label


def _border_pixels(sample) -> np.ndarray:
    a = np.asarray(sample.image(), dtype=np.float32)
    return np.concatenate([a[:4].reshape(-1, 3), a[-4:].reshape(-1, 3), a[:, :4].reshape(-1, 3), a[:, -4:].reshape(-1, 3)])


def test_skin_tones_span_fitzpatrick_one_to_six_for_every_label(train):
    for label, samples in _by_label(train).items():
        assert sorted(s.fitzpatrick for s in samples) == [1, 2, 3, 4, 5, 6], label
    # The drawn skin really darkens from I to VI (median brightness of the image edge, mostly skin).
    by_type = defaultdict(list)
    for s in train:
        by_type[s.fitzpatrick].append(float(np.median(_border_pixels(s).mean(1))))
    means = [np.mean(by_type[t]) for t in range(1, 7)]
    assert all(earlier > later + 5 for earlier, later in zip(means, means[1:])), means
    assert means[0] > 190 and means[-1] < 80
    assert set(SKIN_TONES) == {1, 2, 3, 4, 5, 6}


def test_splits_are_disjoint_by_seed_and_by_image():
    samples = generate_set({"train": 2, "val": 1, "test": 2}, seed=0, labels=["melanoma", "psoriasis"])
    by_split = defaultdict(list)
    for s in samples:
        by_split[s.split].append(s)
    assert set(by_split) == set(SPLITS) == {"train", "val", "test"}
    for a, b in itertools.combinations(SPLITS, 2):
        assert {s.seed for s in by_split[a]}.isdisjoint({s.seed for s in by_split[b]})
        assert {s.png for s in by_split[a]}.isdisjoint({s.png for s in by_split[b]})
    assert len({s.relpath for s in samples}) == len(samples)
    assert image_seed(0, "train", "melanoma", 0) != image_seed(0, "test", "melanoma", 0)


def test_unknown_label_or_skin_type_is_refused():
    with pytest.raises(ValueError, match="unknown synthetic label"):
        generate_sample("lupus", 1, 3)
    with pytest.raises(ValueError, match="skin_type"):
        generate_sample("melanoma", 1, 7)
    with pytest.raises(ValueError, match="split"):
        generate_split("validation", 1)


def _colour_features(sample, side: int = 16) -> np.ndarray:
    """Position-invariant colour statistics relative to the skin, at the tiny model's 16 px."""
    a = np.asarray(sample.image().resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32) / 255 + 1e-3
    px = a.reshape(-1, 3)
    rel = np.log(px / np.median(px, 0))
    out = []
    for values, edges in ((rel.mean(1), np.linspace(-2.5, 0.6, 12)), (rel[:, 0] - rel[:, 1], np.linspace(-0.6, 0.8, 10)),
                          (rel[:, 2] - rel[:, 0], np.linspace(-0.6, 0.6, 8))):
        hist, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
        out.append(hist / len(values))
    lesion = np.abs(rel).max(1) > 0.12
    out.append([lesion.mean(), rel[lesion].std() if lesion.sum() > 3 else 0.0])
    return np.concatenate(out)


def test_labels_live_in_the_pixels_at_sixteen_pixels(train, test_split):
    """A nearest-centroid rule on colour histograms (no learning beyond class means) reads the label
    off 16 x 16 images far above chance: the set cannot be solved without looking, and can with it."""
    labels = list(LABELS)
    X = np.stack([_colour_features(s) for s in train])
    Xt = np.stack([_colour_features(s) for s in test_split])
    mu, sd = X.mean(0), X.std(0) + 1e-6
    X, Xt = (X - mu) / sd, (Xt - mu) / sd
    centroids = np.stack([X[[i for i, s in enumerate(train) if s.label == label]].mean(0) for label in labels])
    predicted = [labels[i] for i in ((Xt[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)]
    accuracy = np.mean([p == s.label for p, s in zip(predicted, test_split)])
    assert accuracy >= 4 / len(labels), accuracy  # chance is 1/9


def test_written_folder_is_the_folder_import_layout(tmp_path):
    root = tmp_path / "synthetic"
    samples = write_synthetic_folder(root, {"train": 2, "val": 1, "test": 1}, seed=5)
    entries, errors = scan_label_folders(root)
    assert errors == []  # the hidden sidecar is skipped by the folder scan
    assert sorted(e.relpath for e in entries) == sorted(s.relpath for s in samples)
    assert {e.label for e in entries} == set(LABELS)
    for entry in entries:
        assert entry.label == entry.relpath.split("/")[0]
    manifest = read_manifest(root)
    assert (root / MANIFEST_NAME).is_file() and read_manifest(root / MANIFEST_NAME) == manifest
    assert set(manifest) == {s.relpath for s in samples}
    for s in samples:
        row = manifest[s.relpath]
        assert row["caption"] == s.caption and row["split"] == s.split and row["label"] == s.label
        assert row["fitzpatrick"] == s.fitzpatrick and row["seed"] == s.seed
        assert hashlib.sha256((root / s.relpath).read_bytes()).digest() == hashlib.sha256(s.png).digest()
    # Written twice with the same seed: the same files.
    again = tmp_path / "again"
    write_synthetic_folder(again, {"train": 2, "val": 1, "test": 1}, seed=5)
    for s in samples:
        assert (again / s.relpath).read_bytes() == (root / s.relpath).read_bytes()
    assert (again / MANIFEST_NAME).read_bytes() == (root / MANIFEST_NAME).read_bytes()


def test_contact_sheet(tmp_path):
    path = write_contact_sheet(tmp_path / "sheet.png", per_label=2)
    img = Image.open(path)
    assert img.height >= len(LABELS) * IMAGE_SIZE and img.width >= 2 * IMAGE_SIZE
