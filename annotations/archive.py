"""Unpacking an uploaded ZIP archive safely (pure Python).

An archive is checked as a whole first (valid ZIP, bounded file count and declared size, no entry that
points outside the target folder); then every entry is extracted on its own, and an entry that cannot be
read (bad CRC, sizes that lie, an unsupported compression such as deflate64, encryption, a name the
file system refuses) becomes one ``RowError`` naming that entry: the caller reports them all and imports
nothing, instead of stopping at the first broken file.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from annotations.import_report import ImportRejected, RowError

_CHUNK = 1 << 20
_ENCRYPTED = 0x1  # general-purpose flag bit 0


def _unsupported_method_message(info: zipfile.ZipInfo) -> str:
    names = {9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstandard", 98: "PPMd"}
    method = names.get(info.compress_type, f"method {info.compress_type}")
    return (f"is compressed with {method}, which this server cannot unpack; re-create the ZIP with ordinary "
            "deflate compression (e.g. 'zip -r' or the system's 'Compress' menu) and upload it again")


def _copy_bounded(src: IO[bytes], dst: IO[bytes], limit: int) -> int:
    """Copy at most ``limit`` bytes; more means the entry's declared size lied (a zip bomb's trick)."""
    total = 0
    while chunk := src.read(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise _SizeLied()
        dst.write(chunk)
    return total


class _SizeLied(Exception):
    pass


def _extract_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> str | None:
    """Extract one entry; return why it could not be, in words, or None."""
    if info.flag_bits & _ENCRYPTED:
        return "is encrypted (password-protected); upload a ZIP made without a password"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        return _unsupported_method_message(info)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, target.open("wb") as out:
            _copy_bounded(src, out, info.file_size)
    except _SizeLied:
        return "unpacks to more bytes than its header declares; the archive is damaged or forged: re-create it"
    except NotImplementedError:
        return _unsupported_method_message(info)
    except RuntimeError:  # zipfile's way of saying "encrypted, password required"
        return "is encrypted (password-protected); upload a ZIP made without a password"
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        return f"is damaged ({exc}); re-create the ZIP and upload it again"
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return (f"cannot be unpacked under this name ({reason}); rename it with a shorter, plain name and "
                "upload again")
    return None


def extract_zip(archive: Any, dest: Path, *, max_files: int, max_total_bytes: int) -> list[RowError]:
    """Unpack ``archive`` (a path or a binary file object) into ``dest``.

    Raises ImportRejected when the archive as a whole is unusable; returns one RowError per entry that
    could not be unpacked (those entries are left out of ``dest``).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise ImportRejected("The archive is not a valid ZIP file; zip the <label>/<image> folders and retry.") from exc
    errors: list[RowError] = []
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > max_files:
            raise ImportRejected(f"The archive holds {len(infos):,} files; the limit is {max_files:,} per upload.")
        total = sum(i.file_size for i in infos)
        if total > max_total_bytes:
            raise ImportRejected(f"The archive unpacks to {total:,} bytes, over the limit of {max_total_bytes:,}; "
                                 "split it.")
        root = dest.resolve()
        for info in infos:
            try:
                target = (root / info.filename).resolve()
            except (OSError, ValueError):
                target = None
            if target is None or root not in target.parents:
                raise ImportRejected(f"The archive entry {info.filename!r} points outside the archive; "
                                     "rebuild the ZIP.")
            problem = _extract_entry(zf, info, target)
            if problem is not None:
                if _safe_exists(target):  # a half-written file must not be imported as if it were whole
                    target.unlink()
                errors.append(RowError(info.filename, "archive", f"{Path(info.filename).name} {problem}."))
    return errors


def _safe_exists(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False
