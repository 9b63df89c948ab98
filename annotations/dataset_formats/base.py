"""The reader protocol every public-dataset format implements (pure Python).

A reader turns one metadata CSV, as its authors publish it, into ``SourceRow`` objects and per-row errors;
the import service (``annotations/dataset_import.py``) does the rest for every format alike: ontology
mapping, images, validation of the files, and the single all-or-nothing write.

A format is a subclass of ``DatasetReader`` that sets the class attributes below and implements
``parse(line)``; it is listed by name in ``annotations/dataset_formats/registry.py``. ``parse`` reads one
CSV line through ``Line`` (``line.get(column)``, ``line.error(column, message)``) and returns the samples
that line describes (several when a case has several images). The base class checks the header, the
cells (bytes that are not UTF-8, NUL), empty ids and labels, lengths against the model, and ids that
appear twice, so a format module only says what its own columns mean.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

from annotations.csv_rows import read_rows, too_long
from annotations.import_report import FieldLimits, ImportRejected, RowError

TRUE_WORDS = frozenset({"true", "1", "1.0", "yes", "t", "y"})
FALSE_WORDS = frozenset({"false", "0", "0.0", "no", "f", "n"})
MISSING_WORDS = frozenset({"", "nan", "na", "n/a", "none", "null", "unk", "unknown"})
_LITERAL_LIMIT = 20_000  # a SCIN label cell is a few hundred characters; a longer one is not a label


@dataclass(frozen=True)
class SourceRow:
    """One image of the source, validated and ready to map and write."""

    external_id: str            # the source's own id for this image, unique in the dataset
    label: str                  # the diagnosis exactly as the source writes it (Sample.label)
    split_key: str              # the patient / lesion / case it belongs to: one split per key
    where: str = ""             # "line 17" of the CSV
    fitzpatrick: int | None = None
    image: str = ""             # the file name or relative path the source gives for its image
    metadata: dict = field(default_factory=dict)
    exclude_from_eval: bool = False
    qc_flag: str = ""


@dataclass(frozen=True)
class Companion:
    """A second file some formats publish beside the main CSV (SCIN's labels, ISIC 2019's metadata)."""

    option: str                   # the command-line option: "labels" -> --labels FILE
    help: str
    default_names: tuple[str, ...] = ()   # looked for next to --csv when the option is not given
    required: bool = False


class Line:
    """One CSV line as a format's ``parse`` sees it."""

    def __init__(self, where: str, values: dict[str, str]) -> None:
        self.where = where
        self.values = values
        self.errors: list[RowError] = []
        self.warnings: list[RowError] = []

    def get(self, column: str) -> str:
        return (self.values.get(column) or "").strip()

    def has(self, column: str) -> bool:
        return column in self.values

    def error(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.where, column, message))

    def warn(self, column: str, message: str) -> None:
        self.warnings.append(RowError(self.where, column, message))

    def metadata(self, skip: Iterable[str] = ()) -> dict:
        """Every non-empty source column, as published (the header's unnamed index column left out)."""
        skipped = set(skip)
        return {k: v.strip() for k, v in self.values.items()
                if k and k.strip() and k not in skipped and not k.startswith("Unnamed:") and (v or "").strip()}

    def boolean(self, column: str, *, required: bool = True) -> bool | None:
        raw = self.get(column)
        if raw.casefold() in TRUE_WORDS:
            return True
        if raw.casefold() in FALSE_WORDS:
            return False
        if not raw and not required:
            return None
        self.error(column, f"{short(raw)!r} is not True or False")
        return None

    def literal(self, column: str, kind: type) -> object | None:
        """A Python literal cell (SCIN writes lists and dicts as their repr); None, with an error, when not."""
        raw = self.get(column)
        if not raw:
            return kind()
        if len(raw) > _LITERAL_LIMIT:
            self.error(column, f"is {len(raw):,} characters long; a label list is far shorter: check the file")
            return None
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
        if not isinstance(value, kind):
            self.error(column, f"{short(raw)!r} is not a {kind.__name__} as the dataset writes it "
                               f"(e.g. {'{' + repr('Eczema') + ': 0.5}' if kind is dict else [repr('Eczema')]})")
            return None
        return value


class DatasetReader:
    """Base of every format. Subclasses set the class attributes and implement ``parse``."""

    name: ClassVar[str]                        # registry key and command argument, e.g. "ddi"
    title: ClassVar[str]                       # "DDI": in messages, and as Sample.source
    source: ClassVar[str]                      # a Dataset.Source value
    default_dataset: ClassVar[str]             # the dataset name when --name is not given
    license: ClassVar[str]
    description: ClassVar[str] = ""
    file_hint: ClassVar[str]                   # the published file name, for messages
    required: ClassVar[tuple[str, ...]]        # columns the CSV must have
    id_column: ClassVar[str]                   # the column the image id comes from, for messages
    label_column: ClassVar[str]                # the column the diagnosis comes from, for messages
    label_layers: ClassVar[tuple[str, ...]]    # ontology label layers tried before the general lookup
    companion: ClassVar[Companion | None] = None

    def __init__(self, limits: FieldLimits = FieldLimits()) -> None:
        self.limits = limits
        self.warnings: list[RowError] = []

    # ---- what a format implements ------------------------------------------------------------

    def check_header(self, names: Sequence[str], path: Path) -> None:
        """Raise ImportRejected for a header the required columns cannot describe (alternatives)."""

    def companion_for(self, csv_path: Path) -> Path | None:
        """The companion file found next to ``csv_path`` when its option is not given."""
        if self.companion is None:
            return None
        for name in self.companion.default_names:
            candidate = csv_path.with_name(name)
            if candidate.is_file():
                return candidate
        return None

    def prepare(self, companion: Path | None) -> list[RowError]:
        """Read the companion file, if the format has one; returns its row errors."""
        return []

    def parse(self, line: Line) -> list[SourceRow]:
        raise NotImplementedError

    # ---- shared by every format ---------------------------------------------------------------

    def header_hint(self) -> str:
        return f"{self.file_hint} has the columns {', '.join(self.required)} (and more). Is this the right file?"

    def read(self, path: str | Path, companion: str | Path | None = None) -> tuple[list[SourceRow], list[RowError]]:
        """Parse and validate every line. Raises ImportRejected when the file itself is unusable."""
        path = Path(path)
        if not path.is_file():
            raise ImportRejected(f"{path} does not exist; pass {self.title}'s {self.file_hint} with --csv.")
        errors = self.prepare(Path(companion) if companion else None)
        names, reader = read_rows(path, self.required, self.header_hint())
        try:
            self.check_header(names, path)
        except BaseException:
            reader.close()
            raise
        rows: list[SourceRow] = []
        seen: dict[str, str] = {}
        lines = 0
        for csv_line in reader:
            lines += 1
            if csv_line.errors:
                errors.extend(csv_line.errors)
                continue
            line = Line(csv_line.where, csv_line.values)
            parsed = self.parse(line)
            for row in parsed:
                self._check(line, row, seen)
            self.warnings.extend(line.warnings)
            if line.errors:
                errors.extend(dict.fromkeys(line.errors))  # one message per problem, not per image
                continue
            for row in parsed:
                seen[row.external_id] = line.where
            rows.extend(parsed)
        if not lines:
            raise ImportRejected(f"{path.name} has a header but no rows.")
        return rows, errors

    def _check(self, line: Line, row: SourceRow, seen: dict[str, str]) -> None:
        if not row.external_id:
            line.error(self.id_column, "is empty; every row needs the id the dataset gives its image")
        elif row.external_id in seen:
            line.error(self.id_column, f"{short(row.external_id)} already appears on {seen[row.external_id]}; "
                                       "remove the duplicate row")
        if not row.label:
            line.error(self.label_column, "the diagnosis is empty; every sample needs its label")
        for column, value, limit in ((self.id_column, row.external_id, self.limits.external_id),
                                     (self.label_column, row.label, self.limits.label),
                                     ("qc", row.qc_flag, self.limits.qc_flag)):
            err = too_long(line.where, column, value, limit)
            if err is not None:
                line.errors.append(err)


def short(value: str, limit: int = 60) -> str:
    """At most ``limit`` characters of a bad value: a 200 KB cell must not fill the report."""
    return value if len(value) <= limit else value[:limit] + "…"


def missing(value: str) -> bool:
    return value.strip().casefold() in MISSING_WORDS
