"""A zip of a folder written as a stream of chunks (pure Python, no Django): a checkpoint of several GB is
sent without being held in memory or written to a temporary file.

``zipfile`` writes to any object with ``write`` and, without ``seek``, uses data descriptors instead of going
back to patch sizes; each file is read in 1 MiB pieces and what the archive produced so far is handed out.
Only regular files under the folder are included: symbolic links are skipped (one could point anywhere).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Iterator

__all__ = ["folder_files", "zip_folder"]

CHUNK = 1 << 20
_STORED = (".safetensors", ".bin", ".pt", ".pth", ".gguf")  # weights barely compress; storing them is fast


class _Sink:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def folder_files(folder: str | Path) -> list[tuple[str, Path, int]]:
    """(name inside the archive, path, size) of every regular file under ``folder``, sorted; links skipped."""
    folder = Path(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            found.append((path.relative_to(folder).as_posix(), path, path.stat().st_size))
    return sorted(found)


def zip_folder(folder: str | Path, prefix: str = "") -> Iterator[bytes]:
    """The zip archive of ``folder`` in chunks; names start with ``prefix/`` when given."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w") as archive:  # type: ignore[arg-type]
        for name, path, size in folder_files(folder):
            arcname = f"{prefix}/{name}" if prefix else name
            info = zipfile.ZipInfo.from_file(path, arcname)
            info.compress_type = zipfile.ZIP_STORED if path.suffix in _STORED else zipfile.ZIP_DEFLATED
            with open(path, "rb") as source, archive.open(info, "w", force_zip64=size > 1 << 31) as target:
                while True:
                    block = source.read(CHUNK)
                    if not block:
                        break
                    target.write(block)
                    data = sink.take()
                    if data:
                        yield data
            data = sink.take()
            if data:
                yield data
    yield sink.take()
