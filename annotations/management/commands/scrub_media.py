"""manage.py scrub_media: de-identify what was stored before images were cleaned on the way in.

1. Every stored sample image that still carries metadata is rewritten (annotations.services.scrub_stored_images).
2. Every training snapshot whose files still hold such images is rewritten in place with the cleaned images
   (training.export.rescrub_snapshot); prompts, ground truths, ids and order are kept.

Lineage, decided: a snapshot's files are rewritten even when a training run used it, because the copy on
disk must stop leaking patient data. Its database ``content_hash`` is then handled by whether a run used it:

* used by a run: the row keeps the hash of what that run trained on, and the new ``manifest.json`` says
  ``deidentified.previous_content_hash`` (that same hash) next to its new ``content_hash``: the record stays
  true about the past, the files about the present. New launches compute the new hash, find no match and
  get a new snapshot version: a run trained after the scrub never claims the old snapshot's lineage.
* used by no run: the row takes the new hash (it describes its files; the next launch may reuse it).
* pending (files not yet written): the hash recorded at launch is recomputed with the cleaned checksums,
  but only when nothing else changed since it was recorded (otherwise the build refuses, as before).

The LLM response cache needs nothing: it stores replies under a sha256 of the request, never image bytes.
Answers keyed by old bytes are simply not found again; drafting a cleaned image asks once more.

Safe to kill and run again: each sample switches in its own transaction, each snapshot by two renames.
A snapshot that cannot be rewritten (unreadable files) is reported with the reason and skipped, the others
are still done, and the command exits 1 at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from tqdm import tqdm

from annotations import services
from annotations.models import Sample, SampleEvent
from webapp import audit
from webapp.models import AccessEvent


def _previous_checksums(sample_ids: list[int]) -> dict[int, str]:
    """sample id -> the checksum its stored file had before its first scrub."""
    out: dict[int, str] = {}
    events = (SampleEvent.objects.filter(sample_id__in=sample_ids, kind=SampleEvent.Kind.IMAGE_SCRUBBED)
              .order_by("created_at", "id").values_list("sample_id", "detail"))
    for sample_id, detail in events:
        out.setdefault(sample_id, (detail or {}).get("previous_checksum", ""))
    return out


def _stub_hash(snapshot: Any, checksums: dict[int, str] | None = None) -> str | None:
    """The content hash of a pending snapshot from its samples' stored checksums (or the given ones)."""
    from django.conf import settings

    from training import export

    media = Path(settings.MEDIA_ROOT)
    records = [export.ExportRecord(sample_id=s.pk, image_path=media / s.image, label=s.label, caption=s.caption,
                                   split=s.split, checksum=(checksums or {}).get(s.pk) or s.checksum,
                                   review_state=s.state)
               for s in Sample.objects.filter(pk__in=snapshot.sample_ids).order_by("pk")]
    try:
        return export.content_hash(export.build_rows(records, snapshot.stage, k=snapshot.k, read_images=False))
    except export.ExportError:
        return None


def rescrub_snapshots(progress: bool = True, failed: list[tuple[str, str]] | None = None) -> dict[str, int]:
    """Rewrite the training snapshots that hold images with metadata (see the module text for the lineage
    rule). Returns counts: rewritten, unchanged, failed, pending_rehashed, pending_left.

    A snapshot that cannot be rewritten (unreadable files, an image that cannot be de-identified) is
    skipped and appended to ``failed`` as (folder, reason); the others are still done: one bad snapshot
    must not leave the rest holding patient metadata."""
    from training import export
    from training.models import DatasetSnapshot
    from training.services import training_root

    counts = {"rewritten": 0, "unchanged": 0, "failed": 0, "pending_rehashed": 0, "pending_left": 0}
    snapshots = list(DatasetSnapshot.objects.order_by("pk"))
    by_path = {str(Path(s.path)): s for s in snapshots}
    # Folders without a row (an export whose transaction rolled back) hold images too.
    root = training_root() / "snapshots"
    folders = {str(p.parent) for p in root.glob("*/*/manifest.json") if not p.parent.name.startswith(".")}
    folders |= {p for p, s in by_path.items() if s.state != DatasetSnapshot.State.PENDING}
    for folder in tqdm(sorted(folders), desc="scrubbing snapshots", unit="snapshot", disable=not progress):
        snapshot = by_path.get(folder)
        if not (Path(folder) / "manifest.json").exists() and not Path(folder).parent.joinpath(
                f".{Path(folder).name}.scrubbed").exists():
            continue  # never built (a failed snapshot): nothing on disk
        used = snapshot is not None and snapshot.runs.exists()
        note = {"note": "images de-identified by manage.py scrub_media (metadata removed; pixels kept, turned "
                        "upright where EXIF said so)"}
        if used:
            note["trained_on_previous"] = sorted(snapshot.runs.values_list("pk", flat=True))
        try:
            new_hash = export.rescrub_snapshot(folder, note=note)
        except (export.ExportError, OSError) as exc:  # OSError: a rename or write refused (permissions, disk)
            counts["failed"] += 1
            if failed is not None:
                failed.append((folder, str(exc)))
            continue
        if new_hash is None:
            counts["unchanged"] += 1
            continue
        counts["rewritten"] += 1
        if snapshot is not None and not used:
            DatasetSnapshot.objects.filter(pk=snapshot.pk).update(content_hash=new_hash)
    for snapshot in (s for s in snapshots if s.state == DatasetSnapshot.State.PENDING):
        old = _previous_checksums(list(snapshot.sample_ids))
        if not old or _stub_hash(snapshot, old) != snapshot.content_hash:
            counts["pending_left"] += 1  # untouched by the scrub, or changed otherwise: the build decides
            continue
        new_hash = _stub_hash(snapshot)
        if new_hash and new_hash != snapshot.content_hash:
            with transaction.atomic():
                DatasetSnapshot.objects.filter(pk=snapshot.pk, state=DatasetSnapshot.State.PENDING).update(
                    content_hash=new_hash)
            counts["pending_rehashed"] += 1
    return counts


class Command(BaseCommand):
    help = ("De-identify stored images (EXIF, XMP, IPTC, ICC profiles, comments, text chunks) and the training "
            "snapshots that hold them. Idempotent and resumable: safe to stop and run again.")

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("--skip-snapshots", action="store_true", help="only the stored sample images")

    def handle(self, *args, **opts):
        progress = not opts["no_progress"]
        report = services.scrub_stored_images(progress=progress)
        self.stdout.write(f"images: {report.checked} checked, {report.scrubbed} de-identified, "
                          f"{report.already_clean} already clean, {len(report.missing)} missing, "
                          f"{len(report.failed)} failed")
        for what, n in sorted(report.removed.items()):
            self.stdout.write(f"  removed {what} from {n} file(s)")
        if report.missing:
            self.stdout.write(self.style.WARNING(
                f"  files missing on the server for samples {', '.join(map(str, report.missing[:20]))}"
                f"{' ...' if len(report.missing) > 20 else ''}: re-import their images"))
        for sample_id, why in report.failed[:20]:
            self.stdout.write(self.style.ERROR(f"  sample {sample_id}: {why}"))
        failed_snapshots: list[tuple[str, str]] = []
        counts: dict[str, int] | None = None
        if not opts["skip_snapshots"]:
            counts = rescrub_snapshots(progress=progress, failed=failed_snapshots)
            self.stdout.write(f"snapshots: {counts['rewritten']} rewritten, {counts['unchanged']} already clean, "
                              f"{counts['failed']} failed, {counts['pending_rehashed']} pending re-hashed, "
                              f"{counts['pending_left']} pending left as they were")
            for folder, why in failed_snapshots:  # an ExportError names its snapshot, an OSError its file
                self.stdout.write(self.style.ERROR(f"  {why}" if folder in why else f"  snapshot {folder}: {why}"))
        # Rewriting stored patient photos is a change of patient data: one command event per run (who ran it
        # and what was done), written before a partial failure exits 1.
        audit.record(None, AccessEvent.Action.MEDIA_SCRUB, command="scrub_media", checked=report.checked,
                     scrubbed=report.scrubbed, already_clean=report.already_clean, missing=len(report.missing),
                     failed=len(report.failed), snapshots=counts)
        if report.failed:
            self.stdout.write(self.style.ERROR(
                "Some images could not be de-identified; they stay refused at the LLM and export doors. "
                "Re-export them without metadata and re-import them."))
        if failed_snapshots:
            self.stdout.write(self.style.ERROR(
                "Some snapshots could not be rewritten and may still hold images with metadata: fix or remove "
                "the folders named above, then run scrub_media again."))
        if report.failed or failed_snapshots:
            raise SystemExit(1)
