"""ZIP archives and CSV files of the kinds that break importers, built by hand for tests.

Python's zipfile writes only well-formed archives, so the broken ones are made by patching the bytes of
a good archive: the same fields in the entry's local header and in the central directory, which is what
a damaged download or another tool's output looks like to the reader.
"""

from __future__ import annotations

import io
import struct
import zipfile

# Offsets of fields inside a local file header ("PK\3\4") and a central directory header ("PK\1\2").
_LOCAL = {"flags": (6, "<H"), "method": (8, "<H"), "crc": (14, "<I"), "size": (22, "<I")}
_CENTRAL = {"flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<I"), "size": (24, "<I")}


def zip_bytes(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _headers(data: bytearray, name: str) -> tuple[int, int]:
    """(local header offset, central header offset) of the entry called ``name``."""
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + name_len].decode() == name:
            return struct.unpack_from("<I", data, pos + 42)[0], pos
        pos = data.find(b"PK\x01\x02", pos + 46)
    raise KeyError(name)


def patch_entry(archive: bytes, name: str, **fields: int) -> bytes:
    """Set header fields of one entry (``flags``, ``method``, ``crc``, ``size``) in both headers."""
    data = bytearray(archive)
    local, central = _headers(data, name)
    for key, value in fields.items():
        for base, table in ((local, _LOCAL), (central, _CENTRAL)):
            offset, fmt = table[key]
            struct.pack_into(fmt, data, base + offset, value)
    return bytes(data)


def entry_field(archive: bytes, name: str, key: str) -> int:
    local, _ = _headers(bytearray(archive), name)
    offset, fmt = _LOCAL[key]
    return struct.unpack_from(fmt, archive, local + offset)[0]


def with_bad_crc(archive: bytes, name: str) -> bytes:
    return patch_entry(archive, name, crc=entry_field(archive, name, "crc") ^ 0xFFFF)


def with_lying_size(archive: bytes, name: str, size: int = 10) -> bytes:
    """The headers claim ``size`` uncompressed bytes; the stream holds more."""
    return patch_entry(archive, name, size=size)


def as_deflate64(archive: bytes, name: str) -> bytes:
    """Method 9 (deflate64), which Windows Explorer writes for large archives and zipfile cannot read."""
    return patch_entry(archive, name, method=9)


def as_encrypted(archive: bytes, name: str) -> bytes:
    """Flag bit 0: a password-protected entry."""
    return patch_entry(archive, name, flags=entry_field(archive, name, "flags") | 0x1)
