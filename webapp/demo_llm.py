"""The demo stand-in LLM: synthetic but plausible answers for every role, served by webapp/llm_testserver.py.

``bin/run`` starts the local OpenAI-compatible server with the shipped rule set (webapp/demo_llm_rules.json),
whose rules hand each request to one of the handlers below, so that a first run shows the product as it
behaves with a real model: drafts that follow the caption schema, diagnoses that are mostly right but
sometimes a sibling or a safety-critical miss, judge and scorer replies in their contracts.

Pure Python plus Pillow (no Django, no upward import): like a real model, every handler reads what it needs
from the prompt itself (the 12 field names and the lesion-type vocabulary from the structurer prompt, K from
the appendix-B prompt, the names to grade from the judge prompt), so a prompt change that a real model would
follow is followed here too, and a broken prompt shows up as a broken demo.

How the answers are chosen, deterministically from the request content:

* drafter: a small "vision" pass over the photo (skin colour from the border, lesion mask, number and fill of
  the blobs, hollow centre, lesion colour) picks one of seven findings (plaque, pigmented, papules, nodule,
  annular, wheals, none) and writes a description from that finding's phrases. About a third of the photos
  are "atypical": their description leaves out the feature that tells the condition from its look-alikes
  (the scale of a psoriatic plaque, the variegation of a melanoma...), so the diagnoser goes wrong on them.
  An identical request seen again (the drafting loop's next attempt) is a fresh sample, as from a model at
  temperature > 0: other wording, and for half of the atypical photos the missing feature is noticed from the
  third attempt on. The run therefore ends with most samples accepted by the machine (some on a later
  attempt) and a few needing an expert.
* structurer: sorts the description's sentences into the fields the prompt lists; about one reply in ten
  puts a colour word into ``lesion_type`` first (as real models do), which the schema refuses and the repair
  round fixes.
* diagnoser: ranks conditions from the caption's words (or, for an evaluation with a photo, from the same
  vision pass), giving K entries in the appendix-B format.
* judge / scorer: grade by spelling similarity and word overlap, in their JSON contracts.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import io
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = ["DemoLLM", "Findings", "HANDLERS", "image_findings"]

# --------------------------------------------------------------------------------------------------
# Vision: what a photo shows, in coarse terms

_GRID = 64  # the photo is looked at on a 64 x 64 grid: enough for blobs and rings, fast in pure Python


@dataclass(frozen=True)
class Findings:
    archetype: str              # one of PROFILES
    components: int             # separate lesions seen
    area: float                 # lesion share of the photo, 0-1
    fill: float                 # largest lesion's share of its bounding box (low for a ring)
    color: tuple[int, int, int]  # mean lesion colour
    skin: tuple[int, int, int]   # surrounding skin colour
    hollow: bool                # the largest lesion has a clear centre
    digest: int                 # stable number from the photo's bytes: drives the wording


def _luma(rgb: Sequence[float]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _digest(data: bytes | str) -> int:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")


def image_findings(data: bytes) -> Findings:
    """Coarse findings of a photo. Raises ValueError when the bytes are not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            small = img.convert("RGB").resize((_GRID, _GRID))
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not an image: {exc}") from None
    px = list(small.get_flattened_data() if hasattr(small, "get_flattened_data") else small.getdata())
    border = [px[y * _GRID + x] for y in range(_GRID) for x in range(_GRID)
              if x < 2 or y < 2 or x >= _GRID - 2 or y >= _GRID - 2]
    skin = tuple(sorted(c[i] for c in border)[len(border) // 2] for i in range(3))
    mask = [sum((a - b) ** 2 for a, b in zip(p, skin)) ** 0.5 > 25 for p in px]
    seen = [False] * len(px)
    blobs: list[list[int]] = []
    for start, on in enumerate(mask):
        if not on or seen[start]:
            continue
        stack, blob = [start], []
        seen[start] = True
        while stack:
            i = stack.pop()
            blob.append(i)
            y, x = divmod(i, _GRID)
            for j in (i - 1 if x else -1, i + 1 if x < _GRID - 1 else -1, i - _GRID, i + _GRID):
                if 0 <= j < len(px) and mask[j] and not seen[j]:
                    seen[j] = True
                    stack.append(j)
        if len(blob) >= 2:
            blobs.append(blob)
    digest = _digest(data)
    lesion = [i for blob in blobs for i in blob]
    area = len(lesion) / len(px)
    if area < 0.004:
        return Findings("none", 0, area, 0.0, skin, skin, False, digest)  # type: ignore[arg-type]
    color = tuple(round(sum(px[i][c] for i in lesion) / len(lesion)) for c in range(3))
    largest = max(blobs, key=len)
    ys, xs = [i // _GRID for i in largest], [i % _GRID for i in largest]
    box = (max(ys) - min(ys) + 1) * (max(xs) - min(xs) + 1)
    fill = len(largest) / box
    cy, cx = (max(ys) + min(ys)) // 2, (max(xs) + min(xs)) // 2
    centre = [mask[(cy + dy) * _GRID + cx + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    hollow = fill < 0.45 and box > 100 and not any(centre)
    big_blobs = [b for b in blobs if len(b) >= 3]
    mean_size = sum(map(len, big_blobs)) / max(1, len(big_blobs))
    if _luma(color) < 0.6 * _luma(skin) and max(color) < 140:
        archetype = "pigmented"
    elif hollow:
        archetype = "annular"
    elif len(big_blobs) >= 4:
        archetype = "papules" if mean_size < 40 else "wheals"
    elif color[0] - color[1] > 75:
        archetype = "plaque"
    else:
        archetype = "nodule"
    return Findings(archetype, len(blobs), area, fill, color, skin, hollow, digest)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# What each finding is described as, and what it is taken for

# Phrases per field; "cue" is the feature that tells the condition from its look-alikes (left out of an
# atypical photo's description), "atypical" what is said instead.
PROFILES: dict[str, dict[str, Any]] = {
    "plaque": {
        "color": ["bright red", "salmon-pink to red", "erythematous red"],
        "location": ["extensor surface of the elbow", "both knees", "lower back", "scalp margin and elbow"],
        "shape": ["oval", "round to oval", "irregular"],
        "lesion": ["plaques with overlying scale", "a plaque with scale"],
        "number": ["single", "few", "multiple"],
        "size": ["about 3 cm", "2-4 cm", "about 5 cm"],
        "texture": ["rough, slightly indurated", "thickened and rough"],
        "border": ["well-defined", "sharply demarcated"],
        "surface": ["thick silvery-white scale", "adherent silvery scale"],
        "distribution": ["symmetric", "scattered, symmetric"],
        "surrounding": ["normal surrounding skin", "no satellite lesions; normal surrounding skin"],
        "cue": "surface",
        # Fine white scale misread as Wickham striae: the drafter sends the diagnoser to lichen planus.
        "atypical": {"surface": ["flat-topped, shiny, with fine white lines", "flat-topped with a lacy white network"],
                     "lesion": ["a plaque", "plaques"], "color": ["dusky red"]},
    },
    "pigmented": {
        "color": ["variegated dark brown to black", "dark brown with black and grey areas"],
        "location": ["upper back", "calf", "shoulder", "upper arm"],
        "shape": ["irregular, asymmetric", "asymmetric with an irregular outline"],
        "lesion": ["a slightly raised plaque", "a macule with a raised part (papule)"],
        "number": ["single"],
        "size": ["about 9 mm", "about 12 mm", "7-8 mm"],
        "texture": ["soft", "slightly firm"],
        "border": ["irregular and notched", "irregular, partly blurred"],
        "surface": ["flat with darker dots and blotches", "smooth with irregular dark globules"],
        "distribution": ["isolated"],
        "surrounding": ["normal surrounding skin", "normal skin; no satellite lesions"],
        "cue": "color",
        "atypical": {"color": ["uniform medium brown", "evenly brown"], "shape": ["round", "oval, symmetric"],
                     "border": ["regular, well-defined"], "surface": ["smooth"], "size": ["about 5 mm"]},
    },
    "papules": {
        "color": ["red", "erythematous red with yellowish tips"],
        "location": ["cheeks and forehead", "cheeks, chin and upper back", "forehead"],
        "shape": ["round", "dome-shaped"],
        "lesion": ["papules and pustules", "papules, pustules and open comedones"],
        "number": ["numerous", "multiple"],
        "size": ["2-5 mm", "3-6 mm"],
        "texture": ["firm", "tender and firm"],
        "border": ["well-defined"],
        "surface": ["some with a central yellow pustule", "smooth, a few crusted"],
        "distribution": ["scattered, follicular", "grouped on the face, follicular"],
        "surrounding": ["oily skin with a few scars", "mild erythema around the lesions"],
        "cue": "lesion",
        "atypical": {"lesion": ["papules", "small papules"], "surface": ["smooth"],
                     "surrounding": ["diffuse central facial redness with telangiectasia"]},
    },
    "nodule": {
        "color": ["pink, pearly", "skin-coloured to pink with a pearly sheen"],
        "location": ["side of the nose", "temple", "cheek below the eye", "forehead"],
        "shape": ["round", "dome-shaped"],
        "lesion": ["a nodule with telangiectasia", "a nodule with fine telangiectasias"],
        "number": ["single"],
        "size": ["about 8 mm", "about 1 cm", "6-7 mm"],
        "texture": ["firm"],
        "border": ["rolled, well-defined", "raised, pearly rolled border"],
        "surface": ["shiny with arborizing vessels", "translucent with a small central erosion"],
        "distribution": ["isolated"],
        "surrounding": ["sun-damaged surrounding skin", "normal surrounding skin"],
        "cue": "border",
        "atypical": {"border": ["smooth, well-defined"], "surface": ["smooth, skin-coloured"],
                     "lesion": ["a soft nodule"], "color": ["skin-coloured"],
                     "texture": ["soft, rubbery"]},
    },
    "annular": {
        "color": ["red border with a paler centre", "erythematous edge, lighter centre"],
        "location": ["trunk", "thigh", "forearm", "groin and inner thigh"],
        "shape": ["annular", "ring-shaped (annular)"],
        "lesion": ["a plaque with scale at its edge", "annular plaques with scale"],
        "number": ["single", "few"],
        "size": ["about 6 cm", "4-5 cm", "about 8 cm"],
        "texture": ["slightly rough at the edge"],
        "border": ["raised, scaly advancing edge", "well-defined scaly active border"],
        "surface": ["central clearing", "central clearing with fine scale at the rim"],
        "distribution": ["isolated", "asymmetric"],
        "surrounding": ["normal surrounding skin"],
        "cue": "border",
        "atypical": {"border": ["smooth raised border of beaded papules"], "lesion": ["papules arranged in a ring"],
                     "surface": ["smooth, no scale"], "texture": ["firm"]},
    },
    "wheals": {
        "color": ["pale pink", "pink with a white centre"],
        "location": ["trunk and arms", "trunk, arms and thighs", "back and neck"],
        "shape": ["round to polycyclic", "oval and polycyclic"],
        "lesion": ["wheals", "raised wheals"],
        "number": ["multiple", "numerous"],
        "size": ["1-4 cm", "up to 5 cm"],
        "texture": ["soft, oedematous"],
        "border": ["well-defined"],
        "surface": ["smooth, oedematous", "smooth, no scale"],
        "distribution": ["scattered, migratory", "scattered"],
        "surrounding": ["erythematous flare around each wheal", "erythematous flare"],
        "cue": "other",
        "other": ["each wheal fades within 24 hours", "lesions come and go within hours"],
        "atypical": {"other": ["lesions persist for several days and leave bruise-like marks"],
                     "color": ["dusky red"], "lesion": ["wheals with purpura"]},
    },
    "none": {
        "color": [""], "location": [""], "shape": [""], "lesion": [""], "number": [""], "size": [""],
        "texture": [""], "border": [""], "surface": [""], "distribution": [""], "surrounding": [""],
        "cue": "", "atypical": {},
    },
}

# (keywords that must all occur in the caption text, ranked differential). First match wins; the typical
# description of a finding reaches its condition, the atypical one a look-alike: a sibling or, for the
# dangerous pairs (melanoma/naevus, tinea/granuloma annulare, BCC/naevus), a safety-critical miss.
DIFFERENTIALS: list[tuple[tuple[str, ...], list[str]]] = [
    (("wheal", "persist"), ["urticarial vasculitis", "urticaria", "erythema multiforme", "angioedema",
                            "fixed drug eruption", "cellulitis"]),
    (("wheal",), ["urticaria", "urticarial vasculitis", "angioedema", "erythema multiforme", "insect bite reaction",
                  "dermatographism"]),
    (("annular", "scal"), ["tinea corporis", "nummular eczema", "granuloma annulare", "pityriasis rosea",
                           "erythema annulare centrifugum", "psoriasis"]),
    (("annular",), ["granuloma annulare", "tinea corporis", "erythema annulare centrifugum", "sarcoidosis",
                    "lichen planus", "nummular eczema"]),
    (("ring",), ["granuloma annulare", "tinea corporis", "erythema annulare centrifugum", "sarcoidosis",
                 "lichen planus", "nummular eczema"]),
    (("variegated",), ["melanoma", "dysplastic naevus", "seborrhoeic keratosis", "pigmented basal cell carcinoma",
                       "melanocytic naevus", "solar lentigo"]),
    (("black",), ["melanoma", "dysplastic naevus", "seborrhoeic keratosis", "pigmented basal cell carcinoma",
                  "melanocytic naevus", "solar lentigo"]),
    (("brown",), ["melanocytic naevus", "melanoma", "seborrhoeic keratosis", "solar lentigo", "dermatofibroma",
                  "dysplastic naevus"]),
    (("pearly",), ["basal cell carcinoma", "squamous cell carcinoma", "sebaceous hyperplasia", "keratoacanthoma",
                   "amelanotic melanoma", "molluscum contagiosum"]),
    (("telangiectasia", "nodule"), ["basal cell carcinoma", "squamous cell carcinoma", "sebaceous hyperplasia",
                                    "keratoacanthoma", "amelanotic melanoma", "dermatofibroma"]),
    (("nodule",), ["intradermal naevus", "basal cell carcinoma", "dermatofibroma", "epidermoid cyst",
                   "sebaceous hyperplasia", "squamous cell carcinoma"]),
    (("pustule",), ["acne vulgaris", "rosacea", "folliculitis", "perioral dermatitis", "acneiform drug eruption",
                    "hidradenitis suppurativa"]),
    (("comedo",), ["acne vulgaris", "rosacea", "folliculitis", "perioral dermatitis", "milia",
                   "sebaceous hyperplasia"]),
    (("papule", "telangiectasia"), ["rosacea", "acne vulgaris", "perioral dermatitis", "folliculitis",
                                    "seborrhoeic dermatitis", "lupus erythematosus"]),
    (("papule",), ["acne vulgaris", "rosacea", "folliculitis", "perioral dermatitis", "milia",
                   "keratosis pilaris"]),
    (("flat-topped",), ["lichen planus", "psoriasis", "lichen simplex chronicus", "nummular eczema",
                        "lichenoid drug eruption", "tinea corporis"]),
    (("silvery",), ["psoriasis", "nummular eczema", "lichen planus", "seborrhoeic dermatitis", "tinea corporis",
                    "pityriasis rosea"]),
    (("plaque", "scale"), ["psoriasis", "nummular eczema", "lichen planus", "tinea corporis",
                           "seborrhoeic dermatitis", "pityriasis rosea"]),
    (("plaque",), ["nummular eczema", "psoriasis", "tinea corporis", "lichen simplex chronicus", "contact dermatitis",
                   "mycosis fungoides"]),
]
_FALLBACK_DIFFERENTIAL = ["contact dermatitis", "atopic dermatitis", "psoriasis", "urticaria", "tinea corporis",
                          "drug eruption"]

_FIELD_ORDER = ("color", "location", "shape", "lesion_type", "number", "size", "texture", "border_characteristics",
                "surface_characteristics", "distribution_characteristics", "surrounding_characteristics", "other")
# Description sentences: (caption field, how the drafter opens it, the cue the structurer recognizes it by).
_SENTENCES: tuple[tuple[str, str, str], ...] = (
    ("color", "The abnormal skin is {}.", r"abnormal skin is"),
    ("location", "It is located on the {}.", r"located on the"),
    ("shape", "The lesions are {} in shape.", r"in shape"),
    ("lesion_type", "Morphology: {}.", r"^morphology:"),
    ("number", "Number: {}.", r"^number:"),
    ("size", "Each measures {}.", r"measures"),
    ("texture", "On palpation they feel {}.", r"on palpation"),
    ("border_characteristics", "The border is {}.", r"border is"),
    ("surface_characteristics", "The surface shows {}.", r"surface shows"),
    ("distribution_characteristics", "They are distributed {}.", r"distributed"),
    ("surrounding_characteristics", "Around them: {}.", r"^around them:"),
    ("other", "Also noted: {}.", r"^also noted:"),
)
_PROFILE_KEY = {"lesion_type": "lesion", "border_characteristics": "border", "surface_characteristics": "surface",
                "distribution_characteristics": "distribution", "surrounding_characteristics": "surrounding"}
_CUE_FIELDS = {"surface": "surface_characteristics", "color": "color", "lesion": "lesion_type",
               "border": "border_characteristics", "other": "other"}


def _pick(options: Sequence[str], seed: int) -> str:
    return options[seed % len(options)] if options else ""


# --------------------------------------------------------------------------------------------------
# Reading requests


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _messages(request: dict) -> list[dict]:
    return [m for m in request.get("messages") or [] if isinstance(m, dict)]


def _user_texts(request: dict) -> list[str]:
    return [_text(m.get("content")) for m in _messages(request) if m.get("role") == "user"]


def _images(request: dict) -> list[bytes]:
    out = []
    for message in _messages(request):
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            url = (part.get("image_url") or {}).get("url", "") if isinstance(part, dict) else ""
            if url.startswith("data:") and "," in url:
                try:
                    out.append(base64.b64decode(url.split(",", 1)[1]))
                except (binascii.Error, ValueError):
                    continue
    return out


def _json_after(text: str, marker: str) -> Any:
    """The JSON value that starts right after ``marker`` in ``text`` (None when absent or broken)."""
    at = text.find(marker)
    if at < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[at + len(marker):].lstrip())
    except json.JSONDecodeError:
        return None
    return value


def _normalize(name: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", name.casefold()).split())


# --------------------------------------------------------------------------------------------------
# The stand-in model


class DemoLLM:
    """One stand-in model per server: the handlers, and how often each identical drafter request was seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()

    # -- drafter ----------------------------------------------------------------------------------

    def _draw(self, request: dict) -> int:
        """0 for the first time this exact request arrives, 1 for the second...: a new sample each time."""
        key = hashlib.sha256(json.dumps(request.get("messages"), sort_keys=True, default=str).encode()).hexdigest()
        with self._lock:
            self._seen[key] += 1
            return self._seen[key] - 1

    def describe(self, findings: Findings, draw: int = 0) -> dict[str, str]:
        """Field -> phrase for a photo's findings (the drafter's view, before it is written as prose)."""
        profile = PROFILES[findings.archetype]
        seed = findings.digest // 7 + draw * 31
        atypical = findings.digest % 100 < 35
        # Half of the atypical photos show their cue once the model looks again (from the third attempt).
        if atypical and draw >= 2 and (findings.digest // 100) % 2 == 0:
            atypical = False
        values = {}
        for i, name in enumerate(_FIELD_ORDER):
            key = _PROFILE_KEY.get(name, name)
            options = profile.get(key, [""])
            if atypical and key in profile["atypical"]:
                options = profile["atypical"][key]
            values[name] = _pick(options, seed // (i + 1) + i)
        return values

    def drafter(self, request: dict) -> str:
        images = _images(request)
        if not images:
            return "No photograph was attached, so there is nothing to describe."
        try:
            findings = image_findings(images[0])
        except ValueError:
            return "The attachment could not be read as a photograph."
        if findings.archetype == "none":
            return ("The photograph shows skin of even colour and texture without a visible abnormality; "
                    "no lesion can be described.")
        values = self.describe(findings, self._draw(request))
        return " ".join(template.format(values[name]) for name, template, _ in _SENTENCES if values[name])

    # -- structurer -------------------------------------------------------------------------------

    def structurer(self, request: dict) -> str:
        texts = _user_texts(request)
        prompt = next((t for t in texts if "Description:" in t), texts[0] if texts else "")
        fields = re.findall(r'^- "([a-z_]+)":', prompt, flags=re.MULTILINE) or list(_FIELD_ORDER)
        description = prompt.split("Description:", 1)[-1].split("Reply with the JSON object only.", 1)[0].strip()
        caption = dict.fromkeys(fields, "")
        vocabulary = self._vocabulary(prompt)
        for sentence in re.split(r"(?<=\.)\s+", description):
            for name, template, cue in _SENTENCES:
                if name in caption and re.search(cue, sentence, flags=re.IGNORECASE):
                    lead, _, tail = template.partition("{}")
                    value = sentence.strip()
                    if value.lower().startswith(lead.lower()):
                        value = value[len(lead):]
                    if tail and value.endswith(tail):
                        value = value[: -len(tail)]
                    caption[name] = value.strip().rstrip(".")
                    break
        if "lesion_type" in caption:
            found = self._lesion_words(caption["lesion_type"] or description, vocabulary)
            repairing = len(texts) > 1 and "not a valid caption" in texts[-1]
            # Now and then the first reply writes a descriptor into lesion_type, as real models do; the
            # schema refuses it and the repair round (the next request) gets it right.
            if found and not repairing and _digest(description) % 10 == 0:
                caption["lesion_type"] = f"erythematous {found[0]}s"
            else:
                caption["lesion_type"] = ", ".join(found)
        return json.dumps(caption, ensure_ascii=False, indent=1)

    @staticmethod
    def _vocabulary(prompt: str) -> list[str]:
        """The lesion-type vocabulary the prompt lists: 'primary (macule, ...)' and 'secondary (scale, ...)'."""
        words: list[str] = []
        for group in re.findall(r"(?:primary|secondary)\s*\(([^)]*)\)", prompt):
            words += [w.strip() for w in group.split(",") if w.strip()]
        return words or ["macule", "patch", "papule", "plaque", "nodule", "vesicle", "bulla", "pustule", "wheal",
                         "comedo", "telangiectasia", "purpura", "scale", "crust", "erosion", "ulcer", "scar"]

    @staticmethod
    def _lesion_words(text: str, vocabulary: Sequence[str]) -> list[str]:
        low = text.lower()
        hits = []
        for word in vocabulary:
            match = re.search(rf"\b{re.escape(word)}(?:e?s|ae|ias|es)?\b", low)
            if match:
                hits.append((match.start(), word))
        return [word for _, word in sorted(hits)]

    # -- diagnoser --------------------------------------------------------------------------------

    def diagnoser(self, request: dict) -> str:
        texts = _user_texts(request)
        prompt = texts[-1] if texts else ""
        k_match = re.search(r'"top(\d+)_diseases"', prompt) or re.search(r"Top-(\d+)", prompt)
        k = int(k_match.group(1)) if k_match else 3
        caption = _json_after(prompt, "[Description]")
        if isinstance(caption, dict):
            evidence = " ".join(f"{v}" for v in caption.values() if isinstance(v, str))
            fields = {name: str(value) for name, value in caption.items()}
        else:
            images = _images(request)
            try:
                findings = image_findings(images[0]) if images else None
            except ValueError:
                findings = None
            fields = self.describe(findings) if findings and findings.archetype != "none" else {}
            evidence = " ".join(fields.values())
        differential = self._differential(evidence)
        # Probabilities fall off with rank; the words that matched are the supporting fields.
        probabilities = [0.62, 0.18, 0.09, 0.05, 0.03, 0.02]
        items = []
        for rank, disease in enumerate(differential[:k]):
            support = [name for name, value in fields.items() if value][:2 if rank else 3] or ["other"]
            items.append({"disease": disease, "probability": probabilities[min(rank, 5)],
                          "key_matching_fields": support,
                          "brief_reason": (f"The {', '.join(support).replace('_', ' ')} fit {disease} best."
                                           if rank == 0 else f"{disease.capitalize()} is a look-alike to rule out.")})
        think = (f"The description mentions: {evidence[:160] or 'little'}. The leading consideration is "
                 f"{differential[0]}; {', '.join(differential[1:k]) or 'nothing else'} follow.")
        return f"<think>{think}</think>\n<answer>{json.dumps({f'top{k}_diseases': items}, indent=1)}</answer>"

    @staticmethod
    def _differential(evidence: str) -> list[str]:
        low = evidence.lower()
        for keywords, ranked in DIFFERENTIALS:
            if all(word in low for word in keywords):
                return list(ranked)
        return list(_FALLBACK_DIFFERENTIAL)

    # -- judge ------------------------------------------------------------------------------------

    def judge(self, request: dict) -> str:
        texts = _user_texts(request)
        prompt = next((t for t in texts if "Predictions (JSON array):" in t), "")
        names = _json_after(prompt, "Predictions (JSON array):") or []
        ref_match = re.search(r'Reference diagnosis: "([^"]*)"', prompt)
        reference = _normalize(ref_match.group(1)) if ref_match else ""
        verdicts = []
        for name in names if isinstance(names, list) else []:
            if not isinstance(name, str):
                continue
            verdicts.append({"name": name, **self._grade(reference, _normalize(name))})
        return json.dumps({"verdicts": verdicts})

    @staticmethod
    def _grade(reference: str, name: str) -> dict[str, str]:
        letters = re.sub(r"[^a-z]", "", name)
        if len(letters) < 3 or not re.search(r"[aeiouy]", letters):
            return {"category": "invalid", "rationale": "not a diagnosis name"}
        if difflib.SequenceMatcher(None, reference, name).ratio() >= 0.85:
            return {"category": "exact", "rationale": "a spelling variant of the reference"}
        if reference and reference in name:
            return {"category": "subclass", "rationale": "a more specific form of the reference"}
        if name and name in reference:
            return {"category": "parent_coarse", "rationale": "a coarser name for the reference"}
        return {"category": "unrelated", "rationale": "no clear clinical relation to the reference"}

    # -- scorer -----------------------------------------------------------------------------------

    def scorer(self, request: dict) -> str:
        texts = _user_texts(request)
        prompt = next((t for t in texts if "Grade these fields (JSON array):" in t), "")
        reference = _json_after(prompt, "Reference description:") or {}
        generated = _json_after(prompt, "Generated description:") or {}
        asked = _json_after(prompt, "Grade these fields (JSON array):") or []
        scores = {}
        for name in asked if isinstance(asked, list) else []:
            ref = set(_normalize(str(reference.get(name, ""))).split())
            gen = set(_normalize(str(generated.get(name, ""))).split())
            overlap = len(ref & gen) / len(ref | gen) if ref | gen else 1.0
            scores[name] = round(10 * overlap ** 0.5)  # a shared key word already earns a middling grade
        return json.dumps({"scores": scores})

    # -- anything else ----------------------------------------------------------------------------

    def fallback(self, request: dict) -> str:
        texts = _user_texts(request)
        return (f"(demo stand-in LLM) I only answer SkinFlow Studio's own prompts; got: "
                f"{(texts[-1] if texts else '')[:200]}")


HANDLERS: dict[str, Callable[[DemoLLM, dict], str]] = {
    "drafter": DemoLLM.drafter,
    "structurer": DemoLLM.structurer,
    "diagnoser": DemoLLM.diagnoser,
    "judge": DemoLLM.judge,
    "scorer": DemoLLM.scorer,
    "fallback": DemoLLM.fallback,
}
