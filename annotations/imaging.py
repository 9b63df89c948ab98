"""Image validation, de-identification on the way in, and thumbnails (pure Python + Pillow).

Every image that enters the system passes ``prepare_image``: ``inspect_image`` first (it must be a real,
complete raster image of a supported format, under the pixel limit; a decompression bomb is rejected from
its header, before any pixel is decoded), then ``annotations.deidentify.deidentify`` (no EXIF, XMP, IPTC,
ICC profile, comments or text chunks; upright; pixels kept). What is stored is the cleaned file.

``require_scrubbed`` is the door check: an image leaving for an LLM or an export must carry nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from annotations.deidentify import DeidentifyError, carries_metadata, deidentify

SUPPORTED_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


class ImageRejected(ValueError):
    """The file is not an acceptable image; the message says why and what to do."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str
    sha256: str
    md5: str
    suffix: str
    # SHA-256 of the bytes as they arrived (the upload, before de-identification): provenance, and how a
    # re-import of the same original is recognised. Equal to sha256 when the file carried nothing.
    original_sha256: str = ""


def inspect_image(data: bytes, max_pixels: int, name: str = "image") -> ImageInfo:
    if not data:
        raise ImageRejected(f"{name} is empty (0 bytes); re-export or re-download it.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                width, height = img.size
                if fmt not in SUPPORTED_FORMATS:
                    raise ImageRejected(
                        f"{name} is a {fmt or 'unknown'} image; use one of {', '.join(sorted(SUPPORTED_FORMATS))}."
                    )
                # An animated PNG (APNG) or WebP: a rotation would keep only the first frame, and a frame
                # further on can show what the first does not; one still picture is what the tool reviews.
                if fmt in ("PNG", "WEBP") and getattr(img, "is_animated", False):
                    raise ImageRejected(f"{name}: animated images are not supported; export one frame "
                                        "(a still PNG, JPEG or WebP) and import that.")
                if width * height > max_pixels:
                    raise ImageRejected(
                        f"{name} is {width}x{height} = {width * height:,} pixels, over the limit of "
                        f"{max_pixels:,}; downscale it first."
                    )
                img.load()  # decodes every pixel: catches truncated files that the header alone hides
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"{name} has too many pixels to decode safely (a possible decompression bomb); the "
                            f"limit is {max_pixels:,} pixels: downscale it first.") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(f"{name} is not an image Pillow can read (wrong type or corrupt file).") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"{name} is damaged or truncated ({exc}); re-export or re-download it.") from exc
    return ImageInfo(
        width=width, height=height, format=fmt, sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(), suffix=SUPPORTED_FORMATS[fmt],
    )


def prepare_image(data: bytes, max_pixels: int, name: str = "image") -> tuple[bytes, ImageInfo]:
    """The de-identified bytes to store and their info (size, format, checksum of the stored bytes, and
    ``original_sha256`` of ``data``). Raises :class:`ImageRejected` with a message for the importer."""
    original = inspect_image(data, max_pixels, name)  # validates before anything is decoded in full
    try:
        clean = deidentify(data)
    except DeidentifyError as exc:
        raise ImageRejected(f"{name} could not be de-identified ({exc}); re-export it without metadata.") from exc
    if clean is data:
        return data, dataclasses.replace(original, original_sha256=original.sha256)
    # A rotated photo may come back in another (lossless) format and with width and height swapped.
    info = inspect_image(clean, max_pixels, name)
    return clean, dataclasses.replace(info, original_sha256=original.sha256)


# What every door (drafting job, evaluation item, snapshot build) says about a photo a reviewer marked as
# showing identifying content (a face, a tattoo, a name in the picture): one text, so logs and pages agree.
IDENTIFYING_REFUSAL = "marked as showing identifying content; not sent"


class NotScrubbed(ValueError):
    """An image about to leave (to an LLM, into an export) still carries metadata: refuse, never send. A
    ValueError, so callers that fail one item on bad data (evaluation inference) fail it with this message."""


def require_scrubbed(data: bytes, what: str) -> bytes:
    """``data`` when it carries no metadata; otherwise :class:`NotScrubbed` naming what it carries and the
    fix. The door check before image bytes are encoded into an LLM request or written to an export."""
    try:
        found = carries_metadata(data)
    except DeidentifyError as exc:
        raise NotScrubbed(f"{what} cannot be checked for metadata ({exc}); run `manage.py scrub_media`.") from exc
    if found:
        raise NotScrubbed(f"{what} still carries {', '.join(found)}: it was stored before de-identification. "
                          "Run `manage.py scrub_media`, then retry.")
    return data


def content_path(info: ImageInfo) -> str:
    """Content-addressed relative path: the same bytes always land in the same place."""
    return f"samples/{info.sha256[:2]}/{info.sha256}{info.suffix}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a uniquely named temporary file, so concurrent writers of one path never mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name + ".", suffix=".part", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def make_thumbnail(src: Path, dst: Path, size: int) -> None:
    """A JPEG no larger than size x size, keeping the aspect ratio."""
    with Image.open(src) as img:
        img.draft("RGB", (size * 2, size * 2))  # lets JPEG decode at a reduced scale: much faster
        img = img.convert("RGB")
        img.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85, optimize=True)
    write_atomic(dst, buf.getvalue())


MODEL_FORMATS = {"JPEG", "PNG", "WEBP"}  # what OpenAI-compatible vision endpoints accept as data URLs
# A lossless image bigger than this goes to a model endpoint as a JPEG (quality 95): a rotated 12 MP phone
# photo is stored as a ~12 MB PNG (pixels kept exactly), which base64 makes ~16 MB per request, over what
# hosted endpoints take and slow to send on every attempt. The stored file stays lossless.
MODEL_LOSSLESS_MAX_BYTES = 4 * 1024 * 1024
MODEL_JPEG_QUALITY = 95


def _lossless(img: Image.Image, data: bytes) -> bool:
    if img.format in ("PNG", "TIFF", "BMP"):
        return True
    # A WebP is lossless when its image chunk is VP8L (simple file: right after the header; extended file:
    # after VP8X and the animation/alpha chunks, which a lossy file would carry as ALPH + "VP8 ").
    return img.format == "WEBP" and b"VP8L" in data[12:64]


def model_ready_image(data: bytes, what: str = "the image") -> bytes:
    """The image as a model endpoint takes it: JPEG, PNG and WebP unchanged; TIFF, BMP and the like
    re-encoded as PNG (the archive keeps the original file); a lossless image over
    ``MODEL_LOSSLESS_MAX_BYTES`` re-encoded as a quality-95 JPEG (for the request only). Refuses
    (:class:`NotScrubbed`) an image that still carries metadata: this is the door before image bytes go
    into an LLM request."""
    require_scrubbed(data, what)
    with Image.open(io.BytesIO(data)) as img:
        big = len(data) > MODEL_LOSSLESS_MAX_BYTES and _lossless(img, data)
        if img.format in MODEL_FORMATS and not big:
            return data
        buf = io.BytesIO()
        if big:
            # JPEG holds no alpha: a transparent photo is laid on white, as a viewer would show it.
            rgb = img.convert("RGBA") if img.mode in ("RGBA", "LA", "P", "PA") else img.convert("RGB")
            if rgb.mode == "RGBA":
                flat = Image.new("RGB", rgb.size, (255, 255, 255))
                flat.paste(rgb, mask=rgb.getchannel("A"))
                rgb = flat
            rgb.info = {}  # nothing of the source's info (none is left after the door, but by construction)
            rgb.save(buf, "JPEG", quality=MODEL_JPEG_QUALITY, subsampling=0)
        else:
            img.convert("RGB" if img.mode not in ("RGB", "RGBA", "L") else img.mode).save(buf, "PNG")
    return buf.getvalue()
