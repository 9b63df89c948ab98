"""De-identification of image files (pure Python + Pillow, no Django).

A clinical photo carries more than pixels: EXIF (GPS position, camera serial number, capture time, free-text
fields such as "Patient: John Doe"), XMP and IPTC packets, JPEG comments, PNG text chunks, WebP EXIF/XMP
chunks, TIFF description tags and ICC profiles (whose description tags are free text). ``deidentify``
returns the same picture without any of it; ``carries_metadata`` says what a file still carries.

How pixels are kept exactly:

* **No rotation to apply** (EXIF orientation absent or 1): JPEG, PNG and WebP are cleaned at the byte level,
  by dropping the metadata segments/chunks from the file and keeping the compressed image data as it is.
  Nothing is decoded or re-encoded, so the decoded pixels are bit-for-bit those of the upload (a JPEG
  re-encode would add a second generation of loss). TIFF and BMP are re-encoded from the decoded pixels,
  losslessly (TIFF with LZW).
* **A rotation to apply** (orientation 2-8, typical of phone photos): the pixels are decoded, turned upright
  (``ImageOps.exif_transpose``) and written in a lossless format: PNG for JPEG and PNG sources (TIFF for
  modes PNG cannot hold, such as CMYK), lossless WebP for WebP, TIFF for TIFF. The stored pixels are then
  exactly the upright decoded upload; the price is a larger file than a JPEG.

Chosen about ICC profiles: they are dropped. A profile's ``desc``/``cprt``/``dmnd``/``dmdd`` tags are free
text (device maker and model, sometimes names), and rewriting the profile's tag table safely is more than
this module should own. Pixels stay as they are; models and training decode pixels without the profile
anyway, and PNG keeps its text-free colour chunks (``sRGB``, ``gAMA``, ``cHRM``). A wide-gamut photo
(Display P3) may look slightly less saturated in a browser.

Files that carry nothing come back unchanged (the same bytes object), so cleaning is idempotent and a clean
upload keeps its checksum.
"""

from __future__ import annotations

import io
import struct

from PIL import Image, ImageOps

__all__ = ["DeidentifyError", "carries_metadata", "deidentify", "orientation"]


class DeidentifyError(ValueError):
    """The file cannot be cleaned (unreadable or malformed structure); the message says why."""


# ---- JPEG -----------------------------------------------------------------------------------------------------

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
# The JFIF APP0 body up to the thumbnail size: "JFIF\0", version (2), units (1), X and Y density (2 + 2).
_JFIF_HEADER = 12
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 carry no length


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of every segment up to and including EOI; entropy-coded data belongs to the SOS
    segment before it. Bytes after EOI (camera trailers, appended pictures) are not part of any segment."""
    if data[:2] != b"\xff\xd8":
        raise DeidentifyError("not a JPEG file (no start-of-image marker)")
    out = [(_SOI, 0, 2)]
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise DeidentifyError(f"malformed JPEG: expected a marker at byte {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes before a marker are allowed
            pos += 1
        if pos >= n:
            break
        marker, start = data[pos], pos - 1
        pos += 1
        if marker == _EOI:
            out.append((marker, start, pos))
            return out
        if marker in _STANDALONE:
            out.append((marker, start, pos))
            continue
        if pos + 2 > n:
            raise DeidentifyError("truncated JPEG segment header")
        length = struct.unpack(">H", data[pos:pos + 2])[0]
        pos += length
        if marker == _SOS:  # the scan's entropy-coded data runs to the next marker that is not a stuffed 0 or RST
            # bytes.find jumps from one 0xFF to the next in C: a byte-by-byte Python loop over megabytes of scan
            # data made checking a phone photo cost a few hundred milliseconds.
            while True:
                pos = data.find(b"\xff", pos, n - 1)
                if pos < 0:
                    pos = n
                    break
                if data[pos + 1] != 0 and not 0xD0 <= data[pos + 1] <= 0xD7:
                    break
                pos += 1
        out.append((marker, start, min(pos, n)))
    return out  # no EOI: Pillow decodes such files; keep what is there


def _jpeg_segment_kept(marker: int, body: bytes) -> str | None:
    """None when the segment is image data or a harmless decoding hint; otherwise what it carries."""
    if marker == 0xFE:
        return "JPEG comment (COM)"
    if marker == 0xE0:  # APP0: the JFIF header (density only) is kept; JFXX carries a thumbnail, others anything
        if not body.startswith(b"JFIF\x00"):
            return "JPEG APP0 extension"
        # JFIF is 14 bytes with Xthumbnail = Ythumbnail = 0. Anything more is an embedded RGB thumbnail (it can
        # show the photo as it was before a crop) or bytes no decoder reads: _jpeg_strip rewrites the header.
        return None if len(body) == _JFIF_HEADER + 2 and body[_JFIF_HEADER:] == b"\x00\x00" else "JFIF thumbnail"
    if marker == 0xEE:  # APP14 "Adobe": the colour transform flag, needed to decode CMYK/YCCK correctly
        return None if body.startswith(b"Adobe") else "JPEG APP14 segment"
    if 0xE1 <= marker <= 0xEF:
        if marker == 0xE1:
            if body.startswith(b"Exif\x00"):
                return "EXIF"
            if body.startswith(b"http://ns.adobe.com/xap/1.0/") or body.startswith(b"http://ns.adobe.com/xmp/"):
                return "XMP"
        if marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"):
            return "ICC profile"
        if marker == 0xED:
            return "IPTC/Photoshop (APP13)"
        return f"JPEG APP{marker - 0xE0} segment"
    return None


def _jpeg_findings(data: bytes) -> list[str]:
    segments = _jpeg_segments(data)
    found = []
    for marker, start, end in segments:
        what = _jpeg_segment_kept(marker, data[start + 4:end]) if marker not in _STANDALONE | {_SOI, _EOI} else None
        if what:
            found.append(what)
    if segments[-1][0] == _EOI and segments[-1][2] < len(data) and data[segments[-1][2]:].strip(b"\x00"):
        found.append("data after the JPEG end (trailer)")
    return found


def _jpeg_strip(data: bytes) -> bytes:
    keep = []
    for marker, start, end in _jpeg_segments(data):
        body = data[start + 4:end]
        if marker in _STANDALONE | {_SOI, _EOI} or not _jpeg_segment_kept(marker, body):
            keep.append(data[start:end])
        elif marker == 0xE0 and body.startswith(b"JFIF\x00") and len(body) >= _JFIF_HEADER:
            # Keep the header (version, density: how a viewer sizes the picture) with a zero-size thumbnail.
            keep.append(b"\xff\xe0" + struct.pack(">H", 2 + _JFIF_HEADER + 2) + body[:_JFIF_HEADER] + b"\x00\x00")
    return b"".join(keep)


# ---- PNG ------------------------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Everything needed to decode and display the pixels (APNG frames included); any other chunk is dropped.
# Text-free colour information (sRGB, gAMA, cHRM) stays; iCCP (an ICC profile) goes, see the module text.
_PNG_KEPT = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD", b"pHYs",
             b"acTL", b"fcTL", b"fdAT"}
_PNG_NAMES = {b"tEXt": "PNG text (tEXt)", b"zTXt": "PNG text (zTXt)", b"iTXt": "PNG text (iTXt)",
              b"eXIf": "EXIF", b"iCCP": "ICC profile", b"tIME": "PNG modification time (tIME)"}


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    if not data.startswith(_PNG_SIGNATURE):
        raise DeidentifyError("not a PNG file (bad signature)")
    out, pos = [], len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise DeidentifyError(f"truncated PNG chunk {kind!r}")
        out.append((kind, pos, end))
        pos = end
        if kind == b"IEND":
            break
    return out


def _png_findings(data: bytes) -> list[str]:
    chunks = _png_chunks(data)
    found = [_PNG_NAMES.get(kind, f"PNG chunk {kind.decode('latin-1')}") for kind, _, _ in chunks if kind not in _PNG_KEPT]
    if chunks and chunks[-1][2] < len(data):
        found.append("data after the PNG end (trailer)")
    return found


def _png_strip(data: bytes) -> bytes:
    return _PNG_SIGNATURE + b"".join(data[s:e] for kind, s, e in _png_chunks(data) if kind in _PNG_KEPT)


# ---- WebP -----------------------------------------------------------------------------------------------------

_WEBP_KEPT = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}
_WEBP_NAMES = {b"EXIF": "EXIF", b"XMP ": "XMP", b"ICCP": "ICC profile"}
_VP8X_META_FLAGS = 0x20 | 0x08 | 0x04  # ICC, EXIF, XMP present


def _webp_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise DeidentifyError("not a WebP file (bad RIFF header)")
    out, pos = [], 12
    end_of_riff = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    while pos + 8 <= end_of_riff:
        kind, size = struct.unpack("<4sI", data[pos:pos + 8])
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > len(data):
            raise DeidentifyError(f"truncated WebP chunk {kind!r}")
        out.append((kind, pos, min(end, len(data))))
        pos = end
    return out


def _webp_findings(data: bytes) -> list[str]:
    found = [_WEBP_NAMES.get(kind, f"WebP chunk {kind.decode('latin-1').strip()}")
             for kind, _, _ in _webp_chunks(data) if kind not in _WEBP_KEPT]
    riff_end = 8 + struct.unpack("<I", data[4:8])[0]
    if riff_end < len(data):
        found.append("data after the WebP end (trailer)")
    return found


def _webp_strip(data: bytes) -> bytes:
    body = []
    for kind, start, end in _webp_chunks(data):
        if kind not in _WEBP_KEPT:
            continue
        chunk = data[start:end]
        if kind == b"VP8X":  # its flags announce the chunks that are now gone
            chunk = chunk[:8] + bytes([chunk[8] & ~_VP8X_META_FLAGS & 0xFF]) + chunk[9:]
        body.append(chunk)
    payload = b"WEBP" + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


# ---- TIFF and BMP (re-encoded from pixels when they carry anything) -------------------------------------------

# Tags describing the raster itself; every other tag (ImageDescription, Make, Model, Artist, DateTime,
# Software, Copyright, the EXIF and GPS IFDs, XMP 700, IPTC 33723, Photoshop 34377, ICC 34675, ...) is metadata.
_TIFF_STRUCTURAL = {254, 255, 256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 279, 280, 281, 282, 283, 284, 290,
                    291, 296, 317, 318, 319, 320, 322, 323, 324, 325, 338, 339, 340, 341, 347, 529, 530, 531, 532}
_TIFF_NAMES = {270: "TIFF ImageDescription", 271: "TIFF Make", 272: "TIFF Model", 305: "TIFF Software",
               306: "TIFF DateTime", 315: "TIFF Artist", 316: "TIFF HostComputer", 33432: "TIFF Copyright",
               34665: "EXIF", 34853: "EXIF GPS", 700: "XMP", 33723: "IPTC", 34377: "IPTC/Photoshop",
               34675: "ICC profile"}


def _tiff_findings(img: Image.Image) -> list[str]:
    found = [_TIFF_NAMES.get(tag, f"TIFF tag {tag}") for tag in sorted(img.tag_v2) if tag not in _TIFF_STRUCTURAL]
    if img.tag_v2.get(274, 1) not in (1, None):
        found.append("EXIF orientation")
    if getattr(img, "n_frames", 1) > 1:
        found.append("further TIFF pages")
    return found


def _bmp_findings(data: bytes) -> list[str]:
    # A BITMAPV5HEADER (124 bytes) can embed an ICC profile or link one by file name (free text).
    if len(data) >= 14 + 124 and struct.unpack("<I", data[14:18])[0] == 124:
        if data[14 + 56:14 + 60] in (b"MBED", b"LINK", b"DEBM", b"KNIL"):
            return ["BMP colour profile"]
    return []


# ---- the two public functions ---------------------------------------------------------------------------------

def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data))
    except Exception as exc:  # Pillow raises several types for unreadable data
        raise DeidentifyError(f"not an image Pillow can read ({exc})") from exc


def orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8) of an opened image; 1 when absent or invalid."""
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block: nothing to rotate by
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# What a malformed file can raise from the parsers and Pillow: always reported as DeidentifyError.
_MALFORMED = (OSError, ValueError, SyntaxError, IndexError, struct.error)


def carries_metadata(data: bytes) -> list[str]:
    """What the file carries besides the picture, by name ("EXIF", "XMP", "PNG text (tEXt)", ...), in file
    order; empty for a clean file. Also what the stores assert before an image leaves for an LLM or an export.

    Raises :class:`DeidentifyError` for a file that cannot be read."""
    try:
        return _findings(data)
    except DeidentifyError:
        raise
    except _MALFORMED as exc:
        raise DeidentifyError(f"malformed image file ({exc})") from exc


def _findings(data: bytes) -> list[str]:
    with _open(data) as img:
        fmt = img.format
        turned = orientation(img) != 1
        if fmt == "TIFF":
            return _tiff_findings(img)
    if fmt == "JPEG":
        found = _jpeg_findings(data)
    elif fmt == "PNG":
        found = _png_findings(data)
    elif fmt == "WEBP":
        found = _webp_findings(data)
    elif fmt == "BMP":
        found = _bmp_findings(data)
    else:
        raise DeidentifyError(f"cannot check {fmt or 'unknown'} images for metadata")
    if turned and not any(f == "EXIF" for f in found):
        found.append("EXIF orientation")
    return found


def _pixels_only(img: Image.Image) -> Image.Image:
    """A copy holding the pixels (and palette/transparency, which are pixel data) and nothing else: Pillow's
    encoders fall back to ``img.info`` for icc_profile, exif and text, so it must be empty."""
    clean = img.copy()
    transparency = img.info.get("transparency")
    clean.info = {} if transparency is None else {"transparency": transparency}
    return clean


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "WEBP":
        img.save(buf, "WEBP", lossless=True, exact=True, quality=100, method=4)
    elif fmt == "TIFF":
        img.save(buf, "TIFF", compression="tiff_lzw")
    elif fmt == "PNG":
        # zlib level 3: as small as the default 6 on photos, in about a third of the time (a rotated 12 MP photo
        # took 3.2 s at level 6, 1.2 s at 3; benchmarks/bench_deidentify.py).
        img.save(buf, "PNG", compress_level=3)
    else:
        img.save(buf, fmt)
    return buf.getvalue()


_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


def deidentify(data: bytes) -> bytes:
    """The image without EXIF, XMP, IPTC, ICC profiles, comments and text chunks, upright, with its pixels
    exactly as decoded from ``data`` (see the module text for how). ``data`` itself when it carries nothing.

    Raises :class:`DeidentifyError` for a file that cannot be read or cleaned.
    """
    if not carries_metadata(data):
        return data
    try:
        out = _clean(data)
    except DeidentifyError:
        raise
    except _MALFORMED as exc:
        raise DeidentifyError(f"cannot clean the image ({exc})") from exc
    left = carries_metadata(out)
    if left:  # never hand back a file that still carries something
        raise DeidentifyError(f"could not remove {', '.join(left)} from the image")
    return out


def _clean(data: bytes) -> bytes:
    with _open(data) as img:
        fmt = img.format
        turn = orientation(img) != 1
        if turn or fmt in ("TIFF", "BMP"):
            img.load()
            upright = ImageOps.exif_transpose(img) if turn else img
            pixels = _pixels_only(upright)
            if fmt in ("JPEG", "PNG"):
                target = "PNG" if pixels.mode in _PNG_MODES else "TIFF"
            else:
                target = fmt
            out = _encode(pixels, target)
        elif fmt == "JPEG":
            out = _jpeg_strip(data)
        elif fmt == "PNG":
            out = _png_strip(data)
        else:
            out = _webp_strip(data)
    return out
