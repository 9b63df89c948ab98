"""The caption schema: field order, validation messages, lesion-type vocabulary."""

import json

import pytest

from annotations.schema import (
    FIELD_GUIDELINES,
    FIELDS,
    LESION_TYPES,
    Caption,
    CaptionError,
    normalize_lesion_types,
    parse_caption,
    serialize_caption,
)

APPENDIX_A_ORDER = [
    "color", "location", "shape", "lesion_type", "number", "size", "texture", "border_characteristics",
    "surface_characteristics", "distribution_characteristics", "surrounding_characteristics", "other",
]


def psoriasis_caption(**overrides):
    caption = {
        "color": "salmon-pink with silvery-white scale",
        "location": "extensor elbows and knees",
        "shape": "round to oval",
        "lesion_type": "plaque, scale",
        "number": "multiple",
        "size": "2-6 cm",
        "texture": "",
        "border_characteristics": "well-defined",
        "surface_characteristics": "thick silvery scale",
        "distribution_characteristics": "symmetric",
        "surrounding_characteristics": "",
        "other": "",
    }
    caption.update(overrides)
    return caption


def test_fields_follow_appendix_a_order_and_each_has_a_guideline():
    assert list(FIELDS) == APPENDIX_A_ORDER
    assert set(FIELD_GUIDELINES) == set(FIELDS)
    assert all("empty" in FIELD_GUIDELINES[f] for f in FIELDS)


def test_parse_and_serialize_round_trip_in_schema_order():
    shuffled = dict(reversed(list(psoriasis_caption().items())))
    caption = parse_caption(json.dumps(shuffled))
    text = serialize_caption(caption)
    assert list(json.loads(text)) == APPENDIX_A_ORDER
    assert parse_caption(text) == caption
    assert caption.lesion_types == ("plaque", "scale")


def test_parse_accepts_json_fence_and_strips_values():
    text = "```json\n" + json.dumps(psoriasis_caption(location="  scalp  ")) + "\n```"
    assert parse_caption(text).location == "scalp"


def test_empty_string_means_none():
    caption = parse_caption({f: "" for f in FIELDS})
    assert caption == Caption()
    assert caption.filled_fields() == ()


def test_unknown_key_is_rejected_by_name():
    with pytest.raises(CaptionError, match="unknown caption key.*'diagnosis'"):
        parse_caption(psoriasis_caption(diagnosis="psoriasis"))


def test_missing_key_is_named():
    data = psoriasis_caption()
    del data["texture"]
    with pytest.raises(CaptionError, match="missing caption key.*texture"):
        parse_caption(data)


@pytest.mark.parametrize("bad", [None, 3, ["red"], {"hue": "red"}])
def test_non_string_value_is_rejected(bad):
    with pytest.raises(CaptionError, match="'color' must be a string"):
        parse_caption(psoriasis_caption(color=bad))


@pytest.mark.parametrize("text,msg", [
    ("", "empty"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
])
def test_bad_json_gives_clear_errors(text, msg):
    with pytest.raises(CaptionError, match=msg):
        parse_caption(text)


@pytest.mark.parametrize("raw,expected", [
    ("Papules", "papule"),
    ("papules and plaques", "papule, plaque"),
    ("hives", "wheal"),
    ("weal", "wheal"),
    ("bullae; erosions with crusting", "bulla, erosion, crust"),
    ("Comedones / pustules", "comedo, pustule"),
    ("macule, macules", "macule"),
    ("scaling plaque", None),  # a two-word phrase that is not a type: rejected below
])
def test_lesion_type_synonyms_normalize(raw, expected):
    if expected is None:
        with pytest.raises(CaptionError):
            normalize_lesion_types(raw)
    else:
        assert normalize_lesion_types(raw) == expected


def test_blister_is_rejected_with_the_choice_to_make():
    with pytest.raises(CaptionError, match="vesicle.*bulla"):
        parse_caption(psoriasis_caption(lesion_type="blisters"))


def test_descriptors_in_lesion_type_are_rejected_naming_the_word():
    with pytest.raises(CaptionError, match="erythematous papules"):
        parse_caption(psoriasis_caption(lesion_type="erythematous papules"))


def test_every_canonical_type_is_accepted():
    assert normalize_lesion_types(", ".join(LESION_TYPES)) == ", ".join(LESION_TYPES)
