"""The clinical judge: ontology categories with clinical reasoning, and the LLM path against the
local OpenAI-compatible test server."""

from __future__ import annotations

import asyncio
import json

import pytest

from evaluation.judge import CATEGORIES, CORRECT_CATEGORIES, ClinicalJudge, JudgeError, Verdict
from evaluation.ontology import default_ontology
from webapp.llm import EndpointConfig, LLMGateway, MemoryCache
from webapp.llm_testserver import Reply, ScriptedLLMServer, last_user_text


@pytest.fixture(scope="module")
def judge() -> ClinicalJudge:
    return ClinicalJudge(default_ontology())


def category(judge: ClinicalJudge, reference: str, prediction: str) -> str:
    verdict = judge.judge_offline(reference, prediction)
    assert verdict is not None, f"the ontology should decide {prediction!r} vs {reference!r}"
    assert verdict.source == "ontology"
    assert verdict.correct == (verdict.category in CORRECT_CATEGORIES)
    assert verdict.rationale
    return verdict.category


def test_category_names_are_the_designs():
    assert CATEGORIES == ("exact", "subclass", "parent_close", "parent_coarse", "parent_broad", "sibling",
                          "safety_critical", "unrelated", "invalid")
    assert CORRECT_CATEGORIES == {"exact", "subclass", "parent_close", "parent_coarse"}


# -- exact: the same disease under a synonym, abbreviation or lay name -----------------------------

@pytest.mark.parametrize("reference,prediction", [
    ("herpes zoster", "shingles"),               # the paper's own example
    ("Herpes Zoster", "herpes zoster"),
    ("melanoma", "malignant melanoma"),          # an F17k near-duplicate label pair
    ("basal cell carcinoma", "BCC"),
    ("granuloma pyogenic", "pyogenic granuloma"),
    ("urticaria", "hives"),
])
def test_exact(judge, reference, prediction):
    verdict = judge.judge_offline(reference, prediction)
    assert verdict.category == "exact" and verdict.correct


# -- subclass: more specific, same treatment line ---------------------------------------------------

@pytest.mark.parametrize("reference,prediction", [
    ("eczema", "atopic dermatitis"),                  # the paper's example
    ("psoriasis", "pustular psoriasis"),
    ("basal cell carcinoma", "morpheaform basal cell carcinoma"),
    ("melanoma", "superficial spreading melanoma"),
])
def test_subclass(judge, reference, prediction):
    assert category(judge, reference, prediction) == "subclass"


# -- parents: close and coarse are correct, too broad is not ----------------------------------------

@pytest.mark.parametrize("reference,prediction", [
    ("atopic dermatitis", "eczema"),           # direct parent: same treatment (emollients, steroids)
    ("pustular psoriasis", "psoriasis"),
    ("superficial spreading melanoma", "melanoma"),
])
def test_parent_close(judge, reference, prediction):
    assert category(judge, reference, prediction) == "parent_close"


def test_parent_coarse_is_two_levels_up_and_still_correct(judge):
    # "Autoimmune bullous disease" for bullous pemphigoid: not specific, but it sends the patient to
    # biopsy with immunofluorescence and immunosuppression, the right direction.
    onto = judge.ontology
    ref, pred = onto.resolve("bullous pemphigoid"), onto.resolve("autoimmune bullous disease")
    assert onto.ancestors(ref.id)[pred.id] == 2 and not pred.too_broad
    assert category(judge, "bullous pemphigoid", "autoimmune bullous disease") == "parent_coarse"


@pytest.mark.parametrize("reference,prediction", [
    ("atopic dermatitis", "dermatitis"),     # the paper: "Dermatitis" is too broad
    ("melanoma", "skin cancer"),             # the paper: "Skin cancer" is too broad
    ("basal cell carcinoma", "skin cancer"),
    ("psoriasis", "rash"),                   # an umbrella root, several levels up
])
def test_parent_broad_is_not_correct(judge, reference, prediction):
    verdict = judge.judge_offline(reference, prediction)
    assert verdict.category == "parent_broad" and not verdict.correct


# -- safety-critical: across malignant/benign and infectious/non-infectious, both directions --------

@pytest.mark.parametrize("reference,prediction", [
    ("melanoma", "naevus"),                         # a missed melanoma
    ("melanoma", "common mole"),
    ("melanoma", "seborrheic keratosis"),
    ("seborrheic keratosis", "melanoma"),           # the other direction: benign called malignant
    ("basal cell carcinoma", "intradermal nevus"),  # the pearly papule called a dermal naevus
    ("squamous cell carcinoma", "wart"),
    ("actinic keratosis", "seborrheic keratosis"),  # premalignant counts on the malignant side
    ("tinea corporis", "nummular eczema"),          # steroids on a fungal infection
    ("tinea corporis", "psoriasis"),
    ("psoriasis", "tinea corporis"),
    ("impetigo", "eczema"),
    ("scabies", "atopic dermatitis"),               # an infestation treated as eczema
])
def test_safety_critical(judge, reference, prediction):
    verdict = judge.judge_offline(reference, prediction)
    assert verdict.category == "safety_critical" and not verdict.correct
    assert "boundary" in verdict.rationale


@pytest.mark.parametrize("reference,prediction", [
    ("onychomycosis", "nail psoriasis"),         # both nail disorders, but antifungals vs not
    ("large plaque parapsoriasis", "psoriasis"), # both papulosquamous, but a mycosis fungoides precursor
])
def test_safety_is_checked_before_sibling(judge, reference, prediction):
    assert judge._family(judge.resolve(reference).id).keys() & judge._family(judge.resolve(prediction).id).keys()
    assert category(judge, reference, prediction) == "safety_critical"


def test_premalignant_vs_malignant_is_not_a_boundary_crossing(judge):
    # Actinic keratosis and squamous cell carcinoma both lead to treatment; a miss, not a safety error.
    assert category(judge, "actinic keratosis", "squamous cell carcinoma") in {"sibling", "unrelated"}


def test_mixed_flags_claim_no_crossing(judge):
    # Folliculitis may be infectious or not (infectious=None): calling it acne is no boundary crossing.
    onto = judge.ontology
    assert onto.resolve("folliculitis").infectious is None
    assert category(judge, "folliculitis", "acne vulgaris") != "safety_critical"


# -- sibling, unrelated, invalid --------------------------------------------------------------------

@pytest.mark.parametrize("reference,prediction", [
    ("allergic contact dermatitis", "irritant contact dermatitis"),  # same family, different trigger
    ("bullous pemphigoid", "pemphigus vulgaris"),                   # both autoimmune blistering (cousins)
    ("psoriasis", "lichen planus"),                                 # the papulosquamous confusion
    ("atopic dermatitis", "seborrheic dermatitis"),                 # two eczemas, different management
    ("tinea corporis", "tinea capitis"),                            # same fungus family, capitis needs oral therapy
])
def test_sibling(judge, reference, prediction):
    assert category(judge, reference, prediction) == "sibling"


def test_unrelated(judge):
    assert category(judge, "vitiligo", "acne vulgaris") == "unrelated"


@pytest.mark.parametrize("prediction", ["", "   ", "???", "unknown", "N/A", "The name of the disease", "x" * 300])
def test_invalid(judge, prediction):
    verdict = judge.judge_offline("psoriasis", prediction)
    assert verdict.category == "invalid" and not verdict.correct and verdict.source == "ontology"


def test_offline_returns_none_when_a_name_does_not_resolve(judge):
    assert judge.judge_offline("psoriasis", "Zorblaxian dermatosis") is None
    assert judge.judge_offline("Zorblaxian dermatosis", "psoriasis") is None


# ==================================================================================================
# LLM path

def grading_responder(category_for=lambda name: "sibling"):
    """A judge LLM: grades every name of the request's JSON array."""
    def respond(request: dict) -> str:
        names = json.loads(last_user_text(request).rsplit("\n", 1)[-1])
        return json.dumps({"verdicts": [
            {"name": n, "category": category_for(n), "rationale": f"graded {n}"} for n in names]})
    return respond


def asked_names(request: dict) -> list[str]:
    return json.loads(last_user_text(request).rsplit("\n", 1)[-1])


@pytest.fixture
def server_factory():
    servers = []

    def start(responder, **kw) -> tuple[ScriptedLLMServer, LLMGateway]:
        server = ScriptedLLMServer(responder, **kw).start()
        gateway = LLMGateway({"judge": EndpointConfig(role="judge", base_url=server.base_url, model="judge-m",
                                                      max_retries=1)},
                             cache=MemoryCache(), backoff_base_s=0.0)
        servers.append((server, gateway))
        return server, gateway

    yield start
    for server, gateway in servers:
        gateway.close()
        server.stop()


def test_only_unresolvable_names_go_to_the_llm_in_one_call(server_factory):
    server, gateway = server_factory(grading_responder(lambda n: "unrelated"))
    judge = ClinicalJudge(default_ontology(), gateway)
    predictions = ["psoriasis", "Zorblaxian dermatosis", "lichen planus", "Quux's papulosis", "",
                   "Zorblaxian dermatosis"]
    verdicts = judge.judge_list("psoriasis", predictions)
    assert server.request_count == 1
    assert asked_names(server.requests[0]) == ["Zorblaxian dermatosis", "Quux's papulosis"]
    assert [v.prediction for v in verdicts] == predictions
    assert [v.source for v in verdicts] == ["ontology", "llm", "ontology", "llm", "ontology", "llm"]
    assert verdicts[0].category == "exact" and verdicts[4].category == "invalid"
    assert verdicts[1].category == "unrelated" and verdicts[1].rationale == "graded Zorblaxian dermatosis"


def test_prompt_grounds_the_llm_with_the_ontology_view_of_the_reference(server_factory):
    server, gateway = server_factory(grading_responder())
    ClinicalJudge(default_ontology(), gateway).judge_list("shingles", ["Zorblaxian zoster"])
    text = last_user_text(server.requests[0])
    onto = default_ontology()
    ref = onto.resolve("shingles")
    assert f"Ontology entry: {ref.name}" in text
    assert all(p.name in text for p in onto.parents(ref.id))
    assert "Infectious: yes (viral)" in text
    system = server.requests[0]["messages"][0]["content"]
    assert all(c in system for c in CATEGORIES)


def test_no_llm_call_when_everything_resolves(server_factory):
    server, gateway = server_factory(grading_responder())
    verdicts = ClinicalJudge(default_ontology(), gateway).judge_list("melanoma", ["melanoma", "seborrheic keratosis"])
    assert server.request_count == 0
    assert [v.category for v in verdicts] == ["exact", "safety_critical"]


def test_repeats_are_cached_separately(server_factory):
    server, gateway = server_factory(grading_responder())
    names = ["Zorblaxian dermatosis"]
    ClinicalJudge(default_ontology(), gateway).judge_list("psoriasis", names, repeat=0)
    ClinicalJudge(default_ontology(), gateway).judge_list("psoriasis", names, repeat=0)  # fresh judge: gateway cache
    assert server.request_count == 1 and gateway.stats.cache_hits == 1
    ClinicalJudge(default_ontology(), gateway).judge_list("psoriasis", names, repeat=1)
    assert server.request_count == 2


def test_a_judge_remembers_pairs_and_coalesces_concurrent_requests(server_factory):
    server, gateway = server_factory(grading_responder(), latency_s=0.2)
    judge = ClinicalJudge(default_ontology(), gateway)

    async def both():
        return await asyncio.gather(
            judge.ajudge_names("psoriasis", ["Zorblaxian dermatosis", "Quux papulosis"]),
            judge.ajudge_names("Psoriasis", ["zorblaxian dermatosis", "Quux papulosis"]),
        )

    first, second = asyncio.run(both())
    assert server.request_count == 1
    assert second["zorblaxian dermatosis"].prediction == "zorblaxian dermatosis"
    assert second["zorblaxian dermatosis"].category == first["Zorblaxian dermatosis"].category
    judge.judge_list("psoriasis", ["Quux papulosis"])
    assert server.request_count == 1


def test_long_lists_are_chunked(server_factory):
    server, gateway = server_factory(grading_responder())
    judge = ClinicalJudge(default_ontology(), gateway, chunk_size=2)
    names = [f"Zorblaxian dermatosis type {i}" for i in range(5)]
    verdicts = judge.judge_names("psoriasis", names)
    assert server.request_count == 3
    assert sorted(n for r in server.requests for n in asked_names(r)) == sorted(names)
    assert set(verdicts) == set(names)


def test_invalid_reply_is_repaired_once(server_factory):
    def respond(request):
        if "could not be used" in last_user_text(request):
            return json.dumps({"verdicts": [{"name": "Zorblaxian dermatosis", "category": "sibling",
                                             "rationale": "repaired"}]})
        return json.dumps({"verdicts": [{"name": "Zorblaxian dermatosis", "category": "kinda close"}]})

    server, gateway = server_factory(respond)
    [verdict] = ClinicalJudge(default_ontology(), gateway).judge_list("psoriasis", ["Zorblaxian dermatosis"])
    assert server.request_count == 2
    repair = server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and "kinda close" in repair[-2]["content"]
    assert "unknown category" in repair[-1]["content"]
    assert (verdict.category, verdict.source, verdict.rationale) == ("sibling", "llm", "repaired")


@pytest.mark.parametrize("bad_reply", [
    "I think it is probably a sibling.",
    json.dumps({"verdicts": []}),
    json.dumps({"verdicts": [{"name": "Something else", "category": "exact"}]}),
])
def test_unusable_reply_after_repair_ends_as_invalid(server_factory, bad_reply):
    server, gateway = server_factory(lambda request: bad_reply)
    judge = ClinicalJudge(default_ontology(), gateway)
    [verdict] = judge.judge_list("psoriasis", ["Zorblaxian dermatosis"])
    assert server.request_count == 2
    assert (verdict.category, verdict.correct, verdict.source) == ("invalid", False, "llm")
    assert "judge reply was unusable" in verdict.rationale
    # Neither remembered as a real verdict nor kept in the response cache: the next judge really asks again.
    judge.judge_list("psoriasis", ["Zorblaxian dermatosis"])
    assert server.request_count == 4 and gateway.stats.cache_hits == 0


def test_http_failure_propagates_as_llm_error(server_factory):
    from webapp.llm import LLMError

    server, gateway = server_factory(lambda request: Reply(status=500, text="boom"))
    with pytest.raises(LLMError):
        ClinicalJudge(default_ontology(), gateway).judge_list("psoriasis", ["Zorblaxian dermatosis"])


def test_without_gateway_unresolvable_names_raise_a_clear_error():
    judge = ClinicalJudge(default_ontology())
    assert judge.judge_list("psoriasis", ["psoriasis"])[0].category == "exact"
    with pytest.raises(JudgeError, match="no LLM gateway"):
        judge.judge_list("psoriasis", ["Zorblaxian dermatosis"])


def test_verdict_is_frozen():
    verdict = Verdict("a", "exact", True, "r", "ontology")
    with pytest.raises(AttributeError):
        verdict.category = "invalid"  # type: ignore[misc]
