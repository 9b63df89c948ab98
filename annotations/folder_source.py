"""Finding labelled images in a folder (pure Python).

Two layouts: ``<label>/<image>`` (the label is the folder name), or a CSV with columns ``path,label``
whose paths are relative to the CSV's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Container

from annotations.imaging import IMAGE_SUFFIXES
from annotations.csv_rows import cell_problem, read_rows, too_long
from annotations.import_report import FieldLimits, ImportRejected, RowError


@dataclass(frozen=True)
class FolderEntry:
    relpath: str   # stable id within the dataset
    path: Path
    label: str


def _clean_label(raw: str) -> str:
    return " ".join(raw.replace("_", " ").split())


def scan_label_folders(root: str | Path,
                       limits: FieldLimits = FieldLimits()) -> tuple[list[FolderEntry], list[RowError]]:
    root = Path(root)
    if not root.is_dir():
        raise ImportRejected(f"{root} is not a folder; give a folder with one sub-folder per label.")
    entries, errors = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts = path.relative_to(root).parts
        rel = "/".join(parts)
        if path.name.startswith("."):
            continue
        if len(parts) < 2:
            errors.append(RowError(rel, "path", "images must sit in a folder named after their label, e.g. psoriasis/img1.jpg"))
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            errors.append(RowError(rel, "image", f"{path.suffix or 'no extension'} is not an image type we accept "
                                                 f"({', '.join(sorted(IMAGE_SUFFIXES))})"))
            continue
        label = _clean_label(parts[0])
        problems = [err for err in (too_long(rel, "path", rel, limits.external_id),
                                    too_long(rel, "label", label, limits.label)) if err is not None]
        undecodable = cell_problem(rel)  # a file name in a legacy encoding (an old ZIP tool's cp437 names)
        if undecodable is not None:
            problems.append(RowError(rel, "path", f"the file name {undecodable.split(';')[0]}; rename the file"))
        if problems:
            errors.extend(problems)
            continue
        entries.append(FolderEntry(relpath=rel, path=path, label=label))
    if not entries and not errors:
        raise ImportRejected(f"{root} holds no images; expected <label>/<image> files.")
    return entries, errors


def _resolve_inside(base: Path, rel: str) -> tuple[Path | None, str | None]:
    """The file ``rel`` names under ``base``, or why it cannot be used."""
    if "\\" in rel:
        return None, f"{_short(rel)} uses backslashes; write the path with forward slashes, e.g. acne/img1.jpg"
    try:
        path = (base / rel).resolve()
        if base not in path.parents:
            return None, f"{_short(rel)} points outside the CSV's folder; use relative paths"
        if not path.is_file():
            return None, f"{_short(rel)} does not exist"
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return None, f"{_short(rel)} is not a usable file name ({reason}); shorten or rename it"
    return path, None


def read_path_label_csv(csv_path: str | Path, limits: FieldLimits = FieldLimits(),
                        known_bad: Container[str] = ()) -> tuple[list[FolderEntry], list[RowError]]:
    """Read ``path,label`` rows. Paths in ``known_bad`` were already reported by the caller (an archive
    entry that could not be unpacked) and are skipped here rather than reported a second time."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ImportRejected(f"{csv_path} does not exist.")
    base = csv_path.parent.resolve()
    entries, errors = [], []
    _, reader = read_rows(csv_path, ("path", "label"), "the CSV needs a header line 'path,label'")
    seen: set[str] = set()
    for line in reader:
        if line.errors:
            errors.extend(line.errors)
            continue
        where = line.where
        rel = line.values.get("path", "").strip()
        label = _clean_label(line.values.get("label", ""))
        if not label:
            errors.append(RowError(where, "label", "the label is empty; every image needs its diagnosis"))
            continue
        if not rel:
            errors.append(RowError(where, "path", "the path is empty"))
            continue
        if rel in known_bad:
            continue
        row_errors = [err for err in (too_long(where, "label", label, limits.label),) if err is not None]
        path, problem = _resolve_inside(base, rel)
        if problem is not None:
            row_errors.append(RowError(where, "path", problem))
        else:
            key = path.relative_to(base).as_posix()
            if key in known_bad:
                continue
            if key in seen:
                row_errors.append(RowError(where, "path", f"{_short(rel)} is listed twice"))
            err = too_long(where, "path", key, limits.external_id)
            if err is not None:
                row_errors.append(err)
        if row_errors:
            errors.extend(row_errors)
            continue
        seen.add(key)
        entries.append(FolderEntry(relpath=key, path=path, label=label))
    if not entries and not errors:
        raise ImportRejected(f"{csv_path.name} has a header but no rows.")
    return entries, errors


def _short(value: str, limit: int = 80) -> str:
    """At most ``limit`` characters of a bad value: a 100 KB cell must not fill the report."""
    return value if len(value) <= limit else value[:limit] + "…"
