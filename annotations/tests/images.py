"""Small image files for tests: good ones, and the bad kinds a user really uploads."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def jpeg_bytes(color=(200, 120, 110), size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png_bytes(color=(10, 200, 30), size=(40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def truncated_jpeg_bytes() -> bytes:
    data = jpeg_bytes(size=(256, 256), color=(90, 30, 60))
    return data[: len(data) // 2]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
