"""CSV exports that spreadsheets cannot execute.

Prediction names come from models and imports; a cell such as ``=HYPERLINK(...)`` would run as a formula
when a clinician opens the file in a spreadsheet. Text cells starting with a formula character get a
leading apostrophe, which spreadsheets show as plain text.
"""

from __future__ import annotations

import csv
from typing import Any, Iterable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)  # "-1.5" is a number, not a formula
        except ValueError:
            return "'" + value
    return value


class SafeWriter:
    def __init__(self, stream: Any) -> None:
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([_safe(v) for v in row])
