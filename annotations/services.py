"""Writes for datasets and samples: imports, image attachment, thumbnails.

Every import validates all rows and images first and writes in one transaction: with any error nothing
is written (unless the caller asks to skip bad rows), and image files copied for a rolled-back import
are removed again.
"""

from __future__ import annotations

import hashlib
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
from annotations.deidentify import DeidentifyError, carries_metadata, deidentify
from annotations.imaging import (IMAGE_SUFFIXES, ImageInfo, ImageRejected, content_path, inspect_image,
                                 make_thumbnail, prepare_image, write_atomic)
from annotations.import_report import FieldLimits, ImportRejected, ImportResult, RowError
from annotations.models import Dataset, Sample, SampleEvent

log = logging.getLogger(__name__)

_COMPARED_FIELDS = ("label", "source", "source_url", "fitzpatrick", "qc_flag", "exclude_from_eval", "metadata")
_IMAGE_FIELDS = ("image", "checksum", "original_checksum", "width", "height")


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
    """Validate and de-identify every record's image in a small thread pool (Pillow releases the GIL while
    decoding). The cleaned bytes are not kept: ``_stage_images`` makes them again for files not yet stored."""
    with_images = [r for r in records if r.image_path is not None]
    errors: list[RowError] = []
    max_pixels = settings.SKINFLOW_MAX_IMAGE_PIXELS

    def check(rec: SampleRecord) -> RowError | None:
        try:
            _, rec.image = prepare_image(rec.image_path.read_bytes(), max_pixels, name=rec.image_path.name)
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
    # between the two passes would cost far more. The first pass validated and decoded each file, so this one
    # does not: a file that was clean is written as read, and one that carried metadata is cleaned again
    # (deterministic, so the result must hash as before). A file already stored (a re-import) is not redone:
    # the path is the stored bytes' checksum. Only de-identified bytes are ever written (issue 12).
    media = Path(settings.MEDIA_ROOT)
    for rec in records:
        if rec.image is None:
            continue
        rel = content_path(rec.image)
        dst = media / rel
        if not dst.exists():
            data = rec.image_path.read_bytes()
            original = hashlib.sha256(data).hexdigest()
            try:
                clean = data if original == rec.image.sha256 else deidentify(data)
            except DeidentifyError:
                clean = b""  # only when the file changed since validation: refused just below
            if original != rec.image.original_sha256 or hashlib.sha256(clean).hexdigest() != rec.image.sha256:
                raise ImportRejected(f"{rec.image_path.name} changed while it was being imported; import again.")
            write_atomic(dst, clean)
            staged.written.append(dst)
        rec.fields.update(image=rel, checksum=rec.image.sha256, original_checksum=rec.image.original_sha256,
                          width=rec.image.width, height=rec.image.height)


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
            to_create, to_update, replaced = [], [], []
            for rec in good:
                current = existing.get(rec.external_id)
                if current is None:
                    to_create.append(Sample(dataset=dataset, external_id=rec.external_id, split=rec.split, **rec.fields))
                    continue
                changed = [k for k, v in rec.fields.items() if getattr(current, k) != v]
                if changed:
                    if "image" in changed and current.image:
                        replaced.append(current.image)
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
            if replaced:
                # A re-import that replaces a file stored before de-identification must not leave it behind.
                transaction.on_commit(lambda: _remove_replaced_with_metadata(replaced))
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


def _remove_replaced_with_metadata(paths: list[str]) -> None:
    """Old image files a re-import replaced: removed when they still carry metadata and nothing points at
    them. Only those: clean files may be shared with an import that is still being written."""
    media = Path(settings.MEDIA_ROOT)
    for rel in set(paths):
        try:
            if carries_metadata((media / rel).read_bytes()):
                _unlink_unreferenced(rel, media)
        except (OSError, DeidentifyError):
            continue  # gone already, or unreadable: nothing to protect


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


# ---- de-identifying what was stored before images were cleaned on the way in (manage.py scrub_media) --------

@dataclass
class ScrubReport:
    checked: int = 0
    scrubbed: int = 0
    already_clean: int = 0
    missing: list[int] = field(default_factory=list)  # sample ids whose file is gone
    failed: list[tuple[int, str]] = field(default_factory=list)  # (sample id, why)
    removed: dict[str, int] = field(default_factory=dict)  # what was removed -> number of files
    scrubbed_ids: list[int] = field(default_factory=list)


def _unlink_unreferenced(rel: str, media: Path) -> None:
    """Remove a stored image (and thumbnails made from it) once no sample points at it any more. Files are
    content-addressed, so two samples (two datasets) can share one."""
    if rel and not Sample.objects.filter(image=rel).exists():
        (media / rel).unlink(missing_ok=True)


def _finish_interrupted_scrubs(media: Path) -> None:
    """A run killed after a sample was switched to its clean file but before the old file was removed
    leaves the old file behind, still carrying metadata: its path is in the IMAGE_SCRUBBED event."""
    for detail in SampleEvent.objects.filter(kind=SampleEvent.Kind.IMAGE_SCRUBBED).values_list("detail", flat=True):
        previous = (detail or {}).get("previous_image", "")
        if previous and (media / previous).exists():
            _unlink_unreferenced(previous, media)
        thumb = (detail or {}).get("previous_thumbnail", "")
        if thumb and (media / thumb).exists() and not Sample.objects.filter(thumbnail=thumb).exists():
            (media / thumb).unlink(missing_ok=True)


def _scrub_one(sample: Sample, media: Path, report: ScrubReport) -> None:
    path = media / sample.image
    try:
        data = path.read_bytes()
    except OSError:
        report.missing.append(sample.pk)
        return
    try:
        found = carries_metadata(data)
        if not found:
            report.already_clean += 1
            if not sample.original_checksum:  # stored clean before the migration filled it: provenance
                Sample.objects.filter(pk=sample.pk, original_checksum="").update(original_checksum=sample.checksum)
            return
        clean = deidentify(data)
        info = inspect_image(clean, settings.SKINFLOW_MAX_IMAGE_PIXELS, name=sample.image)
    except (DeidentifyError, ImageRejected) as exc:
        report.failed.append((sample.pk, str(exc)))
        return
    rel = content_path(info)
    if not (media / rel).exists():
        write_atomic(media / rel, clean)
    original = sample.original_checksum or hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        # Conditional on the file it read: a concurrent re-import that moved the sample meanwhile wins.
        if not Sample.objects.filter(pk=sample.pk, image=sample.image).update(
                image=rel, checksum=info.sha256, original_checksum=original, width=info.width, height=info.height,
                thumbnail=""):
            return
        SampleEvent.objects.create(sample=sample, kind=SampleEvent.Kind.IMAGE_SCRUBBED, detail={
            "removed": found, "previous_image": sample.image, "previous_checksum": sample.checksum,
            "previous_thumbnail": sample.thumbnail, "checksum": info.sha256})
    report.scrubbed += 1
    report.scrubbed_ids.append(sample.pk)
    for what in found:
        report.removed[what] = report.removed.get(what, 0) + 1
    _unlink_unreferenced(sample.image, media)
    if sample.thumbnail and not Sample.objects.filter(thumbnail=sample.thumbnail).exists():
        (media / sample.thumbnail).unlink(missing_ok=True)


def scrub_stored_images(*, progress: bool = True, chunk: int = 500) -> ScrubReport:
    """De-identify every stored sample image that still carries metadata (files stored before images were
    cleaned on the way in): write the clean file, point the sample at it (``checksum`` is the clean file's,
    ``original_checksum`` keeps the one it arrived with), clear its thumbnail (rebuilt from the upright
    image), record an ``image_scrubbed`` event, and remove the old file once nothing points at it.

    Idempotent (a clean file is left alone) and resumable: each sample is switched in its own transaction,
    and a run killed half-way is completed by the next one, which also removes old files a killed run left.
    Snapshots are the caller's (``scrub_media``) business: training depends on annotations, not back.
    """
    media = Path(settings.MEDIA_ROOT)
    report = ScrubReport()
    _finish_interrupted_scrubs(media)
    samples = Sample.objects.exclude(image="").order_by("pk")
    bar = tqdm(total=samples.count(), desc="scrubbing images", unit="img", disable=not progress)
    last = 0
    try:
        while True:
            batch = list(samples.filter(pk__gt=last).only("pk", "image", "checksum", "original_checksum",
                                                          "thumbnail")[:chunk])
            if not batch:
                break
            for sample in batch:
                _scrub_one(sample, media, report)
                report.checked += 1
                bar.update(1)
            last = batch[-1].pk
    finally:
        bar.close()
    if report.scrubbed:
        _enqueue_thumbnails_safely(report.scrubbed_ids)
    return report


def _enqueue_thumbnails_safely(sample_ids: list[int]) -> None:
    # The pages make missing thumbnails themselves; a broker that is down must not fail the scrub.
    try:
        _enqueue_thumbnails(sample_ids)
    except Exception as exc:  # noqa: BLE001 - any broker error
        log.warning("scrub_media: thumbnails will be made on first view (task queue unreachable: %s)", exc)
