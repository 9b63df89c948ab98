"""Reading the Fitzpatrick17k label file (pure Python).

Groh et al., 2021, CC BY-NC-SA 3.0. Every row is validated before anything is written; the split is a
stable function of the md5 so that re-imports never move a sample between train and test.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from annotations.csv_rows import read_rows, too_long
from annotations.import_report import FieldLimits, ImportRejected, RowError

REQUIRED_COLUMNS = ("md5hash", "fitzpatrick_scale", "label", "three_partition_label", "qc", "url")
WRONGLY_LABELLED = "3 Wrongly labelled"
LICENSE = "Fitzpatrick17k (Groh et al., 2021), CC BY-NC-SA 3.0"
_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class F17kRow:
    md5: str
    label: str
    fitzpatrick: int | None
    split: str
    qc: str
    url: str
    source: str
    metadata: dict

    @property
    def wrongly_labelled(self) -> bool:
        return self.qc == WRONGLY_LABELLED


def assign_split(key: str, val_pct: int = 10, test_pct: int = 10) -> str:
    """Deterministic split from a stable key: the same sample always lands in the same split."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
    if bucket < test_pct:
        return "test"
    if bucket < test_pct + val_pct:
        return "val"
    return "train"


def _skin_type(raw: str) -> int | None:
    value = int(raw)  # ValueError for non-numbers, reported by the caller
    if value == -1:
        return None
    if 1 <= value <= 6:
        return value
    raise ValueError(raw)


def read_f17k_csv(path: str | Path, limits: FieldLimits = FieldLimits()) -> tuple[list[F17kRow], list[RowError]]:
    """Parse and validate every row. Raises ImportRejected when the file itself is unusable."""
    path = Path(path)
    if not path.is_file():
        raise ImportRejected(f"{path} does not exist; pass the Fitzpatrick17k label CSV with --csv.")
    rows: list[F17kRow] = []
    errors: list[RowError] = []
    seen: dict[str, str] = {}
    _, reader = read_rows(path, REQUIRED_COLUMNS, f"a Fitzpatrick17k CSV has {', '.join(REQUIRED_COLUMNS)} "
                                                  "(and more). Is this the right file?")
    for line in reader:
        if line.errors:  # unreadable cells: the values below would only repeat the same problem
            errors.extend(line.errors)
            continue
        raw, where = line.values, line.where
        md5 = raw.get("md5hash", "").strip().lower()
        label = " ".join(raw.get("label", "").split())
        url = raw.get("url", "").strip()
        qc = raw.get("qc", "").strip()
        source = urlparse(url).netloc if _looks_like_url(url) else ""
        row_errors = []
        if not _MD5.match(md5):
            row_errors.append(RowError(where, "md5hash", f"{_short(md5)!r} is not a 32-character hex md5"))
        elif md5 in seen:
            row_errors.append(RowError(where, "md5hash", f"{md5} already appears on {seen[md5]}"))
        if not label:
            row_errors.append(RowError(where, "label", "the label is empty; every sample needs its diagnosis"))
        try:
            skin_type = _skin_type(raw.get("fitzpatrick_scale", "").strip())
        except ValueError:
            row_errors.append(RowError(where, "fitzpatrick_scale",
                                       f"{_short(raw.get('fitzpatrick_scale', ''))!r} is not 1-6 or -1 (unknown)"))
            skin_type = None
        for column, value, limit in (("label", label, limits.label), ("url", url, limits.source_url),
                                     ("qc", qc, limits.qc_flag)):
            err = too_long(where, column, value, limit)
            if err is not None:
                row_errors.append(err)
        if len(source) > limits.source and len(url) <= limits.source_url:  # the host is stored on its own
            row_errors.append(RowError(where, "url", f"its host name is {len(source):,} characters long; the "
                                                     f"limit is {limits.source:,}: check the URL"))
        if row_errors:
            errors.extend(row_errors)
            continue
        seen[md5] = where
        rows.append(F17kRow(
            md5=md5, label=label, fitzpatrick=skin_type, split=assign_split(md5),
            qc=qc, url=url, source=source,
            metadata={
                "fitzpatrick_centaur": raw.get("fitzpatrick_centaur", "").strip(),
                "nine_partition_label": raw.get("nine_partition_label", "").strip(),
                "three_partition_label": raw.get("three_partition_label", "").strip(),
            },
        ))
    if not rows and not errors:
        raise ImportRejected(f"{path.name} has a header but no rows.")
    return rows, errors


def _short(value: str, limit: int = 60) -> str:
    """Quote at most ``limit`` characters of a bad value: a 200 KB cell must not fill the report."""
    return value if len(value) <= limit else value[:limit] + "…"


def _looks_like_url(url: str) -> bool:
    try:
        urlparse(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return False
    return True
