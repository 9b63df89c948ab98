"""The deterministic field scorer (issue 15, item 3): hand-made cases and the CaptionReward contract."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from annotations.schema import FIELDS
from training.field_scorer import (SIZE_ZERO_RATIO, FieldCaptionReward, field_scores, parse_number, parse_size_mm,
                                   score_caption)
from training.rewards import CaptionScore

REFERENCE = {
    "color": "salmon-red", "location": "", "shape": "oval", "lesion_type": "plaque, scale", "number": "single",
    "size": "24 mm", "texture": "rough", "border_characteristics": "well-defined",
    "surface_characteristics": "thick silvery scale", "distribution_characteristics": "isolated",
    "surrounding_characteristics": "normal", "other": "",
}


def with_(**changes):
    caption = dict(REFERENCE)
    caption.update(changes)
    return caption


def score(pred, weights=None) -> CaptionScore:
    return FieldCaptionReward(weights).score(pred if isinstance(pred, str) else json.dumps(pred), REFERENCE)


def test_perfect_caption_scores_one_in_every_wrapping():
    for completion in (json.dumps(REFERENCE), REFERENCE, "```json\n" + json.dumps(REFERENCE) + "\n```",
                       "<think>oval plaque</think><answer>" + json.dumps(REFERENCE) + "</answer>",
                       [{"role": "assistant", "content": json.dumps(REFERENCE)}]):
        result = FieldCaptionReward().score(completion, REFERENCE)
        assert result.score == 1.0 and result.caption_reward == 10.0 and result.format_ok, completion
        assert result.field_scores == {name: 10.0 for name in FIELDS}
    from annotations.schema import parse_caption

    assert FieldCaptionReward().score(parse_caption(REFERENCE), REFERENCE).score == 1.0


def test_malformed_caption_dicts_score_zero():
    for bad in (with_(size=24), with_(size=object()), {"color": "red"}, {}):
        result = FieldCaptionReward().score(bad, REFERENCE)
        assert result.score == 0.0 and not result.format_ok, bad


@pytest.mark.parametrize("completion", [
    "", "not json at all", "[1, 2]", json.dumps({k: v for k, v in REFERENCE.items() if k != "size"}),
    json.dumps(with_(number=1)), json.dumps(with_(extra="x")), '{"color": "red"',
])
def test_malformed_completion_scores_zero(completion):
    result = FieldCaptionReward().score(completion, REFERENCE)
    assert result.score == 0.0 and result.caption_reward == 0.0 and not result.format_ok
    assert result.error and set(result.field_scores.values()) == {0.0}


def test_one_categorical_field_wrong_costs_its_weight():
    result = score(with_(border_characteristics="ill-defined"))
    assert result.field_scores["border_characteristics"] == 0.0
    assert result.score == pytest.approx(11 / 12)  # uniform weights: one field of 12
    from annotations.synthetic import SYNTHETIC_FIELD_WEIGHTS

    weighted = score(with_(border_characteristics="ill-defined"), SYNTHETIC_FIELD_WEIGHTS)
    assert weighted.score == pytest.approx(9 / 10)  # location and other carry no weight on the synthetic set
    assert score(with_(color="red")).field_scores["color"] == 0.0  # exact vocabulary, no partial hue credit


def test_categorical_match_ignores_case_order_hyphens_and_full_stops():
    result = score(with_(border_characteristics="Well Defined.", surface_characteristics="THICK  silvery-scale"))
    assert result.score == 1.0
    ref = with_(border_characteristics="regular, well-defined")
    assert field_scores(with_(border_characteristics="well-defined, regular"), ref)["border_characteristics"] == 1.0
    assert field_scores(with_(border_characteristics="well-defined"), ref)["border_characteristics"] == 0.0


def test_lesion_type_is_scored_as_a_set_by_jaccard():
    def lt(value):
        return score(with_(lesion_type=value)).field_scores["lesion_type"] / 10

    assert lt("plaque, scale") == 1.0
    assert lt("scales with plaque") == 1.0          # normalized by the schema, order-free
    assert lt("plaque") == pytest.approx(1 / 2)
    assert lt("plaque, scale, crust") == pytest.approx(2 / 3)
    assert lt("patch, scale, crust") == pytest.approx(1 / 4)
    assert lt("wheal") == 0.0
    assert lt("") == 0.0
    assert score(with_(lesion_type="plaque")).score == pytest.approx((11 + 0.5) / 12)


def test_unknown_lesion_type_costs_only_that_field():
    result = score(with_(lesion_type="erythematous plaque"))
    assert result.format_ok and result.field_scores["lesion_type"] == 0.0
    assert result.score == pytest.approx(11 / 12) and "lesion_type" in result.error


def test_size_is_graded_on_a_log_scale():
    def sz(value, ref="24 mm"):
        return field_scores(with_(size=value), with_(size=ref))["size"]

    assert sz("24 mm") == 1.0 and sz("2.4 cm") == 1.0 and sz("about 24 mm") == 1.0
    assert sz("12 mm") == pytest.approx(0.5)         # a factor 2 apart
    assert sz("48 mm") == pytest.approx(0.5)
    assert sz("6 mm") == 0.0 and sz("10 cm") == 0.0  # a factor 4 or more
    assert sz("25 mm") == pytest.approx(1 - math.log(25 / 24) / math.log(SIZE_ZERO_RATIO))
    assert sz("12-14 mm", ref="13 mm") == 1.0        # overlapping ranges
    assert sz("2-4 mm", ref="2-3 mm") == 1.0
    assert sz("8 mm", ref="2-4 mm") == pytest.approx(0.5)
    assert sz("palm-sized") == 0.0                   # unparseable: exact match only
    assert sz("palm-sized", ref="palm-sized") == 1.0
    assert parse_size_mm("3 to 5 mm") == (3.0, 5.0) and parse_size_mm("1.5 cm") == (15.0, 15.0)
    assert parse_size_mm("large") is None


def test_number_is_graded_on_the_ordinal_scale():
    def nb(value, ref="single"):
        return field_scores(with_(number=value), with_(number=ref))["number"]

    assert nb("single") == 1.0 and nb("Solitary") == 1.0 and nb("1") == 1.0
    assert nb("few") == pytest.approx(2 / 3)
    assert nb("multiple") == pytest.approx(1 / 3)
    assert nb("numerous") == 0.0
    assert nb("3", ref="few") == 1.0 and nb("12", ref="numerous") == 1.0
    assert nb("a handful") == 0.0
    assert [parse_number(v) for v in ("single", "few", "multiple", "numerous", "7", "lots")] == [0, 1, 2, 3, 2, None]


def test_empty_fields():
    assert score(with_(other="none")).score == 1.0            # written-out none == empty
    result = score(with_(other="slightly shiny"))            # reference empty, generated not
    assert result.field_scores["other"] == 0.0
    result = score(with_(texture=""))                        # reference filled, generated empty
    assert result.field_scores["texture"] == 0.0 and result.score == pytest.approx(11 / 12)


def test_over_long_field_scores_zero_alone():
    result = score(with_(texture="rough " * 80))
    assert result.format_ok and result.field_scores["texture"] == 0.0
    assert result.score == pytest.approx(11 / 12) and "character" in result.error


def test_same_contract_as_the_llm_caption_reward():
    reward = FieldCaptionReward()
    assert reward.gateway is None
    result = reward.score(json.dumps(with_(shape="round")), json.dumps(REFERENCE))  # reference as JSON text too
    assert isinstance(result, CaptionScore)
    assert set(result.as_dict()) == {"score", "caption_reward", "format_ok", "scorer_ok",
                                     *(f"field_{name}" for name in FIELDS)}
    assert result.scorer_ok and 0.0 <= result.score <= 1.0
    assert result.caption_reward == pytest.approx(10 * result.score)
    batch = asyncio.run(reward.ascore_batch([json.dumps(REFERENCE), "x"], [REFERENCE, REFERENCE]))
    assert [s.score for s in batch] == [1.0, 0.0]
    assert asyncio.run(reward.ascore(json.dumps(REFERENCE), REFERENCE)).score == 1.0
    with pytest.raises(ValueError, match="completions"):
        reward.score_batch(["x"], [])
    with pytest.raises(ValueError):
        reward.score(json.dumps(REFERENCE), {"color": "red"})  # a broken reference is a data error
    custom = FieldCaptionReward({"color": 1, "size": 1})
    assert custom.score(json.dumps(with_(color="red")), REFERENCE).score == pytest.approx(0.5)
    assert score_caption(json.dumps(REFERENCE), REFERENCE) == 1.0


def test_deterministic():
    pred = json.dumps(with_(size="15 mm", number="few", lesion_type="plaque"))
    assert len({FieldCaptionReward().score(pred, REFERENCE).score for _ in range(5)}) == 1


def test_a_blind_answer_is_punished_on_the_synthetic_set():
    """The best constant caption (each field's most common value) scores well below the true captions."""
    from collections import Counter

    from annotations.synthetic import SYNTHETIC_FIELD_WEIGHTS, generate_split

    samples = generate_split("val", 3, seed=0)
    blind = {name: Counter(s.caption[name] for s in samples).most_common(1)[0][0] for name in FIELDS}
    reward = FieldCaptionReward(SYNTHETIC_FIELD_WEIGHTS)
    blind_mean = sum(reward.score(json.dumps(blind), s.caption).score for s in samples) / len(samples)
    assert all(reward.score(json.dumps(s.caption), s.caption).score == 1.0 for s in samples)
    assert blind_mean < 0.6, blind_mean


# ---- plugged in as Stage I's scorer ---------------------------------------------------------------------------

def test_the_stage_one_reward_uses_the_field_scorer_when_the_run_says_so(monkeypatch):
    from training import rewards

    for key in ("SKINFLOW_LLM_BASE_URL", "SKINFLOW_SCORER_BASE_URL", "SKINFLOW_CAPTION_SCORER"):
        monkeypatch.delenv(key, raising=False)  # no LLM anywhere: the field scorer needs none
    wrong = with_(color="violaceous")
    got = rewards.caption_reward_batch([json.dumps(REFERENCE), json.dumps(wrong), "not json"],
                                       [REFERENCE] * 3, caption_scorer="fields")
    assert got == [1.0, pytest.approx(11 / 12), 0.0]
    verl = rewards.compute_score(rewards.DATA_SOURCE_CAPTION, json.dumps(wrong), REFERENCE, caption_scorer="fields")
    assert verl["caption_reward"] == pytest.approx(110 / 12) and verl["format_ok"]
    with pytest.raises(ValueError, match="caption_scorer must be one of llm, fields"):
        rewards.caption_reward_batch([json.dumps(REFERENCE)], [REFERENCE], caption_scorer="bogus")


@pytest.mark.django_db
def test_a_run_records_its_caption_scorer_and_refuses_an_unknown_one():
    from annotations.models import Dataset
    from training import services

    dataset = Dataset.objects.create(name="Scorer", source="folder")
    assert services._reward_settings("I", 6, {"caption_scorer": "fields"}, dataset)["caption_scorer"] == "fields"
    assert services._reward_settings("I", 6, None, dataset)["caption_scorer"] == "llm"
    with pytest.raises(services.TrainingError, match="caption_scorer must be one of"):
        services._reward_settings("I", 6, {"caption_scorer": "gpt"}, dataset)
