"""Training data export: versioned, immutable snapshots for verl and TRL (pure Python, no Django).

A snapshot is one folder, written once and then made read-only:

* ``verl.parquet`` — verl's RL format: ``data_source``, ``prompt`` (chat messages whose text holds one
  literal ``<image>`` per entry of ``images``, which verl's ``RLHFDataset`` asserts), ``images`` (a list
  of ``{"bytes": ...}``), ``ability``, ``reward_model`` (``style``, ``ground_truth``) and ``extra_info``
  (the same keys on every row, so that parquet stores one struct type).
* ``trl/`` — the same rows as a ``datasets`` folder in the form TRL's ``GRPOTrainer`` takes: a
  conversational ``prompt`` with an image part, an ``images`` column of images, and ``references``
  (passed to our reward functions).
* ``manifest.json`` — stage, K, sample ids and the content hash.

Stage I rows ask for the 12-field JSON caption; the ground truth is the accepted caption. Stage II
rows carry the appendix-B prompt for the run's K; the ground truth is the label.

No image is written unscrubbed: ``build_rows`` and ``write_snapshot`` refuse image bytes that still carry
metadata (EXIF, XMP, text chunks, ...; ``annotations.imaging.require_scrubbed``), naming ``scrub_media``.
``rescrub_snapshot`` rewrites an existing snapshot's files with de-identified images (``scrub_media``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from annotations.deidentify import deidentify
from annotations.imaging import IDENTIFYING_REFUSAL, NotScrubbed, require_scrubbed
from annotations.schema import FIELD_GUIDELINES, FIELDS, CaptionError, serialize_caption
from evaluation.diagnosis import diagnosis_prompt

__all__ = [
    "ABILITY",
    "ExportError",
    "ExportRecord",
    "SnapshotManifest",
    "STAGE_CAPTION",
    "STAGE_DIAGNOSIS",
    "build_rows",
    "caption_prompt",
    "content_hash",
    "load_trl_dataset",
    "read_manifest",
    "rescrub_snapshot",
    "trl_rows",
    "write_snapshot",
]

STAGE_CAPTION = "I"
STAGE_DIAGNOSIS = "II"
ABILITY = "dermatology"
DATA_SOURCES = {STAGE_CAPTION: "skinflow_caption", STAGE_DIAGNOSIS: "skinflow_diagnosis"}
FORMAT_VERSION = 1


class ExportError(ValueError):
    """The data cannot make a snapshot (no accepted captions, unreadable image, ...)."""


@dataclass(frozen=True)
class ExportRecord:
    """One sample as the export sees it."""

    sample_id: int
    image_path: Path
    label: str
    caption: Mapping[str, Any] | None = None
    split: str = "train"
    checksum: str = ""  # SHA-256 of the image file, when known (Sample.checksum)
    # The sample's review state (e.g. "expert_override"): kept out of the rows, so it never changes what
    # training sees or the content hash; the manifest lists the overrides.
    review_state: str = ""
    # A reviewer marked the photo as showing identifying content (Sample.identifying_content): the export
    # door refuses it (the selection leaves such samples out; a pending snapshot recorded before the mark
    # still lists it).
    identifying: bool = False


@dataclass(frozen=True)
class SnapshotManifest:
    stage: str
    k: int
    split: str
    sample_ids: tuple[int, ...]
    content_hash: str
    rows: int
    overrides: tuple[int, ...] = ()  # sample ids whose caption an expert accepted against the LLM re-check

    def as_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "stage": self.stage, "k": self.k, "split": self.split,
                "sample_ids": list(self.sample_ids), "overrides": list(self.overrides),
                "content_hash": self.content_hash, "rows": self.rows}


def caption_prompt() -> str:
    """The Stage I instruction: describe the image as the 12-field caption of appendix A."""
    guide = "\n".join(f'- "{name}": {FIELD_GUIDELINES[name]}' for name in FIELDS)
    return (
        "[Character]\n\nAs a dermatologist, describe the skin shown in the photo as a structured description.\n\n"
        f"[Fields]\n\n{guide}\n\n"
        "[Output]\n\nReply with one JSON object with exactly these 12 keys, in this order, each a string "
        '("" when the feature is absent or not visible), and nothing else.'
    )


def _stage(stage: str) -> str:
    if stage not in DATA_SOURCES:
        raise ExportError(f"unknown stage {stage!r}; use {STAGE_CAPTION!r} (captions) or {STAGE_DIAGNOSIS!r} (diagnosis)")
    return stage


def build_rows(records: Iterable[ExportRecord], stage: str, *, k: int = 6, read_images: bool = True) -> list[dict[str, Any]]:
    """verl rows for ``records``; Stage I needs each record's accepted caption.

    With ``read_images=False`` a record with a checksum gets ``{"sha256": ...}`` instead of its bytes:
    enough for :func:`content_hash` (the same hash), without reading the image.

    Raises :class:`ExportError` when nothing is left to train on (e.g. no accepted captions), when an
    image cannot be read, or when a Stage I caption breaks the schema.
    """
    stage = _stage(stage)
    if not isinstance(k, int) or k < 1:
        raise ExportError(f"K must be a positive integer, got {k!r}")
    text = caption_prompt() if stage == STAGE_CAPTION else diagnosis_prompt(k)
    records = sorted(records, key=lambda r: r.sample_id)
    # The door for identifying content. Refused, not silently left out: the snapshot's content hash and
    # sample list were recorded (and shown) when it was created, and training something else under that
    # record would make it false. A new snapshot, made by the next launch, leaves the sample out.
    flagged = [r.sample_id for r in records if r.identifying]
    if flagged:
        raise ExportError(f"the image of sample {', '.join(map(str, flagged))} is {IDENTIFYING_REFUSAL} into a "
                          "snapshot (the mark was set after this snapshot was recorded); launch the run again: "
                          "a new snapshot leaves it out")
    rows = []
    for index, record in enumerate(records):
        if stage == STAGE_CAPTION:
            if not record.caption:
                continue
            try:
                ground_truth = serialize_caption(record.caption)
            except CaptionError as exc:
                raise ExportError(f"sample {record.sample_id}: its accepted caption breaks the schema: {exc}") from None
        else:
            if not record.label.strip():
                raise ExportError(f"sample {record.sample_id} has no label")
            ground_truth = record.label
        if not read_images and record.checksum:
            image = {"sha256": record.checksum}
        else:
            try:
                image = {"bytes": Path(record.image_path).read_bytes()}
            except OSError as exc:
                raise ExportError(f"sample {record.sample_id}: cannot read its image {record.image_path}: {exc.strerror}") from None
            _require_scrubbed(image["bytes"], record.sample_id)
        rows.append({
            "data_source": DATA_SOURCES[stage],
            "prompt": [{"role": "user", "content": "<image>" + text}],
            "images": [image],
            "ability": ABILITY,
            "reward_model": {"style": "model", "ground_truth": ground_truth},
            "extra_info": {"index": len(rows), "sample_id": int(record.sample_id), "split": record.split,
                           "label": record.label, "k": int(k), "stage": stage},
        })
    if not rows:
        what = "accepted captions" if stage == STAGE_CAPTION else "samples"
        raise ExportError(f"no {what} to export: a Stage {stage} snapshot needs at least one")
    return rows


def _require_scrubbed(data: bytes, sample_id: Any) -> None:
    """The export door: an image that still carries metadata never goes into a snapshot."""
    try:
        require_scrubbed(data, f"the image of sample {sample_id}")
    except NotScrubbed as exc:
        raise ExportError(str(exc)) from None


def content_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 over what training sees: prompts, image bytes, ground truths, extra info."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row["data_source"], row["prompt"], row["reward_model"], row["extra_info"]],
                                 sort_keys=True, ensure_ascii=False).encode())
        for image in row["images"]:
            digest.update(bytes.fromhex(image["sha256"]) if "sha256" in image else hashlib.sha256(image["bytes"]).digest())
    return digest.hexdigest()


def _pixels(img: Any) -> Any:
    """RGB pixels only: ``convert`` copies ``info`` (ICC profile, EXIF), which ``datasets`` would write back
    into the PNG it stores; the bytes were checked clean, this keeps the TRL copy clean by construction."""
    rgb = img.convert("RGB")
    rgb.info = {}
    return rgb


def trl_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The verl rows in TRL's conversational form (image parts instead of the ``<image>`` marker)."""
    from PIL import Image

    out = []
    for row in rows:
        text = row["prompt"][0]["content"]
        parts: list[dict[str, Any]] = []
        for i, segment in enumerate(text.split("<image>")):
            if i:
                parts.append({"type": "image", "text": None})
            if segment:
                parts.append({"type": "text", "text": segment})
        out.append({
            "prompt": [{"role": "user", "content": parts}],
            "images": [_pixels(Image.open(io.BytesIO(image["bytes"]))) for image in row["images"]],
            "references": row["reward_model"]["ground_truth"],
            "sample_id": row["extra_info"]["sample_id"],
        })
    return out


def _make_read_only(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def write_snapshot(folder: str | Path, rows: Sequence[Mapping[str, Any]], *, stage: str, k: int, split: str,
                   overrides: Iterable[int] = ()) -> SnapshotManifest:
    """Write the snapshot folder atomically (built aside, then renamed) and make its files read-only.

    ``overrides``: the rows' sample ids whose caption is an expert override; the manifest lists them.

    An existing folder is never touched: a snapshot is immutable, so writing to a taken folder is an error.
    """
    folder = Path(folder)
    if folder.exists():
        raise ExportError(f"snapshot folder {folder} already exists; snapshots are immutable")
    for row in rows:
        for image in row["images"]:
            _require_scrubbed(image["bytes"], row["extra_info"]["sample_id"])
    return _write_folder(folder, rows, stage=stage, k=k, split=split, overrides=overrides)


def _write_folder(folder: Path, rows: Sequence[Mapping[str, Any]], *, stage: str, k: int, split: str,
                  overrides: Iterable[int] = (), note: Mapping[str, Any] | None = None) -> SnapshotManifest:
    """Build the snapshot beside ``folder``, make it read-only, then rename it into place."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = SnapshotManifest(stage=_stage(stage), k=k, split=split,
                                sample_ids=tuple(int(r["extra_info"]["sample_id"]) for r in rows),
                                content_hash=content_hash(rows), rows=len(rows),
                                overrides=tuple(sorted(int(i) for i in overrides)))
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=folder.parent))
    try:
        pq.write_table(pa.Table.from_pylist(list(rows)), staging / "verl.parquet")
        features = datasets.Features({
            "prompt": [{"role": datasets.Value("string"),
                        "content": [{"type": datasets.Value("string"), "text": datasets.Value("string")}]}],
            "images": datasets.Sequence(datasets.Image()),
            "references": datasets.Value("string"),
            "sample_id": datasets.Value("int64"),
        })
        datasets.Dataset.from_list(trl_rows(rows), features=features).save_to_disk(str(staging / "trl"))
        (staging / "manifest.json").write_text(json.dumps({**manifest.as_dict(), **(note or {})}, indent=1),
                                               encoding="utf-8")
        _make_read_only(staging)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def read_manifest(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))


def load_trl_dataset(folder: str | Path) -> Any:
    """The snapshot's TRL dataset (``datasets.Dataset``)."""
    import datasets

    return datasets.load_from_disk(str(Path(folder) / "trl"))


def rescrub_snapshot(folder: str | Path, note: Mapping[str, Any] | None = None) -> str | None:
    """Rewrite an existing snapshot whose images still carry metadata (one written before images were
    de-identified on the way in): every image goes through the same ``deidentify`` as an import, and
    everything else (prompts, ground truths, sample ids, order, K, overrides) is kept as it was. The new
    manifest keeps the old content hash as ``deidentified.previous_content_hash``, with ``note``.

    Returns the new content hash, or None when no image carried anything (nothing is written: running it
    again is a no-op). The swap is two renames; a run killed between them is finished by the next call.
    """
    import pyarrow.parquet as pq

    folder = Path(folder)
    built, old = folder.parent / f".{folder.name}.scrubbed", folder.parent / f".{folder.name}.old"
    if not folder.exists() and built.exists():  # killed between the two renames: finish the swap
        built.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(built, ignore_errors=True)  # built but never swapped in: build it again from the live folder
    try:
        manifest = read_manifest(folder)
        rows = pq.read_table(folder / "verl.parquet").to_pylist()
    except (OSError, ValueError) as exc:  # a missing file, bad JSON, pyarrow's ArrowInvalid (a ValueError)
        raise ExportError(f"snapshot {folder} cannot be read ({type(exc).__name__}: {exc}); rebuild it or "
                          "remove its folder") from None
    missing = [key for key in ("stage", "k", "split", "content_hash") if key not in manifest]
    if missing:
        raise ExportError(f"snapshot {folder}: its manifest.json lacks {', '.join(missing)}; rebuild it or "
                          "remove its folder")
    changed = False
    for row in rows:
        for image in row.get("images") or ():
            try:
                clean = deidentify(image["bytes"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ExportError(f"snapshot {folder}: the image of sample {row['extra_info']['sample_id']} "
                                  f"cannot be de-identified ({exc})") from None
            if clean is not image["bytes"]:
                image["bytes"], changed = clean, True
    if not changed:
        return None
    previous = manifest.get("deidentified", {}).get("previous_content_hash", manifest["content_hash"])
    new = _write_folder(built, rows, stage=manifest["stage"], k=int(manifest["k"]), split=manifest["split"],
                        overrides=manifest.get("overrides", ()),
                        note={"deidentified": {"previous_content_hash": previous, **(note or {})}})
    folder.rename(old)
    built.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return new.content_hash
