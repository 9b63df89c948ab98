"""A seeded synthetic dermatology set whose labels live in the pixels (issue 15, build item 1).

Pure Python + Pillow + numpy, no Django. Each image is drawn from generating parameters, and its
12-field caption (``annotations.schema``) is derived from the same parameters, so Stage I has a real
target and Stage II a label that can only be read off the image.

Labels (folder names are Fitzpatrick17k label names, all known to ``evaluation/ontology.py``):

=====================  ===============================================================================
label                  defining attributes (caption field: value)
=====================  ===============================================================================
psoriasis              salmon-red plaque with thick silvery scale, round/oval, well-defined border
eczema                 red ill-defined irregular patch, fine scale with crust or excoriations
nevocytic nevus        small (4-6 mm) uniform brown macule/papule, round, regular well-defined border
melanoma               large (10-22 mm) variegated brown-black, irregular shape, irregular border
seborrheic keratosis   waxy brown oval papule/plaque, verrucous stuck-on surface with horn cysts
basal cell carcinoma   pearly nodule with telangiectasia and a rolled border, sometimes ulcerated
urticaria              several pink wheals (round or annular) with an erythematous flare
acne vulgaris          numerous 2-5 mm red papules with pustules and/or comedones, scattered
vitiligo               depigmented white irregular patches with a well-defined border
=====================  ===============================================================================

Look-alike pairs, which differ in the captioned attributes named (and share the rest), so that a
blind or careless answer is punished:

* nevocytic nevus vs melanoma: border_characteristics (regular vs irregular), color (uniform vs
  variegated), shape, size.
* psoriasis vs eczema: surface_characteristics (thick silvery scale vs fine scale), border
  (well-defined vs ill-defined), lesion_type (plaque vs patch), shape.
* seborrheic keratosis vs nevocytic nevus: surface_characteristics (verrucous vs smooth), texture, size.

Red and pink erythema is drawn darker and purple-shifted on Fitzpatrick V-VI and captioned
"violaceous" / "dusky pink" there, as erythema looks on dark skin; every label is drawn on all six
skin types in turn (the skin type is never a label cue). ``location`` and ``other`` are always empty:
the images are close-ups without anatomical context, so a location could only be guessed from the
label prior, and the caption must describe only what the pixels show.

Image size: 112 x 112 px (drawn at 2x and box-reduced for anti-aliased edges) over a 40 mm field of
view (2.8 px/mm). 112 = 8 x 14 is a whole number of Qwen2.5-VL patches (16 visual tokens after the
2 x 2 merge), small enough that the tiny CPU model's cost stays low (its processor resizes further,
to ``image_side``^2), and large enough that a 4 mm nevus is still 11 px across.

Determinism: every image has its own seed, a hash of (set seed, split, label, index); the same seed
gives identical PNG bytes and captions. Splits ("train" / "val" / "test", the product's
``Sample.Split`` values) use disjoint seed streams.

Folder layout written by :func:`write_synthetic_folder` (what ``annotations.folder_source
.scan_label_folders`` / ``services.import_folder`` take): ``<root>/<label>/<split>-<nnnn>.png``, and
a sidecar ``<root>/.synthetic-captions.jsonl`` (hidden, so the folder scan skips it) with one line per
image: relpath (= the imported sample's ``external_id``), label, split, fitzpatrick, seed, caption.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from annotations.schema import FIELDS, parse_caption

__all__ = [
    "FIELD_VALUES",
    "FOV_MM",
    "GENERATOR_VERSION",
    "IMAGE_SIZE",
    "LABELS",
    "LOOKALIKE_PAIRS",
    "MANIFEST_NAME",
    "SKIN_TONES",
    "SPLITS",
    "SYNTHETIC_FIELD_WEIGHTS",
    "SyntheticSample",
    "generate_sample",
    "generate_split",
    "generate_set",
    "image_seed",
    "number_category",
    "read_manifest",
    "write_contact_sheet",
    "write_synthetic_folder",
]

GENERATOR_VERSION = "v1"
IMAGE_SIZE = 112
FOV_MM = 40.0
SUPERSAMPLE = 2
SPLITS: tuple[str, ...] = ("train", "val", "test")
MANIFEST_NAME = ".synthetic-captions.jsonl"

# Approximate constitutive skin colours of Fitzpatrick types I-VI (same family as annotations/demo.py).
SKIN_TONES: dict[int, tuple[int, int, int]] = {
    1: (241, 214, 196), 2: (226, 190, 160), 3: (200, 158, 120),
    4: (165, 118, 82), 5: (120, 82, 55), 6: (80, 54, 38),
}

#: Fields never filled in the synthetic set (no anatomical context, nothing "other"): weight 0 for the
#: Stage I reward on this set, so that leaving them empty earns nothing. Pass as ``field_weights``.
SYNTHETIC_FIELD_WEIGHTS: dict[str, float] = {name: (0.0 if name in ("location", "other") else 1.0) for name in FIELDS}

#: Every value a caption field can take in this set (``size`` is "<n> mm" or "<lo>-<hi> mm"; ``location``
#: and ``other`` are always ""). A closed vocabulary per field: what the field scorer matches exactly,
#: and what a tokenizer may add as whole tokens (each value one token) to keep captions short.
FIELD_VALUES: dict[str, tuple[str, ...]] = {
    "color": ("salmon-red", "red", "pink", "violaceous", "dusky pink", "uniform light brown", "uniform dark brown",
              "variegated brown-black", "variegated brown-black-blue", "waxy light brown", "waxy dark brown",
              "pearly pink", "pearly brown", "depigmented white"),
    "location": ("",),
    "shape": ("round", "oval", "irregular", "annular"),
    "lesion_type": ("plaque, scale", "patch, scale, crust", "patch, scale, excoriation", "macule", "papule", "patch",
                    "plaque", "plaque, ulcer", "nodule, telangiectasia", "nodule, telangiectasia, ulcer", "wheal",
                    "papule, pustule", "papule, comedo", "papule, pustule, comedo"),
    "number": ("single", "few", "multiple", "numerous"),
    "texture": ("rough", "smooth", "oedematous"),
    "border_characteristics": ("well-defined", "ill-defined", "regular, well-defined", "irregular, notched",
                               "irregular, ill-defined", "rolled"),
    "surface_characteristics": ("thick silvery scale", "fine scale, crusted", "fine scale, excoriated", "smooth",
                                "ulcerated", "verrucous, stuck-on", "shiny", "shiny, ulcerated", "pustular"),
    "distribution_characteristics": ("isolated", "scattered"),
    "surrounding_characteristics": ("normal", "satellite lesions", "erythematous flare"),
    "other": ("",),
}

LOOKALIKE_PAIRS: dict[tuple[str, str], tuple[str, ...]] = {
    ("nevocytic nevus", "melanoma"): ("border_characteristics", "color"),
    ("psoriasis", "eczema"): ("surface_characteristics", "border_characteristics"),
    ("seborrheic keratosis", "nevocytic nevus"): ("surface_characteristics",),
}


def number_category(count: int) -> str:
    """The ``number`` field's ordinal word: single (1), few (2-4), multiple (5-9), numerous (10+)."""
    if count <= 1:
        return "single"
    if count <= 4:
        return "few"
    if count <= 9:
        return "multiple"
    return "numerous"


# ==================================================================================================
# Drawing primitives (numpy, on the supersampled canvas)


class _Canvas:
    def __init__(self, size: int, rng: random.Random) -> None:
        self.n = size * SUPERSAMPLE
        self.px_per_mm = self.n / FOV_MM
        self.rng = rng
        self.np_rng = np.random.default_rng(rng.getrandbits(63))
        yy, xx = np.mgrid[0:self.n, 0:self.n].astype(np.float32)
        self.xx, self.yy = xx + 0.5, yy + 0.5
        self.img = np.zeros((self.n, self.n, 3), dtype=np.float32)

    def noise(self, cells: int) -> np.ndarray:
        """Smooth value noise in [0, 1] with about ``cells`` features across the image."""
        small = self.np_rng.random((cells + 1, cells + 1)).astype(np.float32)
        grid = Image.fromarray(small, mode="F").resize((self.n, self.n), Image.Resampling.BICUBIC)
        out = np.asarray(grid, dtype=np.float32)
        lo, hi = float(out.min()), float(out.max())
        return (out - lo) / (hi - lo + 1e-6)

    def mm(self, value: float) -> float:
        return value * self.px_per_mm

    def blob(self, cx: float, cy: float, radius: float, *, aspect: float = 1.0, angle: float = 0.0,
             harmonics: Sequence[tuple[int, float, float]] = (), softness: float = 0.05,
             edge_noise: np.ndarray | None = None, edge_noise_amp: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, d): coverage in [0, 1] and normalized radial distance (1 on the border)."""
        dx, dy = self.xx - cx, self.yy - cy
        c, s = math.cos(angle), math.sin(angle)
        u, v = dx * c + dy * s, -dx * s + dy * c
        rho = np.sqrt((u / (radius * aspect)) ** 2 + (v / (radius / aspect)) ** 2)
        theta = np.arctan2(v, u)
        r = np.ones_like(rho)
        for k, amp, phase in harmonics:
            r = r + amp * np.cos(k * theta + phase)
        d = rho / np.maximum(r, 0.2)
        if edge_noise is not None:
            d = d + edge_noise_amp * (edge_noise - 0.5)
        alpha = np.clip((1.0 - d) / max(softness, 1e-3) + 0.5, 0.0, 1.0)
        alpha = alpha * alpha * (3 - 2 * alpha)  # smoothstep
        return alpha.astype(np.float32), d.astype(np.float32)

    def paint(self, alpha: np.ndarray, colour: np.ndarray | Sequence[float], strength: float = 1.0) -> None:
        colour = np.asarray(colour, dtype=np.float32)
        a = (alpha * strength)[..., None]
        self.img = self.img * (1 - a) + colour * a

    def line_mask(self, points: Sequence[tuple[float, float]], width: float) -> np.ndarray:
        layer = Image.new("L", (self.n, self.n), 0)
        ImageDraw.Draw(layer).line([(round(x, 2), round(y, 2)) for x, y in points], fill=255,
                                   width=max(1, round(width)), joint="curve")
        return np.asarray(layer, dtype=np.float32) / 255.0

    def image(self, size: int) -> Image.Image:
        arr = np.clip(self.img + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="RGB").reduce(self.n // size)


def _skin(canvas: _Canvas, skin_type: int) -> np.ndarray:
    rng = canvas.rng
    tone = np.array([c + rng.uniform(-6, 6) for c in SKIN_TONES[skin_type]], dtype=np.float32)
    shade = 1.0 + 0.07 * (canvas.noise(3) - 0.5) + 0.03 * (canvas.noise(12) - 0.5)
    gx, gy = rng.uniform(-1, 1), rng.uniform(-1, 1)
    light = 1.0 + 0.05 * ((canvas.xx / canvas.n - 0.5) * gx + (canvas.yy / canvas.n - 0.5) * gy)
    grain = canvas.np_rng.normal(0.0, 2.5, size=(canvas.n, canvas.n, 1)).astype(np.float32)
    canvas.img = tone * (shade * light)[..., None] + grain
    return tone


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> np.ndarray:
    return np.asarray(a, dtype=np.float32) * (1 - t) + np.asarray(b, dtype=np.float32) * t


def _dark(skin_type: int) -> bool:
    return skin_type >= 5


def _erythema(skin_type: int, tone: np.ndarray, light_rgb: Sequence[float], light_word: str,
              dark_word: str = "violaceous") -> tuple[np.ndarray, str]:
    """Red/pink on light skin; on V-VI darker and purple-shifted (as erythema looks there)."""
    if _dark(skin_type):
        return _mix(tone * np.array([0.8, 0.55, 0.75]), (90, 30, 70), 0.35), dark_word
    return np.asarray(light_rgb, dtype=np.float32), light_word


def _place(canvas: _Canvas, radii_px: Sequence[float], margin: float = 0.05, tries: int = 60) -> list[tuple[float, float]]:
    """Centres for lesions of the given radii, inside the frame and (as far as possible) not overlapping."""
    rng, n = canvas.rng, canvas.n
    placed: list[tuple[float, float, float]] = []
    for r in radii_px:
        lo, hi = r + margin * n, n - r - margin * n
        if hi <= lo:
            lo = hi = n / 2
        best = None
        for _ in range(tries):
            x, y = rng.uniform(lo, hi), rng.uniform(lo, hi)
            gap = min((math.hypot(x - px, y - py) - (r + pr) for px, py, pr in placed), default=1e9)
            if best is None or gap > best[0]:
                best = (gap, x, y)
            if gap > 0.15 * r:
                break
        placed.append((best[1], best[2], r))
    return [(x, y) for x, y, _ in placed]


def _harmonics(rng: random.Random, amp: float, ks: Iterable[int]) -> list[tuple[int, float, float]]:
    return [(k, amp * rng.uniform(0.4, 1.0) / (1 + 0.25 * i), rng.uniform(0, 2 * math.pi)) for i, k in enumerate(ks)]


def _size_text(diameters_mm: Sequence[float]) -> str:
    lo, hi = round(min(diameters_mm)), round(max(diameters_mm))
    return f"{lo} mm" if lo == hi else f"{lo}-{hi} mm"


def _shading(canvas: _Canvas, cx: float, cy: float, radius: float, amount: float) -> np.ndarray:
    """A raised lesion: lighter upper-left, darker lower-right (multiplier around 1)."""
    dx, dy = (canvas.xx - cx) / radius, (canvas.yy - cy) / radius
    return 1.0 + amount * np.clip(-(dx + dy) * 0.5, -1, 1)


def _random_walk(canvas: _Canvas, x: float, y: float, length: float, steps: int = 6) -> list[tuple[float, float]]:
    rng = canvas.rng
    angle = rng.uniform(0, 2 * math.pi)
    pts = [(x, y)]
    for _ in range(steps):
        angle += rng.uniform(-0.7, 0.7)
        x, y = x + math.cos(angle) * length / steps, y + math.sin(angle) * length / steps
        pts.append((x, y))
    return pts


# ==================================================================================================
# The labels: each draws on the canvas and returns its caption fields (location/other stay empty)

Drawer = Callable[[_Canvas, int, np.ndarray], dict[str, str]]


def _psoriasis(cv: _Canvas, skin_type: int, tone: np.ndarray) -> dict[str, str]:
    rng = cv.rng
    count = 1 if rng.random() < 0.6 else rng.randint(2, 4)
    diam = [rng.uniform(14, 28)] if count == 1 else [rng.uniform(7, 15) for _ in range(count)]
    shape = rng.choice(("round", "oval"))
    colour, word = _erythema(skin_type, tone, (222, 105, 95), "salmon-red")
    scale_rgb = _mix((232, 232, 238), tone, 0.1)
    for (cx, cy), d in zip(_place(cv, [cv.mm(x) / 2 for x in diam]), diam):
        r = cv.mm(d) / 2
        aspect = 1.0 if shape == "round" else rng.uniform(1.3, 1.55)
        alpha, dist = cv.blob(cx, cy, r, aspect=aspect, angle=rng.uniform(0, math.pi),
                              harmonics=_harmonics(rng, 0.03, (3, 4)), softness=0.05)
        cv.paint(alpha, colour, 0.9)
        flakes = cv.noise(26)
        scale = np.clip((flakes - 0.3) / 0.15, 0, 1) * np.clip((0.92 - dist) / 0.1, 0, 1)
        cv.paint(scale, scale_rgb, 0.85)
    return dict(color=word, shape=shape, lesion_type="plaque, scale", number=number_category(count),
                size=_size_text(diam), texture="rough", border_characteristics="well-defined",
                surface_characteristics="thick silvery scale",
                distribution_characteristics="isolated" if count == 1 else "scattered",
                surrounding_characteristics="normal")


def _eczema(cv: _Canvas, skin_type: int, tone: np.ndarray) -> dict[str, str]:
    rng = cv.rng
    count = 1 if rng.random() < 0.7 else rng.randint(2, 3)
    diam = [rng.uniform(15, 30)] if count == 1 else [rng.uniform(10, 17) for _ in range(count)]
    secondary = rng.choice(("crust", "excoriation"))
    colour, word = _erythema(skin_type, tone, (205, 85, 80), "red")
    edge = cv.noise(6)
    centres = _place(cv, [cv.mm(x) / 2 for x in diam])
    for (cx, cy), d in zip(centres, diam):
        r = cv.mm(d) / 2
        alpha, dist = cv.blob(cx, cy, r, aspect=rng.uniform(1.0, 1.3), angle=rng.uniform(0, math.pi),
                              harmonics=_harmonics(rng, 0.2, (2, 3, 5)), softness=0.45,
                              edge_noise=edge, edge_noise_amp=0.35)
        cv.paint(alpha, colour, 0.7)
        # fine scale: sparse small pale flecks
        fleck = (cv.np_rng.random((cv.n, cv.n)) > 0.965).astype(np.float32) * np.clip(1.0 - dist, 0, 1)
        cv.paint(fleck, _mix(tone, (250, 245, 240), 0.45), 0.6)
        inner = [(cx + rng.uniform(-0.6, 0.6) * r, cy + rng.uniform(-0.6, 0.6) * r) for _ in range(rng.randint(6, 12))]
        if secondary == "crust":
            for x, y in inner:
                a, _ = cv.blob(x, y, cv.mm(rng.uniform(0.5, 1.2)), harmonics=_harmonics(rng, 0.25, (3,)), softness=0.2)
                cv.paint(a, (196, 148, 62) if not _dark(skin_type) else (150, 110, 50), 0.9)
        else:
            for x, y in inner[:7]:
                mask = cv.line_mask(_random_walk(cv, x, y, cv.mm(rng.uniform(3, 7)), 3), cv.mm(0.35))
                cv.paint(mask, (125, 28, 32) if not _dark(skin_type) else (60, 20, 25), 0.85)
    return dict(color=word, shape="irregular", lesion_type=f"patch, scale, {secondary}", number=number_category(count),
                size=_size_text(diam), texture="rough", border_characteristics="ill-defined",
                surface_characteristics="fine scale, crusted" if secondary == "crust" else "fine scale, excoriated",
                distribution_characteristics="isolated" if count == 1 else "scattered",
                surrounding_characteristics="normal")


def _brown(skin_type: int, tone: np.ndarray, rng: random.Random) -> tuple[np.ndarray, str]:
    if skin_type >= 4 or rng.random() < 0.5:
        return (np.asarray((88, 55, 38), dtype=np.float32) if skin_type < 5 else tone * 0.45), "dark brown"
    return np.asarray((168, 116, 76), dtype=np.float32), "light brown"


def _nevus(cv: _Canvas, skin_type: int, tone: np.ndarray) -> dict[str, str]:
    rng = cv.rng
    d = rng.uniform(3.6, 6.4)
    shape = rng.choice(("round", "oval"))
    raised = rng.random() < 0.5
    colour, word = _brown(skin_type, tone, rng)
    (cx, cy), = _place(cv, [cv.mm(d) / 2], margin=0.25)
    r = cv.mm(d) / 2
    alpha, _ = cv.blob(cx, cy, r, aspect=1.0 if shape == "round" else rng.uniform(1.2, 1.35),
                       angle=rng.uniform(0, math.pi), harmonics=_harmonics(rng, 0.02, (3,)), softness=0.08)
    fill = colour * (1 + 0.04 * (cv.noise(4) - 0.5))[..., None]
    if raised:
        fill = fill * _shading(cv, cx, cy, r, 0.18)[..., None]
    cv.paint(alpha, fill, 0.95)
    return dict(color=f"uniform {word}", shape=shape, lesion_type="papule" if raised else "macule", number="single",
                size=_size_text([d]), texture="smooth", border_characteristics="regular, well-defined",
                surface_characteristics="smooth", distribution_characteristics="isolated",
                surrounding_characteristics="normal")


def _melanoma(cv: _Canvas, skin_type: int, tone: np.ndarray) -> dict[str, str]:
    rng = cv.rng
    d = rng.uniform(10, 22)
    raised = rng.random() < 0.4
    ulcer = raised and rng.random() < 0.5
    blue = rng.random() < 0.5
    notched = rng.random() < 0.6
    satellites = rng.random() < 0.3
    (cx, cy), = _place(cv, [cv.mm(d) / 2 * 1.2], margin=0.08)
    r = cv.mm(d) / 2
    alpha, dist = cv.blob(cx, cy, r, aspect=rng.uniform(1.0, 1.4), angle=rng.uniform(0, math.pi),
                          harmonics=_harmonics(rng, 0.26, (2, 3, 5, 7)), softness=0.06 if notched else 0.3,
                          edge_noise=cv.noise(10), edge_noise_amp=0.12 if notched else 0.3)
    black = np.clip((cv.noise(6) - 0.5) / 0.12, 0, 1)[..., None]
    tan = np.clip((0.4 - cv.noise(7)) / 0.12, 0, 1)[..., None]
    brown = _mix((120, 74, 48), tone * 0.55, 0.5 if _dark(skin_type) else 0.0)
    light_brown = _mix((176, 122, 80), tone * 0.8, 0.5 if _dark(skin_type) else 0.0)
    fill = brown * (1 - tan) + light_brown * tan
    fill = fill * (1 - black) + np.asarray((26, 18, 18), dtype=np.float32) * black
    if blue:
        blot = np.clip((cv.noise(5) - 0.62) / 0.1, 0, 1)[..., None]
        fill = fill * (1 - blot) + np.asarray((98, 108, 130), dtype=np.float32) * blot
    cv.paint(alpha, fill, 0.95)
    if ulcer:
        a, _ = cv.blob(cx + rng.uniform(-0.2, 0.2) * r, cy + rng.uniform(-0.2, 0.2) * r, 0.3 * r,
                       harmonics=_harmonics(rng, 0.2, (3, 4)), softness=0.2)
        cv.paint(a, (150, 36, 36), 0.9)
    if satellites:
        for _ in range(rng.randint(2, 4)):
            angle, rad = rng.uniform(0, 2 * math.pi), r * rng.uniform(1.35, 1.7)
            a, _ = cv.blob(cx + math.cos(angle) * rad, cy + math.sin(angle) * rad, cv.mm(rng.uniform(0.6, 1.0)), softness=0.15)
            cv.paint(a, (45, 30, 28), 0.9)
    lesion = ("plaque" if raised else "patch") + (", ulcer" if ulcer else "")
    return dict(color="variegated brown-black-blue" if blue else "variegated brown-black", shape="irregular",
                lesion_type=lesion, number="single", size=_size_text([d]), texture="smooth",
                border_characteristics="irregular, notched" if notched else "irregular, ill-defined",
                surface_characteristics="ulcerated" if ulcer else "smooth", distribution_characteristics="isolated",
                surrounding_characteristics="satellite lesions" if satellites else "normal")


def _seborrheic_keratosis(cv: _Canvas, skin_type: int, tone: np.ndarray) -> dict[str, str]:
    rng = cv.rng
    count = 1 if rng.random() < 0.6 else rng.randint(2, 3)
    diam = [rng.uniform(8, 20)] if count == 1 else [rng.uniform(7, 13) for _ in range(count)]
    light = skin_type <= 3 and rng.random() < 0.5
    colour = np.asarray((176, 130, 84) if light else (104, 70, 44), dtype=np.float32)
    if _dark(skin_type):
        colour = tone * 0.5
    word = "waxy light brown" if light else "waxy dark brown"
    for (cx, cy), d in zip(_place(cv, [cv.mm(x) / 2 * 1.3 for x in diam]), diam):
        r = cv.mm(d) / 2
        alpha, dist = cv.blob(cx, cy, r, aspect=rng.uniform(1.25, 1.5), angle=rng.uniform(0, math.pi),
                              harmonics=_harmonics(rng, 0.05, (3, 5)), softness=0.04)
        warts = cv.noise(max(6, int(d * 2)))
        fill = colour * (0.72 + 0.5 * warts)[..., None]
        cv.paint(alpha, fill, 0.95)
        cracks = np.clip(1 - np.abs(cv.noise(max(5, int(d * 1.2))) - 0.5) / 0.04, 0, 1) * alpha
        cv.paint(cracks, colour * 0.45, 0.7)
        for _ in range(rng.randint(4, 10)):
            x, y = cx + rng.uniform(-0.55, 0.55) * r, cy + rng.uniform(-0.55, 0.55) * r
            a, _ = cv.blob(x, y, cv.mm(rng.uniform(0.3, 0.55)), softness=0.3)
            cv.paint(a * alpha, (232, 222, 190), 0.85)
    size_kind = "plaque" if max(diam) >= 10 else "papule"
    return dict(color=word, shape="oval", lesion_type=size_kind, number=number_category(count), size=_size_text(diam),
                texture="rough", border_characteristics="well-defined",
                surface_characteristics="verrucous, stuck-on",
                distribution_characteristics="isolated" if count == 1 else "scattered",
                surrounding_characteristics="normal")


def _basal_cell_carcinoma(cv: _Canvas, skin_type: int, tone: np.ndarray) -> dict[str, str]:
    rng = cv.rng
    d = rng.uniform(6, 14)
    ulcer = rng.random() < 0.4
    (cx, cy), = _place(cv, [cv.mm(d) / 2], margin=0.15)
    r = cv.mm(d) / 2
    if _dark(skin_type):
        colour, word = _mix(tone, (150, 100, 85), 0.5) * 1.05, "pearly brown"
    else:
        colour, word = np.asarray((236, 188, 184), dtype=np.float32), "pearly pink"
    alpha, dist = cv.blob(cx, cy, r, aspect=rng.uniform(1.0, 1.15), angle=rng.uniform(0, math.pi),
                          harmonics=_harmonics(rng, 0.03, (3,)), softness=0.06)
    rim = np.exp(-((dist - 0.84) / 0.09) ** 2)
    sheen = (1 + 0.22 * rim) * _shading(cv, cx, cy, r, 0.12)
    cv.paint(alpha, colour * sheen[..., None], 0.92)
    vessel = np.zeros_like(alpha)
    for _ in range(rng.randint(3, 6)):
        start = (cx + rng.uniform(-0.7, 0.7) * r, cy + rng.uniform(-0.7, 0.7) * r)
        vessel = np.maximum(vessel, cv.line_mask(_random_walk(cv, *start, r * rng.uniform(0.6, 1.1), 5), cv.mm(0.22)))
    cv.paint(vessel * np.clip((1.0 - dist) / 0.15, 0, 1), (192, 38, 52), 0.8)
    if ulcer:
        a, _ = cv.blob(cx, cy, 0.33 * r, harmonics=_harmonics(rng, 0.2, (3, 4)), softness=0.25)
        cv.paint(a, (120, 42, 36), 0.9)
    return dict(color=word, shape="round", lesion_type="nodule, telangiectasia" + (", ulcer" if ulcer else ""),
                number="single", size=_size_text([d]), texture="smooth", border_characteristics="rolled",
                surface_characteristics="shiny, ulcerated" if ulcer else "shiny",
                distribution_characteristics="isolated", surrounding_characteristics="normal")


def _urticaria(cv: _Canvas, skin_type: int, tone: np.ndarray) -> dict[str, str]:
    rng = cv.rng
    count = rng.randint(5, 8)
    diam = [rng.uniform(7, 14) for _ in range(count)]
    shape = rng.choice(("round", "annular"))
    colour, word = _erythema(skin_type, tone, (240, 150, 152), "pink", "dusky pink")
    flare_rgb, _ = _erythema(skin_type, tone, (225, 95, 95), "red")
    pale = _mix(tone, (255, 250, 245), 0.25)
    for (cx, cy), d in zip(_place(cv, [cv.mm(x) / 2 for x in diam], margin=0.02), diam):
        r = cv.mm(d) / 2
        aspect, angle = rng.uniform(1.0, 1.3), rng.uniform(0, math.pi)
        harm = _harmonics(rng, 0.08, (3, 4))
        halo, _ = cv.blob(cx, cy, r * 1.45, aspect=aspect, angle=angle, harmonics=harm, softness=0.5)
        cv.paint(halo, flare_rgb, 0.35)
        alpha, dist = cv.blob(cx, cy, r, aspect=aspect, angle=angle, harmonics=harm, softness=0.12)
        cv.paint(alpha, colour, 0.8)
        centre = np.clip((0.55 - dist) / 0.2, 0, 1) if shape == "annular" else np.clip((0.35 - dist) / 0.3, 0, 1) * 0.5
        cv.paint(centre, pale, 0.85)
    return dict(color=word, shape=shape, lesion_type="wheal", number=number_category(count), size=_size_text(diam),
                texture="oedematous", border_characteristics="well-defined", surface_characteristics="smooth",
                distribution_characteristics="scattered", surrounding_characteristics="erythematous flare")


def _acne(cv: _Canvas, skin_type: int, tone: np.ndarray) -> dict[str, str]:
    rng = cv.rng
    count = rng.randint(10, 22)
    variant = rng.choice(("pustule", "comedo", "both"))
    low = rng.uniform(1.6, 2.6)
    high = low + rng.uniform(0.8, 2.2)
    diam = [rng.uniform(low, high) for _ in range(count)]
    colour, word = _erythema(skin_type, tone, (200, 70, 70), "red")
    pus = (246, 236, 188)
    for i, ((cx, cy), d) in enumerate(zip(_place(cv, [cv.mm(x) / 2 * 1.6 for x in diam], margin=0.03), diam)):
        r = cv.mm(d) / 2
        alpha, dist = cv.blob(cx, cy, r, aspect=rng.uniform(1.0, 1.2), angle=rng.uniform(0, math.pi), softness=0.35)
        cv.paint(alpha, colour * _shading(cv, cx, cy, r, 0.1)[..., None], 0.85)
        if variant in ("pustule", "both") and i % 3 == 0:
            cv.paint(np.clip((0.45 - dist) / 0.2, 0, 1), pus, 0.95)
    if variant in ("comedo", "both"):
        for (cx, cy) in _place(cv, [cv.mm(0.6)] * rng.randint(5, 10), margin=0.04):
            a, _ = cv.blob(cx, cy, cv.mm(rng.uniform(0.4, 0.6)), softness=0.3)
            cv.paint(a, (52, 40, 32) if not _dark(skin_type) else (25, 18, 14), 0.9)
    types = {"pustule": "papule, pustule", "comedo": "papule, comedo", "both": "papule, pustule, comedo"}[variant]
    return dict(color=word, shape="round", lesion_type=types, number="numerous", size=_size_text(diam),
                texture="smooth", border_characteristics="well-defined",
                surface_characteristics="pustular" if variant != "comedo" else "smooth",
                distribution_characteristics="scattered", surrounding_characteristics="normal")


def _vitiligo(cv: _Canvas, skin_type: int, tone: np.ndarray) -> dict[str, str]:
    rng = cv.rng
    count = 1 if rng.random() < 0.5 else rng.randint(2, 3)
    diam = [rng.uniform(14, 28)] if count == 1 else [rng.uniform(10, 16) for _ in range(count)]
    white = np.asarray((250, 238, 230), dtype=np.float32)
    for (cx, cy), d in zip(_place(cv, [cv.mm(x) / 2 for x in diam]), diam):
        alpha, _ = cv.blob(cx, cy, cv.mm(d) / 2, aspect=rng.uniform(1.0, 1.4), angle=rng.uniform(0, math.pi),
                           harmonics=_harmonics(rng, 0.22, (2, 3, 5)), softness=0.05)
        cv.paint(alpha, white * (1 + 0.02 * (cv.noise(5) - 0.5))[..., None], 0.95)
    return dict(color="depigmented white", shape="irregular", lesion_type="patch", number=number_category(count),
                size=_size_text(diam), texture="smooth", border_characteristics="well-defined",
                surface_characteristics="smooth", distribution_characteristics="isolated" if count == 1 else "scattered",
                surrounding_characteristics="normal")


#: Label (a Fitzpatrick17k label name, used as the folder name) -> drawer.
LABELS: dict[str, Drawer] = {
    "psoriasis": _psoriasis,
    "eczema": _eczema,
    "nevocytic nevus": _nevus,
    "melanoma": _melanoma,
    "seborrheic keratosis": _seborrheic_keratosis,
    "basal cell carcinoma": _basal_cell_carcinoma,
    "urticaria": _urticaria,
    "acne vulgaris": _acne,
    "vitiligo": _vitiligo,
}


# ==================================================================================================
# Samples, splits, files


@dataclass(frozen=True)
class SyntheticSample:
    label: str
    split: str
    index: int
    seed: int
    fitzpatrick: int
    caption: dict[str, str]           # all 12 fields in schema order, valid by annotations.schema
    png: bytes = field(repr=False)

    @property
    def relpath(self) -> str:
        """Path under the folder root: ``<label>/<split>-<nnnn>.png`` (the imported sample's external_id)."""
        return f"{self.label}/{self.split}-{self.index:04d}.png"

    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.png)).convert("RGB")

    def manifest_row(self) -> dict[str, Any]:
        return {"relpath": self.relpath, "label": self.label, "split": self.split, "fitzpatrick": self.fitzpatrick,
                "seed": self.seed, "generator": GENERATOR_VERSION, "caption": self.caption}


def image_seed(set_seed: int, split: str, label: str, index: int) -> int:
    """The per-image seed: a hash of (generator version, set seed, split, label, index)."""
    key = f"skinflow-synthetic:{GENERATOR_VERSION}:{int(set_seed)}:{split}:{label}:{int(index)}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def generate_sample(label: str, seed: int, skin_type: int, *, size: int = IMAGE_SIZE) -> tuple[Image.Image, dict[str, str]]:
    """One image of ``label`` on Fitzpatrick ``skin_type`` (1-6) and its validated 12-field caption."""
    if label not in LABELS:
        raise ValueError(f"unknown synthetic label {label!r}; choose from {', '.join(LABELS)}")
    if skin_type not in SKIN_TONES:
        raise ValueError(f"skin_type must be 1-6, got {skin_type!r}")
    rng = random.Random(seed)
    canvas = _Canvas(size, rng)
    tone = _skin(canvas, skin_type)
    values = LABELS[label](canvas, skin_type, tone)
    caption = {name: values.get(name, "") for name in FIELDS}
    caption = parse_caption(caption).to_dict()   # validates (and normalizes lesion_type) or raises
    return canvas.image(size), caption


def _skin_type_for(set_seed: int, split: str, label: str, index: int) -> int:
    """Balanced cycle over I-VI with a per-(split, label) rotation: every label spans all six types."""
    offset = image_seed(set_seed, split, label, -1) % 6
    return (index + offset) % 6 + 1


def generate_split(split: str, per_label: int, *, seed: int = 0, size: int = IMAGE_SIZE,
                   labels: Sequence[str] | None = None) -> list[SyntheticSample]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    out = []
    for label in labels or LABELS:
        for index in range(per_label):
            s = image_seed(seed, split, label, index)
            skin = _skin_type_for(seed, split, label, index)
            img, caption = generate_sample(label, s, skin, size=size)
            out.append(SyntheticSample(label, split, index, s, skin, caption, _png_bytes(img)))
    return out


def generate_set(per_split: Mapping[str, int] | None = None, *, seed: int = 0, size: int = IMAGE_SIZE,
                 labels: Sequence[str] | None = None) -> list[SyntheticSample]:
    """All splits; ``per_split`` is images per label per split (default train 24, val 6, test 12)."""
    per_split = dict(per_split or {"train": 24, "val": 6, "test": 12})
    out: list[SyntheticSample] = []
    for split in SPLITS:
        if per_split.get(split):
            out.extend(generate_split(split, per_split[split], seed=seed, size=size, labels=labels))
    return out


def write_synthetic_folder(root: str | Path, per_split: Mapping[str, int] | None = None, *, seed: int = 0,
                           size: int = IMAGE_SIZE, labels: Sequence[str] | None = None,
                           manifest: str | Path | None = None) -> list[SyntheticSample]:
    """Write ``<root>/<label>/<split>-<nnnn>.png`` for every sample and the caption sidecar.

    The sidecar (JSON lines, default ``<root>/.synthetic-captions.jsonl``: hidden, so the folder
    import skips it) maps each relpath to its label, split, Fitzpatrick type, seed and caption. The
    folder is what ``services.import_folder(name, root)`` takes; this function imports nothing.
    """
    root = Path(root)
    samples = generate_set(per_split, seed=seed, size=size, labels=labels)
    for sample in samples:
        path = root / sample.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample.png)
    manifest_path = Path(manifest) if manifest is not None else root / MANIFEST_NAME
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with manifest_path.open("w", encoding="utf-8") as fh:
        for sample in samples:
            fh.write(json.dumps(sample.manifest_row(), ensure_ascii=False, sort_keys=True) + "\n")
    return samples


def read_manifest(path: str | Path) -> dict[str, dict[str, Any]]:
    """relpath -> manifest row, from a sidecar written by :func:`write_synthetic_folder`."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["relpath"]] = row
    return rows


def write_contact_sheet(path: str | Path, *, per_label: int = 6, seed: int = 0, size: int = IMAGE_SIZE,
                        split: str = "train") -> Path:
    """A PNG grid: one row per label (name at the left), ``per_label`` images across (skin types I-VI)."""
    samples = generate_split(split, per_label, seed=seed, size=size)
    label_w, pad = 150, 4
    labels = list(LABELS)
    sheet = Image.new("RGB", (label_w + per_label * (size + pad), len(labels) * (size + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for row, label in enumerate(labels):
        y = pad + row * (size + pad)
        draw.text((6, y + size // 2 - 12), label, fill="black")
        for col, sample in enumerate(s for s in samples if s.label == label):
            sheet.paste(sample.image(), (label_w + col * (size + pad), y))
            roman = "I II III IV V VI".split()[sample.fitzpatrick - 1]
            draw.text((label_w + col * (size + pad) + 3, y + 2), roman, fill="white")
        caption = next(s.caption for s in samples if s.label == label)
        draw.text((6, y + size // 2 + 2), caption["border_characteristics"][:22], fill=(90, 90, 90))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
