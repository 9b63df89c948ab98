"""Appendix-B prompt and parser."""

import json

import pytest

from annotations.schema import FIELDS
from evaluation.diagnosis import diagnosis_prompt, parse_diagnosis


def answer(diseases, key="top6_diseases", think="Annular scaly plaque {with} central clearing."):
    items = [{"disease": d, "probability": 0.5, "key_matching_fields": ["shape"], "brief_reason": "fits"}
             for d in diseases]
    return f"<think>{think}</think><answer>{json.dumps({key: items})}</answer>"


def test_prompt_carries_k_in_text_and_answer_key():
    text = diagnosis_prompt(4)
    assert "Top-4" in text and '"top4_diseases"' in text
    assert "<think>" in text and "<answer>" in text and "photos" in text


def test_caption_variant_embeds_the_caption_and_drops_the_photo():
    caption = {f: "" for f in FIELDS} | {"lesion_type": "papules", "color": "violaceous"}
    text = diagnosis_prompt(6, caption=caption)
    assert '"lesion_type": "papule"' in text and "violaceous" in text
    assert "no photo" in text


def test_prompt_rejects_bad_k():
    with pytest.raises(ValueError):
        diagnosis_prompt(0)


def test_parses_well_formed_answer_in_order():
    parsed = parse_diagnosis(answer(["Tinea corporis", "Nummular eczema", "Psoriasis"]), k=6)
    assert parsed.ok and parsed.error == ""
    assert parsed.diseases == ["Tinea corporis", "Nummular eczema", "Psoriasis"]
    assert parsed.items[0]["probability"] == 0.5


def test_tolerates_fences_and_trailing_text():
    body = json.dumps({"top6_diseases": [{"disease": " Psoriasis "}]})
    text = f"<think>x</think><answer>```json\n{body}\n```</answer>\nHope this helps!"
    parsed = parse_diagnosis(text)
    assert parsed.ok and parsed.diseases == ["Psoriasis"]


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("<think>hmm</think><answer>Psoriasis, eczema</answer>", "no JSON"),
    ("<answer>[{\"disease\": \"Psoriasis\"}]</answer>", "JSON object"),
    ("<answer>{\"diseases\": [{\"disease\": \"Psoriasis\"}]}</answer>", "topK_diseases"),
    ("<answer>{\"top6_diseases\": \"Psoriasis\"}</answer>", "must be a list"),
    ("<answer>{\"top6_diseases\": []}</answer>", "empty list"),
    ("<answer>{\"top6_diseases\": [\"Psoriasis\"]}</answer>", "entry 1"),
    ("<answer>{\"top6_diseases\": [{\"disease\": \"A\"}, {\"disease\": \"  \"}]}</answer>", "entry 2"),
    ("<answer>{\"top6_diseases\": [{\"disease\": 7}]}</answer>", "entry 1"),
])
def test_malformed_answers_say_why(text, fragment):
    parsed = parse_diagnosis(text)
    assert not parsed.ok and parsed.diseases == []
    assert fragment in parsed.error


def test_list_longer_than_k_is_refused():
    parsed = parse_diagnosis(answer([f"d{i}" for i in range(7)]), k=6)
    assert not parsed.ok and "more than K=6" in parsed.error
    assert parse_diagnosis(answer([f"d{i}" for i in range(7)])).ok


@pytest.mark.parametrize("key", ["top3_diseases", "top10_diseases", "top_diseases"])
def test_the_answer_key_must_match_the_runs_k(key):
    # A top-3 list answered to a top-6 prompt answers a different question: malformed, scored 0.
    parsed = parse_diagnosis(answer(["Psoriasis", "Eczema"], key=key), k=6)
    assert not parsed.ok and "top6_diseases" in parsed.error


def test_the_matching_key_is_accepted_for_any_k():
    assert parse_diagnosis(answer(["Psoriasis"], key="top3_diseases"), k=3).diseases == ["Psoriasis"]
    # Without a K (a tool reading a stored answer) any topN key is read.
    assert parse_diagnosis(answer(["Psoriasis"], key="top3_diseases")).ok
