"""Writes for datasets and samples: imports, image attachment, thumbnails.

Every import validates all rows and images first and writes in one transaction: with any error nothing
is written (unless the caller asks to skip bad rows), and image files copied for a rolled-back import
are removed again.
"""

from __future__ import annotations

import logging
import dataclasses
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from django.conf import settings
from django.db import DataError, transaction
from tqdm import tqdm

from annotations import f17k
from annotations.archive import extract_zip
from annotations.download import download_images, existing_image
from annotations.folder_source import FolderEntry, read_path_label_csv, scan_label_folders
from annotations.imaging import (IMAGE_SUFFIXES, ImageInfo, ImageRejected, content_path, inspect_image,
                                 make_thumbnail, write_atomic)
from annotations.import_report import FieldLimits, ImportRejected, ImportResult, RowError
from annotations.models import Dataset, Sample

log = logging.getLogger(__name__)

_COMPARED_FIELDS = ("label", "source", "source_url", "fitzpatrick", "qc_flag", "exclude_from_eval", "metadata")
_IMAGE_FIELDS = ("image", "checksum", "width", "height")


@dataclass
class SampleRecord:
    """One validated row, ready to write."""

    external_id: str
    fields: dict[str, Any]
    split: str
    image_path: Path | None = None
    image: ImageInfo | None = None


def field_limits() -> FieldLimits:
    """The pure readers' length limits, read from the Sample model: the model is the one source."""
    return FieldLimits(**{f.name: Sample._meta.get_field(f.name).max_length for f in dataclasses.fields(FieldLimits)})


@dataclass
class _StagedFiles:
    written: list[Path] = field(default_factory=list)

    def remove(self) -> None:
        for path in self.written:
            path.unlink(missing_ok=True)


def get_or_create_dataset(name: str, source: str, *, description: str = "", license: str = "",
                          user: Any = None) -> Dataset:
    name = " ".join(name.split())
    if not name:
        raise ImportRejected("The dataset needs a name.")
    dataset, _ = Dataset.objects.get_or_create(
        name=name, defaults={"source": source, "description": description, "license": license, "created_by": user}
    )
    return dataset


def _inspect_records(records: list[SampleRecord], progress: bool) -> list[RowError]:
    """Validate every record's image in a small thread pool (Pillow releases the GIL while decoding)."""
    with_images = [r for r in records if r.image_path is not None]
    errors: list[RowError] = []
    max_pixels = settings.SKINFLOW_MAX_IMAGE_PIXELS

    def check(rec: SampleRecord) -> RowError | None:
        try:
            rec.image = inspect_image(rec.image_path.read_bytes(), max_pixels, name=rec.image_path.name)
        except ImageRejected as exc:
            return RowError(rec.external_id, "image", str(exc))
        except OSError as exc:
            return RowError(rec.external_id, "image", f"cannot read {rec.image_path}: {exc}")
        return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        for err in tqdm(pool.map(check, with_images), total=len(with_images), desc="checking images",
                        unit="img", disable=not progress or not with_images):
            if err is not None:
                errors.append(err)
    return errors


def _stage_images(records: Iterable[SampleRecord], staged: _StagedFiles) -> None:
    # Files are read a second time here rather than kept from validation: holding 16k images in memory
    # between the two passes would cost far more than re-reading them from the page cache.
    media = Path(settings.MEDIA_ROOT)
    for rec in records:
        if rec.image is None:
            continue
        rel = content_path(rec.image)
        dst = media / rel
        if not dst.exists():
            write_atomic(dst, rec.image_path.read_bytes())
            staged.written.append(dst)
        rec.fields.update(image=rel, checksum=rec.image.sha256, width=rec.image.width, height=rec.image.height)


def write_records(dataset: Dataset, records: Sequence[SampleRecord], errors: list[RowError], *,
                  skip_bad_rows: bool = False, progress: bool = False) -> ImportResult:
    """Validate images, then create new samples and update changed ones in one transaction."""
    errors = list(errors) + _inspect_records(list(records), progress)
    result = ImportResult(errors=errors)
    if errors and not skip_bad_rows:
        result.committed = False
        return result
    bad_ids = {e.row for e in errors}
    good = [r for r in records if r.external_id not in bad_ids]
    staged = _StagedFiles()
    try:
        with transaction.atomic():
            _stage_images(good, staged)
            existing = {s.external_id: s for s in Sample.objects.filter(dataset=dataset).only(
                "id", "external_id", *_COMPARED_FIELDS, *_IMAGE_FIELDS)}
            to_create, to_update = [], []
            for rec in good:
                current = existing.get(rec.external_id)
                if current is None:
                    to_create.append(Sample(dataset=dataset, external_id=rec.external_id, split=rec.split, **rec.fields))
                    continue
                changed = [k for k, v in rec.fields.items() if getattr(current, k) != v]
                if changed:
                    for k in changed:
                        setattr(current, k, rec.fields[k])
                    if "image" in changed:
                        current.thumbnail = ""
                    to_update.append(current)
                else:
                    result.unchanged += 1
            Sample.objects.bulk_create(to_create, batch_size=2000)
            if to_update:
                names = sorted({k for rec in good for k in rec.fields} | {"thumbnail", "updated_at"})
                Sample.objects.bulk_update(to_update, names, batch_size=1000)
            result.created, result.updated = len(to_create), len(to_update)
            result.images_attached = sum(1 for r in good if r.image is not None)
            with_images = [s.pk for s in to_create + to_update if s.image]
            if with_images:
                # Thumbnails are made ahead by a worker; the pages also make any that are still missing.
                transaction.on_commit(lambda: _enqueue_thumbnails(with_images))
    except DataError as exc:
        # Every reader checks lengths and characters first; should a value still slip through, the user
        # gets a report rather than a server error.
        staged.remove()
        raise ImportRejected(f"The database refused a value ({str(exc).splitlines()[0]}); nothing was imported. "
                             "Check the labels and paths for unusual characters and retry.") from exc
    except Exception:
        staged.remove()
        raise
    return result


def _enqueue_thumbnails(sample_ids: list[int], chunk: int = 500) -> None:
    from annotations.tasks import make_thumbnails as task

    for start in range(0, len(sample_ids), chunk):
        task.delay(sample_ids[start:start + chunk])


def import_fitzpatrick17k(csv_path: str | Path, *, images_dir: str | Path | None = None, download: bool = False,
                          dataset_name: str = "Fitzpatrick17k", skip_bad_rows: bool = False,
                          download_workers: int = 8, verify_download: bool = True,
                          progress: bool = True) -> ImportResult:
    """Import the Fitzpatrick17k label file; attach images named ``<md5>.<ext>`` found in ``images_dir``.

    Rows with qc "3 Wrongly labelled" are kept, flagged and excluded from evaluation sampling.
    """
    rows, errors = f17k.read_f17k_csv(csv_path, field_limits())
    download_failures: list[tuple[str, str]] = []
    if download:
        if images_dir is None:
            images_dir = Path(settings.DATA_DIR) / "downloads" / "fitzpatrick17k"
        report = download_images(((r.md5, r.url) for r in rows), images_dir, workers=download_workers,
                                 verify=verify_download, progress=progress)
        download_failures = report.failed
        log.info("downloads: %d new, %d already there, %d failed", report.downloaded, report.skipped,
                 len(report.failed))
    images = Path(images_dir) if images_dir else None
    if images is not None and not images.is_dir():
        raise ImportRejected(f"--images {images} is not a folder.")
    records = []
    for row in rows:
        records.append(SampleRecord(
            external_id=row.md5, split=row.split,
            image_path=existing_image(images, row.md5) if images is not None else None,
            fields={
                "label": row.label, "source": row.source, "source_url": row.url, "fitzpatrick": row.fitzpatrick,
                "qc_flag": row.qc, "exclude_from_eval": row.wrongly_labelled, "metadata": row.metadata,
            },
        ))
    with transaction.atomic():
        dataset = get_or_create_dataset(dataset_name, Dataset.Source.FITZPATRICK17K, license=f17k.LICENSE,
                                        description="Fitzpatrick17k clinical photographs with skin-type labels.")
        result = write_records(dataset, records, errors, skip_bad_rows=skip_bad_rows, progress=progress)
        if not result.committed:
            transaction.set_rollback(True)
    result.warnings.extend(RowError(md5, "download", reason) for md5, reason in download_failures)
    return result


def _folder_records(entries: Sequence[FolderEntry]) -> list[SampleRecord]:
    return [SampleRecord(external_id=e.relpath, split=f17k.assign_split(e.relpath), image_path=e.path,
                         fields={"label": e.label, "source": "folder"}) for e in entries]


def import_folder(dataset_name: str, root: str | Path | None = None, *, csv_path: str | Path | None = None,
                  source: str = Dataset.Source.FOLDER, skip_bad_rows: bool = False, user: Any = None,
                  progress: bool = True, prior_errors: Sequence[RowError] = ()) -> ImportResult:
    """Import ``<label>/<image>`` files under ``root``, or the ``path,label`` rows of ``csv_path``.

    ``prior_errors`` are problems the caller found first (archive entries that could not be unpacked);
    they count like any bad row, and CSV rows naming those entries are not reported a second time.
    """
    if (root is None) == (csv_path is None):
        raise ImportRejected("Give either a folder of <label>/<image> files or a CSV of path,label — one of them.")
    limits = field_limits()
    if csv_path:
        entries, errors = read_path_label_csv(csv_path, limits, known_bad={e.row for e in prior_errors})
    else:
        entries, errors = scan_label_folders(root, limits)
    return _write_entries(dataset_name, entries, list(prior_errors) + errors, source=source,
                          skip_bad_rows=skip_bad_rows, user=user, progress=progress)


def _write_entries(dataset_name: str, entries: Sequence[FolderEntry], errors: list[RowError], *, source: str,
                   skip_bad_rows: bool, user: Any, progress: bool) -> ImportResult:
    with transaction.atomic():
        dataset = get_or_create_dataset(dataset_name, source, user=user)
        result = write_records(dataset, _folder_records(entries), errors, skip_bad_rows=skip_bad_rows,
                               progress=progress)
        if not result.committed:
            transaction.set_rollback(True)
    return result


MAX_ARCHIVE_FILES = 20_000


def import_upload(dataset_name: str, *, archive: Any = None, images: Sequence[Any] = (), label: str = "",
                  skip_bad_rows: bool = False, user: Any = None) -> ImportResult:
    """Import an uploaded ZIP (``<label>/<image>`` folders, or a ``labels.csv`` of path,label at its root),
    or loose image files that all share ``label``."""
    with tempfile.TemporaryDirectory(prefix="skinflow-upload-") as tmp:
        tmpdir = Path(tmp)
        if archive is not None:
            if getattr(archive, "size", 0) > settings.SKINFLOW_MAX_UPLOAD_BYTES:
                raise ImportRejected(f"The archive is {archive.size:,} bytes, over the upload limit of "
                                     f"{settings.SKINFLOW_MAX_UPLOAD_BYTES:,}; split it.")
            broken = extract_zip(archive, tmpdir, max_files=MAX_ARCHIVE_FILES,
                                 max_total_bytes=settings.SKINFLOW_MAX_UPLOAD_BYTES * 10)
            if any(e.row == "labels.csv" for e in broken):
                # Without its label file nothing in the archive can be checked further.
                return ImportResult(errors=broken, committed=False)
            csv_file = tmpdir / "labels.csv"
            if csv_file.exists():
                return import_folder(dataset_name, csv_path=csv_file, source=Dataset.Source.UPLOAD,
                                     skip_bad_rows=skip_bad_rows, user=user, progress=False, prior_errors=broken)
            return import_folder(dataset_name, tmpdir, source=Dataset.Source.UPLOAD, skip_bad_rows=skip_bad_rows,
                                 user=user, progress=False, prior_errors=broken)
        return _import_loose_images(dataset_name, images, label, tmpdir, skip_bad_rows=skip_bad_rows, user=user)


def _import_loose_images(dataset_name: str, images: Sequence[Any], label: str, tmpdir: Path, *,
                         skip_bad_rows: bool, user: Any) -> ImportResult:
    label = " ".join(label.split())
    if not images:
        raise ImportRejected("Choose a ZIP archive or at least one image file.")
    if not label:
        raise ImportRejected("Loose images need a label: type the diagnosis they all share.")
    if not label.strip("."):
        raise ImportRejected("The label must name a diagnosis, not only dots.")
    limits = field_limits()
    if len(label) > limits.label:
        raise ImportRejected(f"The label is {len(label):,} characters long; the limit is {limits.label:,}: shorten it.")
    folder_name = label.replace("/", "-")
    seen: set[str] = set()
    entries: list[FolderEntry] = []
    errors: list[RowError] = []
    limit = settings.SKINFLOW_MAX_UPLOAD_BYTES
    for n, upload in enumerate(images):
        name = Path(getattr(upload, "name", "image")).name
        if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
            raise ImportRejected(f"{name} is not an image file ({', '.join(sorted(IMAGE_SUFFIXES))}).")
        if name in seen:
            raise ImportRejected(f"Two files are named {name}; rename one and upload again.")
        if getattr(upload, "size", 0) > limit:
            raise ImportRejected(f"{name} is {upload.size:,} bytes, over the upload limit of {limit:,}.")
        seen.add(name)
        # The id stays "<label>/<name>" (as for a ZIP of label folders), but on disk the file sits in a
        # numbered folder: a label is free text, and as a folder name it may be too long for the file system.
        relpath = f"{folder_name}/{name}"
        if len(relpath) > limits.external_id:
            errors.append(RowError(name, "path", f"the label and the file name together are {len(relpath):,} "
                                                 f"characters; the limit is {limits.external_id:,}: shorten the "
                                                 "file name"))
            continue
        path = tmpdir / str(n) / name
        try:
            path.parent.mkdir()
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        except (OSError, ValueError) as exc:  # a name the file system refuses (too long in bytes, a NUL)
            errors.append(RowError(name, "path", f"cannot be stored under this name ({exc}); rename the file"))
            continue
        entries.append(FolderEntry(relpath=relpath, path=path, label=label))
    return _write_entries(dataset_name, entries, errors, source=Dataset.Source.UPLOAD, skip_bad_rows=skip_bad_rows,
                          user=user, progress=False)


def ensure_thumbnail(sample: Sample) -> Path | None:
    """The sample's thumbnail, made on first use and kept; None for samples without an image."""
    if not sample.image:
        return None
    media = Path(settings.MEDIA_ROOT)
    size = settings.SKINFLOW_THUMBNAIL_SIZE
    if sample.thumbnail and (media / sample.thumbnail).exists():
        return media / sample.thumbnail
    rel = f"thumbs/{sample.checksum[:2]}/{sample.checksum}_{size}.jpg"
    if not (media / rel).exists():
        try:
            make_thumbnail(media / sample.image, media / rel, size)
        except OSError:  # the image file went missing on the server: the views answer 404
            return None
    Sample.objects.filter(pk=sample.pk).update(thumbnail=rel)
    sample.thumbnail = rel
    return media / rel


def make_thumbnails(sample_ids: Iterable[int]) -> int:
    """Make the missing thumbnails of these samples; returns how many were made. Idempotent."""
    made = 0
    for sample in Sample.objects.filter(pk__in=list(sample_ids)).exclude(image=""):
        had = bool(sample.thumbnail)
        ensure_thumbnail(sample)
        made += not had
    return made
