"""Benchmark: what de-identification costs per photo, against decoding the same photo once.

    .venv/bin/python benchmarks/bench_deidentify.py

Every import cleans each image, and every LLM request and snapshot export checks it again (the two doors).
Goal: for a 12-megapixel phone JPEG the door check and the byte-level clean each cost less than half of one
Pillow decode of that JPEG. They walk the file's segments and never decode the pixels, and the import already
decodes every image in full once (``imaging.inspect_image``), so cleaning adds less than half to that. A rotated
photo is decoded, turned and stored losslessly: that costs many decodes and is printed for information.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotations.deidentify import carries_metadata, deidentify  # noqa: E402

GOAL = 0.5


def _photo(orientation: int = 1) -> bytes:
    # Smooth gradients plus noise compress like a photo (pure noise would make an unusually large file).
    h, w = 3000, 4000
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(0)
    rgb = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 255 // (w + h))], axis=-1)
    rgb = np.clip(rgb + rng.integers(-12, 12, rgb.shape), 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010E] = "Patient: John Doe, MRN 123456"
    exif[0x0112] = orientation
    exif.get_ifd(0x8825)[1] = "N"
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90, exif=exif, comment=b"clinic camera 7")
    return buf.getvalue()


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    upright, rotated = _photo(), _photo(orientation=6)
    clean = deidentify(upright)

    def decode() -> None:
        with Image.open(io.BytesIO(upright)) as img:
            img.load()

    t_decode = _best(decode)
    rows = [
        ("check a clean photo (the doors)", _best(lambda: carries_metadata(clean))),
        ("clean an upright photo (byte level)", _best(lambda: deidentify(upright))),
    ]
    t_rotated = _best(lambda: deidentify(rotated), repeat=2)
    print(f"12 MP JPEG, {len(upright) / 1e6:.1f} MB; one Pillow decode: {t_decode * 1000:.0f} ms")
    ok = True
    for name, t in rows:
        ratio = t / t_decode
        ok &= ratio < GOAL
        print(f"  {name:40s} {t * 1000:8.1f} ms  = {ratio:.3f} decodes  ({'PASS' if ratio < GOAL else 'FAIL'} < {GOAL})")
    out = deidentify(rotated)
    print(f"  {'clean a rotated photo (decode, turn, PNG)':40s} {t_rotated * 1000:8.1f} ms  = "
          f"{t_rotated / t_decode:.1f} decodes, {len(rotated) / 1e6:.1f} MB -> {len(out) / 1e6:.1f} MB (information)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
