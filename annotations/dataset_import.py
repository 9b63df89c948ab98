"""Importing a public dermatology dataset's metadata (``manage.py import_dataset FORMAT``).

The format's reader (``annotations/dataset_formats``) parses and validates the rows; this module maps
every label through the ontology (unresolved labels are counted and listed in the result, never
refused: the source's label is what the sample keeps), finds each row's image under ``--images``, and
hands the records to the same ``write_records`` the Fitzpatrick17k and folder imports use: image
validation, one transaction, nothing written on any error unless ``skip_bad_rows``, and a re-run that
creates nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

from django.db import transaction

from annotations.dataset_formats.base import DatasetReader, SourceRow, short
from annotations.dataset_formats.registry import get_reader
from annotations.f17k import assign_split
from annotations.imaging import IMAGE_SUFFIXES
from annotations.import_report import ImportRejected, ImportResult, RowError
from annotations.models import Dataset
from annotations.services import SampleRecord, field_limits, get_or_create_dataset, write_records


def unresolved_labels(labels: Iterable[str], layers: Sequence[str], ontology: Any = None) -> tuple[int, dict[str, int]]:
    """How many distinct labels there are, and the rows per label the ontology cannot resolve. A label is
    resolved by the format's own label layers first, then by the ontology's general lookup."""
    if ontology is None:
        from evaluation.ontology import default_ontology  # a pure core; loaded once per process
        ontology = default_ontology()
    counts = Counter(labels)
    unresolved = {}
    for label, n in counts.items():
        if any(label in ontology.label_layers.get(layer, {}) for layer in layers):
            continue
        if ontology.resolve(label) is None:
            unresolved[label] = n
    return len(counts), dict(sorted(unresolved.items(), key=lambda kv: (-kv[1], kv[0])))


class ImageFolder:
    """The image files under ``--images``, found by the relative path or file name a source gives, with or
    without its extension (exact spelling first, then ignoring case where that is unambiguous). Only files
    inside the folder are ever used: a path in the CSV is a key, never opened as given."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._indexes: list[dict[str, list[Path]]] = [{}, {}, {}, {}]  # path, path folded, name, name folded
        for path in sorted(self.root.rglob("*")):
            if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            rel = path.relative_to(self.root).as_posix()
            for index, keys in zip(self._indexes, ({rel}, {rel.casefold()}, {path.name, path.stem},
                                                   {path.name.casefold(), path.stem.casefold()})):
                for key in keys:
                    index.setdefault(key, []).append(path)

    def find(self, ref: str) -> tuple[Path | None, str | None]:
        """The file for ``ref``, or why there is none."""
        rel = ref.strip().replace("\\", "/").lstrip("/")
        name = rel.rsplit("/", 1)[-1]
        for index, key in zip(self._indexes, (rel, rel.casefold(), name, name.casefold())):
            candidates = index.get(key, [])
            if len(candidates) == 1:
                return candidates[0], None
            if len(candidates) > 1:
                where = ", ".join(p.relative_to(self.root).as_posix() for p in candidates[:3])
                return None, (f"{len(candidates)} files under {self.root} match {short(ref)} ({where}); keep one "
                              "or give the images folder of this dataset only")
        return None, f"no image file {short(ref)} under {self.root}; imported without an image"


def _records(rows: Sequence[SourceRow], images: ImageFolder | None,
             source: str) -> tuple[list[SampleRecord], list[RowError]]:
    records, warnings = [], []
    for row in rows:
        image_path = None
        if images is not None and row.image:
            image_path, problem = images.find(row.image)
            if problem is not None:
                warnings.append(RowError(row.external_id, "image", problem))
        records.append(SampleRecord(
            external_id=row.external_id, split=assign_split(row.split_key), image_path=image_path,
            fields={"label": row.label, "source": source, "fitzpatrick": row.fitzpatrick,
                    "qc_flag": row.qc_flag, "exclude_from_eval": row.exclude_from_eval, "metadata": row.metadata},
        ))
    return records, warnings


def import_dataset(format_name: str, csv_path: str | Path, *, images_dir: str | Path | None = None,
                   companion: str | Path | None = None, dataset_name: str | None = None,
                   skip_bad_rows: bool = False, user: Any = None, progress: bool = True,
                   ontology: Any = None) -> ImportResult:
    """Import one public dataset's metadata CSV in its published format; see annotations/dataset_formats."""
    reader_class = get_reader(format_name)
    reader: DatasetReader = reader_class(field_limits())
    csv_path = Path(csv_path)
    if companion is not None and reader.companion is None:
        raise ImportRejected(f"{reader.title} is one file; it takes no second CSV.")
    if companion is None:
        companion = reader.companion_for(csv_path)
    images = None
    if images_dir is not None:
        if not Path(images_dir).is_dir():
            raise ImportRejected(f"--images {images_dir} is not a folder.")
        images = ImageFolder(Path(images_dir))
    rows, errors = reader.read(csv_path, companion)
    records, image_warnings = _records(rows, images, reader.title)
    labels, unresolved = unresolved_labels((r.label for r in rows), reader.label_layers, ontology)
    name = dataset_name or reader.default_dataset
    existing = Dataset.objects.filter(name=" ".join(name.split())).first()
    if existing is not None and existing.source != reader.source:
        raise ImportRejected(f"The dataset {existing.name!r} already holds {existing.get_source_display()} data; "
                             f"choose another name with --name.")
    with transaction.atomic():
        dataset = get_or_create_dataset(name, reader.source, description=reader.description,
                                        license=reader.license, user=user)
        result = write_records(dataset, records, errors, skip_bad_rows=skip_bad_rows, progress=progress)
        if not result.committed:
            transaction.set_rollback(True)
    result.warnings.extend(reader.warnings + image_warnings)
    result.labels = labels
    result.unresolved_labels = unresolved
    return result

