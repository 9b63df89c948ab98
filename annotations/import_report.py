"""Per-row import errors, shared by every import path (pure Python)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RowError:
    row: str          # "line 17" of a CSV, or a file's relative path
    field: str        # the column or "image"
    message: str      # what is wrong and what to do

    def __str__(self) -> str:
        return f"{self.row}: {self.field}: {self.message}"


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    images_attached: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)  # not blocking, e.g. an image that could not be fetched
    committed: bool = True
    # Dataset imports (annotations/dataset_import.py): distinct source labels, and the rows of each label
    # the ontology does not resolve (the sample keeps the label; the report lists it).
    labels: int = 0
    unresolved_labels: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        status = "imported" if self.committed else "NOT imported (nothing was changed)"
        text = (f"{status}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.images_attached} images attached, {len(self.errors)} errors, {len(self.warnings)} warnings")
        return text


@dataclass(frozen=True)
class FieldLimits:
    """The longest value each stored Sample column takes. The defaults mirror the model; the services
    build the real one from ``Sample._meta`` so the model stays the one source of truth."""

    external_id: int = 255
    label: int = 255
    source: int = 100
    source_url: int = 1000
    qc_flag: int = 100


class ImportRejected(Exception):
    """The whole input is unusable (missing file, missing columns): nothing was imported."""

    def __init__(self, message: str, errors: list[RowError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []
