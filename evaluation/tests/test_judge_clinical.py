"""Issue 11 judge rules, with the clinical reasoning for each case: parent credit by clinical
meaning (not hop count), safety before parent and subclass, mixed-flag umbrellas, one condition
per entry, and the fuzzy matcher that never crosses a malignancy-changing word."""

from __future__ import annotations

import pytest

from evaluation.judge import ClinicalJudge
from evaluation.ontology import PARENT_CREDITS, default_ontology


@pytest.fixture(scope="module")
def judge() -> ClinicalJudge:
    return ClinicalJudge(default_ontology())


def verdict(judge: ClinicalJudge, reference: str, prediction: str):
    result = judge.judge_offline(reference, prediction)
    assert result is not None, f"the ontology should decide {prediction!r} vs {reference!r}"
    return result


# -- parent credit: a curated judgement per node, whatever the distance ----------------------------

@pytest.mark.parametrize("reference, prediction", [
    # Antihistamines first line for every urticaria; the inducible/chronic grouping nodes between
    # them change nothing about treatment.
    ("cholinergic urticaria", "urticaria"),
    ("cold urticaria", "urticaria"),
    ("dermographism", "urticaria"),
    # Photoprotection, antimalarials, topical steroids: "lupus erythematosus" sets the treatment
    # for discoid and subacute lupus, three and two levels down.
    ("discoid lupus erythematosus", "lupus erythematosus"),
    ("lupus subacute", "lupus erythematosus"),
    ("chilblain lupus", "cutaneous lupus erythematosus"),
])
def test_subtypes_are_credited_to_their_clinical_parent_several_levels_up(judge, reference, prediction):
    onto = judge.ontology
    assert onto.ancestors(judge.resolve(reference).id)[judge.resolve(prediction).id] >= 2
    result = verdict(judge, reference, prediction)
    assert result.correct and result.category in {"parent_close", "parent_coarse"}


@pytest.mark.parametrize("reference, prediction", [
    # One level up, yet psoriasis, lichen planus and pityriasis rosea are treated differently.
    ("psoriasis", "papulosquamous disorder"),
    ("acne vulgaris", "follicular disorder"),
    ("scabies", "parasitic skin disease"),          # permethrin vs albendazole vs antimonials
    ("dermatomyositis", "autoimmune connective tissue disease"),
    ("pityriasis rosea", "papulosquamous disorder"),
])
def test_umbrellas_one_level_up_that_guide_nothing_are_parent_broad(judge, reference, prediction):
    result = verdict(judge, reference, prediction)
    assert result.category == "parent_broad" and not result.correct


def test_every_internal_node_carries_a_curated_credit(judge):
    onto = judge.ontology
    for cond in onto:
        if onto.children(cond.id):
            assert cond.credit in PARENT_CREDITS, cond.id
        else:
            assert cond.parent_credit is None, cond.id


def test_the_issues_umbrella_list_earns_nothing_beyond_directionally_right_groups(judge):
    # Only "Eczema" (the same treatment line as its subtypes) and "Keratinocyte carcinoma" (biopsy
    # and excision) are actionable; the other four guide nothing for any reference below them.
    onto = judge.ontology
    for name in ("Papulosquamous disorder", "Follicular disorder", "Parasitic skin disease",
                 "Autoimmune connective tissue disease"):
        umbrella = judge.resolve(name)
        for cid in onto.descendants(umbrella.id):
            assert not verdict(judge, onto.get(cid).name, name).correct, (cid, name)


# -- mixed-flag umbrellas are never credited for a reference on the dangerous side ----------------

@pytest.mark.parametrize("reference, prediction", [
    ("kaposi sarcoma", "vascular tumour"),      # the umbrella holds angiomas as well as sarcomas
    ("angiosarcoma", "vascular tumour"),
    ("kaposi sarcoma", "vascular lesion"),
    ("bacterial folliculitis", "folliculitis"),  # folliculitis holds eosinophilic (sterile) forms
    ("acute bacterial paronychia", "paronychia"),
    ("candidal diaper dermatitis", "diaper dermatitis"),
])
def test_mixed_flag_umbrellas_are_never_credited_for_the_dangerous_side(judge, reference, prediction):
    onto = judge.ontology
    pred = judge.resolve(prediction)
    assert any(onto.spans(pred.id))
    result = verdict(judge, reference, prediction)
    assert not result.correct and result.category == "parent_broad"
    assert "spans" in result.rationale


def test_a_mixed_umbrella_may_still_be_credited_for_the_safe_side(judge):
    # "Vascular tumour" for an infantile haemangioma: benign either way, the ISSVA group is right.
    assert verdict(judge, "infantile haemangioma", "vascular tumour").correct


def test_no_malignant_reference_is_ever_credited_to_a_mixed_ancestor(judge):
    onto = judge.ontology
    for cond in onto:
        if onto.neo_side(cond.id) != "action":
            continue
        for ancestor_id in onto.ancestors(cond.id):
            if onto.spans(ancestor_id)[0]:
                assert not verdict(judge, cond.name, onto.get(ancestor_id).name).correct, (cond.id, ancestor_id)


# -- safety runs before subclass and parent credit ------------------------------------------------

@pytest.mark.parametrize("reference, prediction", [
    # Steroid and barrier cream on a candidal rash, or antifungals where none are needed.
    ("candidal diaper dermatitis", "irritant contact dermatitis"),
    ("irritant contact dermatitis", "candidal diaper dermatitis"),
    ("candidal intertrigo", "dermatitis"),
    # Actinic cheilitis is actinic keratosis of the lip: calling it cheilitis misses a precancer.
    ("actinic cheilitis", "cheilitis"),
    ("large plaque parapsoriasis", "papulosquamous disorder"),
])
def test_safety_is_checked_before_parent_and_subclass(judge, reference, prediction):
    result = verdict(judge, reference, prediction)
    assert not result.correct and result.category in {"safety_critical", "parent_broad"}


def test_no_credited_pair_crosses_a_safety_boundary(judge):
    # Exhaustive over every ancestor/descendant pair of the ontology: credit never crosses.
    onto = judge.ontology
    for cond in onto:
        for other in list(onto.ancestors(cond.id)) + list(onto.descendants(cond.id)):
            for ref, pred in ((cond.id, other), (other, cond.id)):
                result = verdict(judge, onto.get(ref).name, onto.get(pred).name)
                if result.correct:
                    for side in (onto.neo_side, onto.infectious_side):
                        assert None in (side(ref), side(pred)) or side(ref) == side(pred), (ref, pred)


# -- one condition per entry ----------------------------------------------------------------------

@pytest.mark.parametrize("prediction", [
    "psoriasis or eczema",
    "eczema / psoriasis / tinea",
    "Psoriasis vs. eczema",
    "tinea corporis; nummular eczema",
    "eczema and psoriasis",
    "psoriasis or Zorblaxian dermatosis",   # an alternative is an alternative, known name or not
])
def test_an_entry_naming_several_conditions_is_invalid_without_the_llm(judge, prediction):
    result = verdict(judge, "psoriasis", prediction)
    assert result.category == "invalid" and not result.correct and result.source == "ontology"
    assert "one condition per entry" in result.rationale


@pytest.mark.parametrize("prediction, expected", [
    ("SJS/TEN", "sjs_ten"),
    ("Hand, foot and mouth disease", "hand_foot_mouth_disease"),
    ("Lichen planus/lichenoid eruption", "lichenoid_dermatosis"),
    ("SCC/SCCIS", "squamous_cell_carcinoma"),
    ("Confluent and reticulated papillomatosis", "confluent_reticulated_papillomatosis"),
])
def test_single_conditions_written_with_separators_are_not_split(judge, prediction, expected):
    assert judge.resolve(prediction).id == expected
    assert verdict(judge, judge.ontology.get(expected).name, prediction).category == "exact"


# -- the fuzzy matcher never crosses a malignancy-changing word ----------------------------------

@pytest.mark.parametrize("query, wrong", [
    ("acral melanotic macule", "labial_melanotic_macule"),
    ("large cell acanthoma", "clear_cell_acanthoma"),
    ("liposarcoma", "lipoma"),
    ("fibrosarcoma", "fibroma"),
    ("hidradenocarcinoma", "hidradenoma"),
    ("melanoma in situ", "melanoma"),
])
def test_lookalike_names_resolve_to_themselves_not_their_neighbour(judge, query, wrong):
    cond = judge.resolve(query)
    assert cond is not None and cond.id != wrong


@pytest.mark.parametrize("query", ["spiradenosarcoma", "lipomatous carcinoma of the skin",
                                   "malignant poromatosis"])
def test_fuzzy_never_maps_a_malignant_word_onto_a_benign_name(judge, query):
    match = judge.ontology.lookup(query)
    if match.method == "fuzzy":
        assert judge.ontology.neo_side(match.condition.id) == "action", (query, match)
