"""Finding labelled images in a folder (pure Python).

Two layouts: ``<label>/<image>`` (the label is the folder name), or a CSV with columns ``path,label``
whose paths are relative to the CSV's folder.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from annotations.imaging import IMAGE_SUFFIXES
from annotations.import_report import ImportRejected, RowError


@dataclass(frozen=True)
class FolderEntry:
    relpath: str   # stable id within the dataset
    path: Path
    label: str


def _clean_label(raw: str) -> str:
    return " ".join(raw.replace("_", " ").split())


def scan_label_folders(root: str | Path) -> tuple[list[FolderEntry], list[RowError]]:
    root = Path(root)
    if not root.is_dir():
        raise ImportRejected(f"{root} is not a folder; give a folder with one sub-folder per label.")
    entries, errors = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.name.startswith("."):
            continue
        if len(path.relative_to(root).parts) < 2:
            errors.append(RowError(rel, "path", "images must sit in a folder named after their label, e.g. psoriasis/img1.jpg"))
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            errors.append(RowError(rel, "image", f"{path.suffix or 'no extension'} is not an image type we accept "
                                                 f"({', '.join(sorted(IMAGE_SUFFIXES))})"))
            continue
        label = _clean_label(path.relative_to(root).parts[0])
        entries.append(FolderEntry(relpath=rel, path=path, label=label))
    if not entries and not errors:
        raise ImportRejected(f"{root} holds no images; expected <label>/<image> files.")
    return entries, errors


def read_path_label_csv(csv_path: str | Path) -> tuple[list[FolderEntry], list[RowError]]:
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ImportRejected(f"{csv_path} does not exist.")
    base = csv_path.parent.resolve()
    entries, errors = [], []
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("path", "label") if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportRejected(f"{csv_path.name} lacks the column(s) {', '.join(missing)}; "
                                 "the CSV needs a header line 'path,label'.")
        seen: set[str] = set()
        for line_no, row in enumerate(reader, start=2):
            where = f"line {line_no}"
            rel = (row.get("path") or "").strip()
            label = _clean_label(row.get("label") or "")
            if not label:
                errors.append(RowError(where, "label", "the label is empty; every image needs its diagnosis"))
                continue
            if not rel:
                errors.append(RowError(where, "path", "the path is empty"))
                continue
            path = (base / rel).resolve()
            if base not in path.parents:
                errors.append(RowError(where, "path", f"{rel} points outside the CSV's folder; use relative paths"))
                continue
            if not path.is_file():
                errors.append(RowError(where, "path", f"{rel} does not exist"))
                continue
            key = path.relative_to(base).as_posix()
            if key in seen:
                errors.append(RowError(where, "path", f"{rel} is listed twice"))
                continue
            seen.add(key)
            entries.append(FolderEntry(relpath=key, path=path, label=label))
    if not entries and not errors:
        raise ImportRejected(f"{csv_path.name} has a header but no rows.")
    return entries, errors
