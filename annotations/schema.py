"""The 12-field structured caption of appendix A (pure Python, no Django).

A caption describes what is visible on the skin, one field per attribute, in a fixed order. Every
value is a string; the empty string means "none / not described". ``lesion_type`` is the one field
with a closed vocabulary: the primary and secondary lesion types of dermatology, so that the Stage I
reward can compare it by vocabulary rather than by wording.

Vocabulary decisions (documented because the issue left them open):

* Plurals, case, hyphens and common spelling variants are normalized ("Papules" -> papule,
  "bullae" -> bulla, "tumour" -> tumor, "hives"/"weal" -> wheal, "scaling" -> scale).
* "blister" is rejected rather than guessed: whether it is a vesicle or a bulla depends on its size
  (< 1 cm vs >= 1 cm), which the word does not carry, and a silent guess would teach the Stage I
  model a wrong label half of the time. The error message says which two words to choose from.
* Colour words and descriptive adjectives ("erythematous papules") are not lesion types; they
  belong in ``color`` / ``surface_characteristics``. A lesion_type with them is rejected with a
  message naming the unknown word, which is what the drafting loop feeds back to the drafter.
* A lesion_type may list several types ("papule, plaque"; "papules with scale"); the stored value
  is the canonical names joined by ", " in the order given, repeats dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

__all__ = [
    "FIELDS",
    "FIELD_GUIDELINES",
    "LESION_TYPES",
    "LESION_TYPE_GROUPS",
    "LESION_TYPE_SYNONYMS",
    "Caption",
    "CaptionError",
    "normalize_lesion_types",
    "split_lesion_types",
    "parse_caption",
    "serialize_caption",
    "empty_caption",
]

FIELDS: tuple[str, ...] = (
    "color",
    "location",
    "shape",
    "lesion_type",
    "number",
    "size",
    "texture",
    "border_characteristics",
    "surface_characteristics",
    "distribution_characteristics",
    "surrounding_characteristics",
    "other",
)

FIELD_GUIDELINES: dict[str, str] = {
    "color": "Detailed colour information of the abnormal skin (e.g. erythematous, violaceous, "
    "hyperpigmented brown, uniform or variegated); empty if none.",
    "location": "All body sites showing a skin abnormality (e.g. extensor elbows, scalp, flexures); "
    "empty if none.",
    "shape": "Shape of the lesions (e.g. round, oval, annular, linear, polygonal, irregular); "
    "empty if none.",
    "lesion_type": "Type of skin lesion, chosen only from the lesion-type vocabulary: primary "
    "(macule, patch, papule, plaque, nodule, tumor, vesicle, bulla, pustule, wheal, cyst, comedo, "
    "burrow, telangiectasia, petechia, purpura) and secondary (scale, crust, erosion, ulcer, fissure, "
    "excoriation, lichenification, atrophy, scar, eschar, sclerosis); several types separated by "
    "commas; empty if none.",
    "number": "Count of abnormalities (e.g. single, few, multiple, numerous); empty if none.",
    "size": "Size of the abnormal skin (e.g. 2-5 mm, about 3 cm, palm-sized); empty if none.",
    "texture": "Texture of the abnormal skin, e.g. hardness, firm, soft, rough, indurated; "
    "empty if none.",
    "border_characteristics": "Clarity and form of the border (well-defined, ill-defined, raised, "
    "irregular); empty if none.",
    "surface_characteristics": "All surface features, including central features (smooth, scaly, "
    "crusted, umbilicated, central clearing); empty if none.",
    "distribution_characteristics": "Distribution of the lesions (e.g. scattered, isolated, grouped, "
    "dense, confluent, symmetric, dermatomal, follicular); empty if none.",
    "surrounding_characteristics": "All features around the abnormal skin (e.g. erythematous halo, "
    "satellite lesions, normal surrounding skin); empty if none.",
    "other": "Any other appearance descriptor that fits none of the fields above; only when "
    "absolutely necessary, otherwise empty.",
}

#: Canonical lesion types: primary lesions first, then secondary ones.
LESION_TYPES: tuple[str, ...] = (
    "macule", "patch", "papule", "plaque", "nodule", "tumor", "vesicle", "bulla", "pustule",
    "wheal", "cyst", "comedo", "burrow", "telangiectasia", "petechia", "purpura",
    "scale", "crust", "erosion", "ulcer", "fissure", "excoriation", "lichenification", "atrophy",
    "scar", "eschar", "sclerosis",
)

#: The vocabulary in its two groups, as the review page shows it (chips under two headings).
LESION_TYPE_GROUPS: dict[str, tuple[str, ...]] = {
    "primary": LESION_TYPES[:16],
    "secondary": LESION_TYPES[16:],
}
assert sum(LESION_TYPE_GROUPS.values(), ()) == LESION_TYPES

#: Variant spellings, plurals and lay words -> canonical type. Canonical names map to themselves
#: implicitly; regular "-s" plurals are handled by :func:`_canonical_type`.
LESION_TYPE_SYNONYMS: dict[str, str] = {
    "patches": "patch",
    "tumour": "tumor", "tumours": "tumor",
    "bullae": "bulla", "bullas": "bulla",
    "hive": "wheal", "hives": "wheal", "weal": "wheal", "weals": "wheal", "urticarial wheal": "wheal",
    "comedone": "comedo", "comedones": "comedo", "comedos": "comedo",
    "burrows": "burrow",
    "telangiectasias": "telangiectasia", "telangiectases": "telangiectasia",
    "telangiectasis": "telangiectasia",
    "petechiae": "petechia", "petechial": "petechia",
    "purpuric": "purpura",
    "scales": "scale", "scaling": "scale", "squame": "scale", "squames": "scale",
    "desquamation": "scale",
    "crusts": "crust", "crusting": "crust",
    "erosions": "erosion",
    "ulcers": "ulcer", "ulceration": "ulcer", "ulcerations": "ulcer",
    "fissures": "fissure", "fissuring": "fissure",
    "excoriations": "excoriation",
    "lichenified": "lichenification",
    "atrophic": "atrophy",
    "scars": "scar", "scarring": "scar",
    "eschars": "eschar",
    "sclerotic": "sclerosis",
}

_AMBIGUOUS_TYPES: dict[str, str] = {
    "blister": "'blister' is ambiguous: use 'vesicle' (< 1 cm) or 'bulla' (>= 1 cm)",
    "blisters": "'blisters' is ambiguous: use 'vesicle' (< 1 cm) or 'bulla' (>= 1 cm)",
}

# Separators between several lesion types in one value: punctuation and the joining words.
_TYPE_SPLIT_RE = re.compile(r"\s*(?:[,;/&+]|\band/or\b|\band\b|\bor\b|\bwith\b)\s*", re.IGNORECASE)
_LESION_TYPE_SET = frozenset(LESION_TYPES)


class CaptionError(ValueError):
    """A caption that does not follow the schema; the message says exactly what is wrong. ``field`` names
    the caption field at fault when there is one, so a form can show the message next to it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Caption:
    """A validated caption: 12 string fields in schema order; "" means none."""

    color: str = ""
    location: str = ""
    shape: str = ""
    lesion_type: str = ""
    number: str = ""
    size: str = ""
    texture: str = ""
    border_characteristics: str = ""
    surface_characteristics: str = ""
    distribution_characteristics: str = ""
    surrounding_characteristics: str = ""
    other: str = ""

    def to_dict(self) -> dict[str, str]:
        """The fields in schema order (dicts keep insertion order)."""
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def lesion_types(self) -> tuple[str, ...]:
        """The canonical lesion types named in ``lesion_type``."""
        return tuple(self.lesion_type.split(", ")) if self.lesion_type else ()

    def filled_fields(self) -> tuple[str, ...]:
        return tuple(name for name in FIELDS if getattr(self, name))


# The dataclass and FIELDS must never drift apart.
assert tuple(f.name for f in fields(Caption)) == FIELDS


def empty_caption() -> Caption:
    return Caption()


def _canonical_type(word: str) -> str | None:
    word = " ".join(word.lower().replace("-", " ").split())
    if word in _LESION_TYPE_SET:
        return word
    if word in LESION_TYPE_SYNONYMS:
        return LESION_TYPE_SYNONYMS[word]
    if word.endswith("s") and word[:-1] in _LESION_TYPE_SET:
        return word[:-1]
    return None


def normalize_lesion_types(value: str) -> str:
    """Canonical form of a ``lesion_type`` value; raises CaptionError on a word outside the vocabulary."""
    if not isinstance(value, str):
        raise CaptionError(f"lesion_type must be a string, got {type(value).__name__}", field="lesion_type")
    canonical: list[str] = []
    for part in _TYPE_SPLIT_RE.split(value.strip()):
        part = part.strip(" .")
        if not part:
            continue
        if part.lower() in _AMBIGUOUS_TYPES:
            raise CaptionError(f"lesion_type: {_AMBIGUOUS_TYPES[part.lower()]}", field="lesion_type")
        name = _canonical_type(part)
        if name is None:
            raise CaptionError(
                f"lesion_type: unknown lesion type {part!r}; choose from {', '.join(LESION_TYPES)} "
                "(colours and other descriptors belong in their own fields)", field="lesion_type"
            )
        if name not in canonical:
            canonical.append(name)
    return ", ".join(canonical)


def split_lesion_types(value: str) -> tuple[list[str], list[str]]:
    """A stored ``lesion_type`` value as (vocabulary terms, unknown parts), in the order written; never raises.

    For showing a value that may predate the vocabulary (an import, an old caption): the unknown parts are
    shown and kept as written, so nothing is dropped silently; saving them is still refused by
    :func:`normalize_lesion_types` with a message naming them."""
    known: list[str] = []
    unknown: list[str] = []
    for part in _TYPE_SPLIT_RE.split((value or "").strip()) if isinstance(value, str) else [str(value)]:
        part = part.strip(" .")
        if not part:
            continue
        name = None if part.lower() in _AMBIGUOUS_TYPES else _canonical_type(part)
        target, item = (known, name) if name else (unknown, part)
        if item not in target:
            target.append(item)
    return known, unknown


def _strip_fences(text: str) -> str:
    text = text.strip()
    match = re.fullmatch(r"```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```", text, re.DOTALL)
    return match.group(1).strip() if match else text


def _load(text_or_dict: str | Mapping[str, Any] | Caption) -> Mapping[str, Any]:
    if isinstance(text_or_dict, Mapping):
        return text_or_dict
    if not isinstance(text_or_dict, str):
        raise CaptionError(f"a caption is a JSON object or a dict, got {type(text_or_dict).__name__}")
    body = _strip_fences(text_or_dict)
    if not body:
        raise CaptionError("the caption is empty; expected a JSON object with the 12 fields")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise CaptionError(f"the caption is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise CaptionError(f"the caption must be a JSON object, got a JSON {type(data).__name__}")
    return data


def parse_caption(text_or_dict: str | Mapping[str, Any] | Caption) -> Caption:
    """Validate a caption given as JSON text (optionally in a ``` fence) or as a dict.

    Raises :class:`CaptionError` for invalid JSON, unknown keys, missing keys, non-string values or
    a lesion type outside the vocabulary. Values are stripped; ``lesion_type`` is normalized.
    """
    if isinstance(text_or_dict, Caption):
        return text_or_dict
    data = _load(text_or_dict)
    unknown = [key for key in data if key not in FIELD_GUIDELINES]
    if unknown:
        raise CaptionError(
            f"unknown caption key(s): {', '.join(map(repr, unknown))}; the schema has exactly: {', '.join(FIELDS)}"
        )
    missing = [key for key in FIELDS if key not in data]
    if missing:
        raise CaptionError(f"missing caption key(s): {', '.join(missing)} (use \"\" for none)")
    values: dict[str, str] = {}
    for key in FIELDS:
        value = data[key]
        if not isinstance(value, str):
            raise CaptionError(
                f"caption field {key!r} must be a string (\"\" for none), got {type(value).__name__}: {value!r}",
                field=key,
            )
        values[key] = value.strip()
    values["lesion_type"] = normalize_lesion_types(values["lesion_type"])
    return Caption(**values)


def serialize_caption(caption: Caption | Mapping[str, Any] | str) -> str:
    """JSON text of a caption with its keys in schema order (validates first)."""
    return json.dumps(parse_caption(caption).to_dict(), ensure_ascii=False)
