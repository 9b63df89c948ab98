"""Synthetic demo images (pure Python + Pillow): skin-toned backgrounds with lesion-like shapes.

They are drawn, not photographed: enough to click through the app on a first run without patient data.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

# Approximate skin tones for Fitzpatrick types I-VI.
SKIN_TONES = [(241, 214, 196), (226, 190, 160), (200, 158, 120), (165, 118, 82), (120, 82, 55), (80, 54, 38)]
DEMO_LABELS = {
    "psoriasis": ((200, 80, 80), (235, 235, 225), "plaque"),
    "melanoma": ((60, 35, 30), (110, 60, 50), "irregular"),
    "acne vulgaris": ((215, 90, 90), (250, 240, 200), "papules"),
    "basal cell carcinoma": ((225, 170, 170), (180, 60, 70), "nodule"),
    "tinea corporis": ((205, 110, 100), (230, 180, 160), "ring"),
    "urticaria": ((240, 160, 160), (250, 200, 200), "wheals"),
}


def draw_demo_image(label: str, skin_type: int, seed: int, size: int = 512) -> Image.Image:
    rng = random.Random(seed)
    lesion, accent, pattern = DEMO_LABELS[label]
    img = Image.new("RGB", (size, size), SKIN_TONES[skin_type - 1])
    d = ImageDraw.Draw(img)
    for _ in range(400):  # skin texture
        x, y = rng.randrange(size), rng.randrange(size)
        tone = tuple(max(0, min(255, c + rng.randint(-12, 12))) for c in SKIN_TONES[skin_type - 1])
        d.point((x, y), fill=tone)
    cx, cy = size // 2 + rng.randint(-60, 60), size // 2 + rng.randint(-60, 60)
    if pattern in ("papules", "wheals"):
        for _ in range(rng.randint(8, 20)):
            r = rng.randint(6, 18) if pattern == "papules" else rng.randint(20, 50)
            x, y = rng.randrange(40, size - 40), rng.randrange(40, size - 40)
            d.ellipse((x - r, y - r, x + r, y + r), fill=lesion, outline=accent, width=3)
    elif pattern == "ring":
        r = rng.randint(90, 150)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=lesion, width=18)
    else:
        r = rng.randint(50, 110)
        pts = [(cx + r * rng.uniform(0.6, 1.3) * c, cy + r * rng.uniform(0.6, 1.3) * s)
               for c, s in ((1, 0), (0.7, 0.7), (0, 1), (-0.7, 0.7), (-1, 0), (-0.7, -0.7), (0, -1), (0.7, -0.7))]
        d.polygon(pts, fill=lesion, outline=accent)
        for _ in range(30):
            x, y = cx + rng.randint(-r // 2, r // 2), cy + rng.randint(-r // 2, r // 2)
            d.ellipse((x - 4, y - 4, x + 4, y + 4), fill=accent)
    return img.filter(ImageFilter.GaussianBlur(1.2))


def write_demo_folder(root: Path, per_label: int = 4, seed: int = 0) -> dict[str, int]:
    """Write ``<label>/<n>.jpg`` files; returns relpath -> Fitzpatrick type used."""
    skin_types: dict[str, int] = {}
    for li, label in enumerate(DEMO_LABELS):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(per_label):
            skin_type = (li + n) % 6 + 1
            draw_demo_image(label, skin_type, seed * 1000 + li * 100 + n).save(folder / f"demo-{n + 1}.jpg", quality=90)
            skin_types[f"{label}/demo-{n + 1}.jpg"] = skin_type
    return skin_types
