"""Reading an import CSV row by row, turning every problem a real file has into a per-row error
(pure Python).

A CSV that comes from a spreadsheet may be saved as Latin-1 or UTF-16, hold a NUL byte, or carry a
field longer than ``csv.field_size_limit()``; none of those may stop the import with a traceback. The
file is decoded with ``surrogateescape`` so that a byte that is not UTF-8 survives as a marker and can
be reported on its own line, with every other row still checked.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from annotations.import_report import ImportRejected, RowError

SAVE_AS_UTF8 = "save the file as UTF-8 (in Excel: 'CSV UTF-8 (comma delimited)') and import again"


@dataclass
class CsvRow:
    where: str                     # "line 17": the line the row ends on
    values: dict[str, str]
    errors: list[RowError] = field(default_factory=list)


def _undecodable(value: str) -> int | None:
    """The first byte that was not UTF-8 (kept by surrogateescape as U+DC80..U+DCFF), or None."""
    for ch in value:
        if "\udc80" <= ch <= "\udcff":
            return ord(ch) - 0xDC00
    return None


def cell_problem(value: str) -> str | None:
    """Why a cell cannot be stored as text, in words, or None."""
    byte = _undecodable(value)
    if byte is not None:
        return f"holds the byte 0x{byte:02x}, which is not UTF-8 text; {SAVE_AS_UTF8}"
    if "\x00" in value:
        return ("holds a NUL byte, which a text field cannot store; remove it, or if the file is UTF-16, "
                f"{SAVE_AS_UTF8}")
    return None


def too_long(where: str, column: str, value: str, limit: int) -> RowError | None:
    """A RowError when ``value`` is longer than the database column holds."""
    if len(value) <= limit:
        return None
    return RowError(where, column, f"is {len(value):,} characters long; the limit is {limit:,}: shorten it")


def read_rows(path: Path, required: Sequence[str], header_hint: str) -> tuple[list[str], Iterator[CsvRow]]:
    """Open ``path`` and check its header; return the column names and an iterator over its rows.

    Raises ImportRejected when the header itself is unusable (missing columns, not text); everything
    wrong with a row comes back in that row's ``errors``.
    """
    fh = path.open(newline="", encoding="utf-8-sig", errors="surrogateescape")
    reader = csv.DictReader(fh)
    try:
        try:
            names = list(reader.fieldnames or [])
        except csv.Error as exc:
            raise ImportRejected(f"{path.name}: the header line cannot be read ({exc}); the first line must be "
                                 f"the column names, {header_hint}.") from exc
        for name in names:
            problem = cell_problem(name)
            if problem is not None:
                raise ImportRejected(f"{path.name}: line 1 (the header) {problem}.")
        missing = [c for c in required if c not in names]
        if missing:
            raise ImportRejected(f"{path.name} lacks the column(s) {', '.join(missing)}; {header_hint}.")
    except BaseException:
        fh.close()
        raise
    return names, _rows(fh, reader)


def _rows(fh, reader: csv.DictReader) -> Iterator[CsvRow]:
    with fh:
        while True:
            before = reader.line_num
            try:
                raw = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # The csv module raises for a field over csv.field_size_limit(); the reader starts afresh
                # on the next line, so the rest of the file is still checked.
                where = f"line {before + 1}"
                yield CsvRow(where, {}, [RowError(where, "row", f"cannot be read ({exc}); a cell this long is "
                                                                "not a label or path: fix the row")])
                continue
            where = f"line {reader.line_num}"
            values: dict[str, str] = {}
            errors: list[RowError] = []
            for key, value in raw.items():
                if key is None:  # more cells than columns: DictReader gathers them in a list
                    continue
                value = value or ""
                problem = cell_problem(value)
                if problem is not None:
                    errors.append(RowError(where, key, problem))
                values[key] = value
            yield CsvRow(where, values, errors)
