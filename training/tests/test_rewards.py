"""Stage I / Stage II rewards: positional weights, malformed answers, repeats, caption weights and
format failures; LLM paths through the local OpenAI-compatible test server."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from annotations.schema import FIELDS, parse_caption
from evaluation.diagnosis import ParsedDiagnosis
from evaluation.judge import ClinicalJudge, Verdict
from evaluation.ontology import default_ontology
from training import rewards
from training.rewards import (
    MAX_FIELD_CHARS,
    CaptionReward,
    DiagnosisReward,
    caption_field_weights,
    compute_score,
    position_weights,
)
from webapp.llm import EndpointConfig, LLMGateway, MemoryCache
from webapp.llm_testserver import Reply, ScriptedLLMServer, last_user_text


def answer(*names: str, key: str = "top6_diseases") -> str:
    items = [{"disease": n, "probability": 0.3, "key_matching_fields": ["color"], "brief_reason": "r"} for n in names]
    return "<think>reasoning</think><answer>" + json.dumps({key: items}) + "</answer>"


def json_array_of_last_line(request: dict) -> list[str]:
    return json.loads(last_user_text(request).rsplit("\n", 1)[-1])


def judge_responder(correct_names=()):
    def respond(request):
        names = json_array_of_last_line(request)
        return json.dumps({"verdicts": [
            {"name": n, "category": "exact" if n in correct_names else "unrelated", "rationale": "r"} for n in names]})
    return respond


@pytest.fixture
def llm():
    started = []

    def start(responder, role: str = "judge", **kw):
        server = ScriptedLLMServer(responder, **kw).start()
        gateway = LLMGateway({role: EndpointConfig(role=role, base_url=server.base_url, model="m", max_retries=1)},
                             cache=MemoryCache(), backoff_base_s=0.0)
        started.append((server, gateway))
        return server, gateway

    yield start
    for server, gateway in started:
        gateway.close()
        server.stop()


@pytest.fixture(scope="module")
def offline_reward() -> DiagnosisReward:
    return DiagnosisReward(ClinicalJudge(default_ontology()))


def score(reward: DiagnosisReward, completion: str, reference: str):
    return asyncio.run(reward.ascore(completion, reference))


# -- positional weights -----------------------------------------------------------------------------

def test_default_weights_are_the_issue_defaults_and_extend_to_other_k():
    assert position_weights() == (1.0, 0.8, 0.6, 0.4, 0.2, 0.1)
    assert position_weights(k=3) == (1.0, 0.8, 0.6)
    assert position_weights(k=8)[-2:] == (0.1, 0.1)


@pytest.mark.parametrize("weights,message", [
    ([1.0, 0.9, 0.95], "non-increasing"),
    ([1.2, 0.5], r"\[0, 1\]"),
    ([0.5, -0.1], r"\[0, 1\]"),
    ([], "empty"),
])
def test_bad_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        position_weights(weights)


def test_weight_count_must_match_k():
    with pytest.raises(ValueError, match="for K=6"):
        position_weights([1.0, 0.5], k=6)


@pytest.mark.parametrize("names,expected,first", [
    (("psoriasis", "lichen planus"), 1.0, 1),
    (("lichen planus", "psoriasis"), 0.8, 2),
    # a subclass at 3 counts; "dermatitis"-like umbrella terms and siblings do not
    (("lichen planus", "seborrheic dermatitis", "pustular psoriasis"), 0.6, 3),
    (("lichen planus", "tinea corporis", "rash", "vitiligo", "acne vulgaris", "psoriasis"), 0.1, 6),
    (("lichen planus", "tinea corporis"), 0.0, 0),
])
def test_reward_is_the_weight_of_the_first_correct_position(offline_reward, names, expected, first):
    result = score(offline_reward, answer(*names), "psoriasis")
    assert result.score == pytest.approx(expected) and result.first_correct == first
    assert result.format_ok and result.judge_ok


def test_custom_weights_apply():
    reward = DiagnosisReward(ClinicalJudge(default_ontology()), [1.0, 0.5, 0.25], k=3)
    # K = 3: the answer key must say top3 (issue 11: the key matches the run's K).
    assert score(reward, answer("lichen planus", "psoriasis", key="top3_diseases"), "psoriasis").score == 0.5


# -- malformed answers ----------------------------------------------------------------------------

@pytest.mark.parametrize("completion", [
    "Psoriasis, most likely.",
    "<answer>{\"top6_diseases\": []}</answer>",
    "<answer>{\"top6_diseases\": [{\"name\": \"psoriasis\"}]}</answer>",
    answer("a", "b", "c", "d", "e", "f", "psoriasis"),  # 7 names for K = 6
])
def test_malformed_answer_scores_zero_with_format_flag_and_no_judge_call(llm, completion):
    server, gateway = llm(judge_responder())
    reward = DiagnosisReward(ClinicalJudge(default_ontology(), gateway))
    result = score(reward, completion, "psoriasis")
    assert (result.score, result.format_ok) == (0.0, False) and result.error
    assert result.as_dict()["format_ok"] == 0
    assert server.request_count == 0


# -- repeats ----------------------------------------------------------------------------------------

def test_a_repeat_keeps_its_slot(offline_reward):
    # The repeated sibling wastes slot 2: the correct answer stays at 3 (0.6), it does not move up to 2.
    result = score(offline_reward, answer("lichen planus", "Lichen planus", "psoriasis"), "psoriasis")
    assert (result.score, result.first_correct) == (0.6, 3)
    assert result.categories[1] == "repeat" and result.as_dict()["n_repeats"] == 1


def test_a_synonym_counts_as_a_repeat(offline_reward):
    result = score(offline_reward, answer("herpes simplex", "shingles", "herpes zoster"), "herpes zoster")
    assert (result.first_correct, result.categories[2]) == (2, "repeat")


def test_a_repeat_can_never_be_the_first_correct_one(offline_reward):
    # Even if a judge graded the two spellings differently, the repeat cannot earn the reward.
    parsed = ParsedDiagnosis(ok=True, diseases=["Zorblax disease", "zorblax disease", "psoriasis"])
    verdicts = {
        "Zorblax disease": Verdict("Zorblax disease", "unrelated", False, "", "llm"),
        "zorblax disease": Verdict("zorblax disease", "exact", True, "", "llm"),
        "psoriasis": Verdict("psoriasis", "exact", True, "", "ontology"),
    }
    result = offline_reward.score_parsed(parsed, verdicts)
    assert (result.first_correct, result.score) == (3, 0.6)


# -- LLM judge in the batch -------------------------------------------------------------------------

def test_batch_judges_each_distinct_unresolved_pair_once_with_one_call_per_reference(llm):
    server, gateway = llm(judge_responder(correct_names={"Zorblaxian psoriasiform dermatosis"}))
    reward = DiagnosisReward(ClinicalJudge(default_ontology(), gateway))
    completions = [
        answer("lichen planus", "Zorblaxian psoriasiform dermatosis"),
        answer("Zorblaxian psoriasiform dermatosis", "Quux papulosis"),
        answer("psoriasis"),
        answer("Quux papulosis", "melanoma"),
        "garbage",
    ]
    references = ["psoriasis", "psoriasis", "psoriasis", "melanoma", "melanoma"]
    scores = asyncio.run(reward.ascore_batch(completions, references))
    assert [s.score for s in scores] == [0.8, 1.0, 1.0, 0.8, 0.0]
    assert server.request_count == 2
    asked = sorted(tuple(json_array_of_last_line(r)) for r in server.requests)
    assert asked == [("Quux papulosis",), ("Zorblaxian psoriasiform dermatosis", "Quux papulosis")]


def test_judge_failure_counts_unresolved_names_as_wrong_and_flags_it(llm):
    server, gateway = llm(lambda request: Reply(status=503, text="down"))
    reward = DiagnosisReward(ClinicalJudge(default_ontology(), gateway))
    failed = score(reward, answer("Zorblaxian dermatosis", "psoriasis"), "psoriasis")
    assert (failed.score, failed.judge_ok) == (0.8, False)
    assert failed.as_dict()["judge_ok"] == 0


# -- caption weights --------------------------------------------------------------------------------

def test_caption_weights_uniform_without_analysis():
    weights = caption_field_weights(None)
    assert list(weights) == list(FIELDS) and all(w == pytest.approx(1 / 12) for w in weights.values())


def test_caption_weights_follow_frequencies_and_sum_to_one(tmp_path):
    weights = caption_field_weights({"lesion_type": 30, "color": 20, "location": 10})
    assert weights["lesion_type"] == pytest.approx(0.5) and weights["other"] == 0
    assert sum(weights.values()) == pytest.approx(1.0)
    path = tmp_path / "freq.json"
    path.write_text(json.dumps({"frequencies": {"lesion_type": 3, "color": 1}}))
    assert caption_field_weights(path)["lesion_type"] == pytest.approx(0.75)


@pytest.mark.parametrize("bad,message", [({"diagnosis": 1}, "unknown caption field"), ({"color": -1}, "non-negative")])
def test_bad_caption_weights_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        caption_field_weights(bad)


# -- caption reward ---------------------------------------------------------------------------------

REFERENCE = {f: "" for f in FIELDS} | {
    "color": "salmon pink", "location": "extensor elbows", "lesion_type": "plaque, scale", "size": "2-4 cm",
    "border_characteristics": "well-defined",
}


def scorer_responder(score_for):
    def respond(request):
        text = last_user_text(request)
        asked = json.loads(text.rsplit("\n", 1)[-1])
        return json.dumps({"scores": {f: score_for(f) for f in asked}})
    return respond


def test_identical_caption_scores_ten_without_an_llm_call(llm):
    server, gateway = llm(scorer_responder(lambda f: 0), role="scorer")
    result = asyncio.run(CaptionReward(gateway).ascore(json.dumps(REFERENCE), REFERENCE))
    assert (result.caption_reward, result.score) == (pytest.approx(10.0), pytest.approx(1.0))
    assert server.request_count == 0


def test_llm_scores_only_the_fields_that_need_it_in_one_call(llm):
    server, gateway = llm(scorer_responder(lambda f: {"color": 8, "size": 4}[f]), role="scorer")
    generated = dict(REFERENCE, color="pink-red", size="1 cm", border_characteristics="", texture="firm")
    weights = {"color": 2, "size": 1, "border_characteristics": 1, "texture": 1, "location": 5}
    result = asyncio.run(CaptionReward(gateway, weights).ascore("```json\n" + json.dumps(generated) + "\n```", REFERENCE))
    assert server.request_count == 1
    assert json_array_of_last_line(server.requests[0]) == ["color", "size"]
    assert result.field_scores["color"] == 8 and result.field_scores["size"] == 4
    assert result.field_scores["border_characteristics"] == 0  # one side empty
    assert result.field_scores["texture"] == 0
    assert result.field_scores["other"] == 10                  # both empty
    expected = (2 * 8 + 1 * 4 + 0 + 0 + 5 * 10) / 10
    assert result.caption_reward == pytest.approx(expected) and result.score == pytest.approx(expected / 10)
    assert "color" in result.acceptable_fields and "size" not in result.acceptable_fields
    system = server.requests[0]["messages"][0]["content"]
    assert "graded similarity" in system and "vocabulary" in system


def test_written_out_none_counts_as_empty(llm):
    server, gateway = llm(scorer_responder(lambda f: 0), role="scorer")
    generated = dict(REFERENCE, other="none", texture="N/A")
    result = asyncio.run(CaptionReward(gateway).ascore(json.dumps(generated), REFERENCE))
    assert result.field_scores["other"] == 10 and server.request_count == 0


@pytest.mark.parametrize("completion", [
    "The lesion is a salmon pink plaque.",
    json.dumps({k: v for k, v in REFERENCE.items() if k != "size"}),
    json.dumps(REFERENCE | {"diagnosis": "psoriasis"}),
    json.dumps(REFERENCE | {"number": 3}),
])
def test_caption_format_failure_scores_zero_without_llm(llm, completion):
    server, gateway = llm(scorer_responder(lambda f: 10), role="scorer")
    result = asyncio.run(CaptionReward(gateway).ascore(completion, REFERENCE))
    assert (result.score, result.format_ok) == (0.0, False) and result.error
    assert server.request_count == 0


def test_unusable_scorer_reply_is_repaired_once_then_flagged(llm):
    replies = iter(['{"scores": {"color": 11}}', '{"scores": {"color": "high"}}'])
    server, gateway = llm(lambda request: next(replies), role="scorer")
    generated = dict(REFERENCE, color="brown")
    result = asyncio.run(CaptionReward(gateway).ascore(json.dumps(generated), REFERENCE))
    assert server.request_count == 2
    assert "0 to 10" in last_user_text(server.requests[1])
    assert result.scorer_ok is False and result.field_scores["color"] == 0 and result.format_ok


# -- verl / TRL entry points ------------------------------------------------------------------------

@pytest.fixture
def env_server(monkeypatch):
    def respond(request):
        text = last_user_text(request)
        asked = json.loads(text.rsplit("\n", 1)[-1])
        if "Grade these fields" in text:
            return json.dumps({"scores": {f: 5 for f in asked}})
        return json.dumps({"verdicts": [{"name": n, "category": "exact", "rationale": "r"} for n in asked]})

    with ScriptedLLMServer(respond) as server:
        for var in list(os.environ):
            if var.startswith("SKINFLOW_"):
                monkeypatch.delenv(var)
        monkeypatch.setenv("SKINFLOW_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("SKINFLOW_LLM_MODEL", "env-model")
        yield server


def test_compute_score_dispatches_on_data_source(env_server):
    diag = compute_score("skinflow_diagnosis", answer("lichen planus", "Zorblaxian dermatosis"), "psoriasis",
                         extra_info={"index": 3})
    assert diag["score"] == pytest.approx(0.8) and diag["first_correct"] == 2
    caption = compute_score("skinflow_caption", json.dumps(dict(REFERENCE, color="red")), json.dumps(REFERENCE))
    assert caption["field_color"] == 5 and caption["score"] == pytest.approx((11 * 10 + 5) / 120)
    assert set(f"field_{f}" for f in FIELDS) <= set(caption)
    assert env_server.request_count == 2 and env_server.requests[0]["model"] == "env-model"
    with pytest.raises(ValueError, match="unknown data_source"):
        compute_score("gsm8k", "x", "y")


def test_kwargs_configure_weights_and_k(env_server):
    result = compute_score("skinflow_diagnosis", answer("lichen planus", "psoriasis", key="top2_diseases"), "psoriasis",
                           position_weights=[1.0, 0.3])
    assert result["score"] == pytest.approx(0.3)
    assert compute_score("skinflow_diagnosis", answer("a", "b", "psoriasis"), "psoriasis", k=2)["format_ok"] == 0


def test_per_role_environment_overrides(env_server, monkeypatch):
    with ScriptedLLMServer(judge_responder()) as judge_server:
        monkeypatch.setenv("SKINFLOW_JUDGE_BASE_URL", judge_server.base_url)
        compute_score("skinflow_diagnosis", answer("Zorblaxian dermatosis"), "psoriasis")
        assert judge_server.request_count == 1 and env_server.request_count == 0


def test_async_entry_point(env_server):
    result = asyncio.run(rewards.acompute_score("skinflow_diagnosis", answer("psoriasis"), "psoriasis"))
    assert result["score"] == 1.0


def test_trl_batch_functions_accept_conversational_completions(env_server):
    completions = [[{"role": "assistant", "content": answer("lichen planus", "psoriasis")}],
                   [{"role": "assistant", "content": "no answer"}]]
    assert rewards.diagnosis_reward_batch(completions, references=["psoriasis", "psoriasis"]) == [0.8, 0.0]
    good = json.dumps(REFERENCE)
    assert rewards.caption_reward_batch([good, "{}"], references=[good, good]) == [pytest.approx(1.0), 0.0]
    assert env_server.request_count == 0


def test_reference_caption_must_be_valid():
    with pytest.raises(Exception, match="missing caption key"):
        asyncio.run(CaptionReward(None).ascore(json.dumps(REFERENCE), {"color": "red"}))
    assert parse_caption(REFERENCE).lesion_types == ("plaque", "scale")


# -- Stage I: a field's own fault costs that field only ---------------------------------------------

def test_an_unknown_lesion_type_scores_that_field_not_the_whole_caption(llm):
    server, gateway = llm(scorer_responder(lambda f: 10), role="scorer")
    generated = dict(REFERENCE, lesion_type="erythematous blotch")  # "blotch" is not a lesion type
    result = asyncio.run(CaptionReward(gateway).ascore(json.dumps(generated), REFERENCE))
    assert result.format_ok and result.field_scores["lesion_type"] == 0
    # The other eleven fields are identical to the reference and keep their 10s.
    assert all(result.field_scores[f] == 10 for f in FIELDS if f != "lesion_type")
    assert result.caption_reward == pytest.approx(10 * 11 / 12)
    assert "lesion_type" in result.error and server.request_count == 0


def test_a_field_over_the_cap_scores_zero_and_is_never_sent_to_the_scorer(llm):
    server, gateway = llm(scorer_responder(lambda f: 10), role="scorer")
    essay = "salmon pink " * (MAX_FIELD_CHARS // 10)
    assert len(essay.strip()) > MAX_FIELD_CHARS
    generated = dict(REFERENCE, color=essay, size="3 cm")
    result = asyncio.run(CaptionReward(gateway).ascore(json.dumps(generated), REFERENCE))
    assert result.format_ok and result.field_scores["color"] == 0
    assert server.request_count == 1 and json_array_of_last_line(server.requests[0]) == ["size"]
    # At the cap a field is still graded normally.
    at_cap = ("salmon pink " * 40)[:MAX_FIELD_CHARS]
    ok = asyncio.run(CaptionReward(gateway).ascore(json.dumps(dict(REFERENCE, color=at_cap)), REFERENCE))
    assert ok.field_scores["color"] == 10


# -- Stage II follows the clinical judge ----------------------------------------------------------

def test_stage_two_pays_no_reward_for_umbrellas_that_evaluation_does_not_credit(offline_reward):
    # "Papulosquamous disorder" for psoriasis guides nothing: not credited, so the specific name
    # in third place is the first correct one.
    result = score(offline_reward, answer("Papulosquamous disorder", "Follicular disorder", "psoriasis"), "psoriasis")
    assert result.categories[0] == "parent_broad" and result.first_correct == 3 and result.score == 0.6


def test_stage_two_credits_a_parent_several_levels_up_when_clinically_right(offline_reward):
    result = score(offline_reward, answer("urticaria"), "cholinergic urticaria")
    assert result.categories == ("parent_close",) and result.score == 1.0


def test_stage_two_pays_nothing_for_a_multi_condition_entry(offline_reward):
    result = score(offline_reward, answer("psoriasis or eczema", "lichen planus"), "psoriasis")
    assert result.categories[0] == "invalid" and result.score == 0.0


def test_stage_two_refuses_a_top3_key_for_k6(offline_reward):
    result = score(offline_reward, answer("psoriasis", key="top3_diseases"), "psoriasis")
    assert (result.score, result.format_ok) == (0.0, False) and "top6_diseases" in result.error
