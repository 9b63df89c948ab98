"""Image-blind baselines on every report (issue 11, item 3): the label prior and the greedy best
constant list, on the run's own test set under the offline judge, beside the model, with a flag
when the model is below either."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotations.models import Dataset, Sample
from evaluation import baselines
from evaluation import services
from evaluation.judge import ClinicalJudge
from evaluation.models import EvalRun

# The hand-made test set: 11 samples. "Kraxl syndrome" is unknown to the ontology (undecided:
# never credited to a baseline).
REFERENCES = (["psoriasis"] * 2 + ["melanoma"] * 3 + ["basal cell carcinoma"] * 2 + ["squamous cell carcinoma"] * 2
              + ["allergic contact dermatitis", "Kraxl syndrome"])
# The training split: psoriasis 5, acne vulgaris 4, melanoma 3, lichen planus 2, rosacea 1.
TRAIN = ["psoriasis"] * 5 + ["acne vulgaris"] * 4 + ["melanoma"] * 3 + ["lichen planus"] * 2 + ["rosacea"]
CONSTANT_ANSWER = ["urticaria", "rosacea"]  # credits none of the references


@pytest.fixture(scope="module")
def judge() -> ClinicalJudge:
    return ClinicalJudge()


# --------------------------------------------------------------------------------------------------
# The pure computation (evaluation/baselines.py)


def test_label_prior_names_the_k_most_frequent_training_labels():
    assert baselines.label_prior(TRAIN, 3) == [("psoriasis", 5), ("acne vulgaris", 4), ("melanoma", 3)]
    # Spellings of one label count together (shown in the most frequent one); ties go by name.
    assert baselines.label_prior(["Eczema", "eczema", "eczema", "vitiligo", "acne", ""], 3) == [
        ("eczema", 3), ("acne", 1), ("vitiligo", 1)]


def test_label_prior_top_k_on_the_test_set(judge):
    report = baselines.compute_baselines(judge, REFERENCES, 3, prior_labels=TRAIN)
    prior = report["label_prior"]
    assert prior["names"] == ["psoriasis", "acne vulgaris", "melanoma"] and prior["counts"] == [5, 4, 3]
    # psoriasis credits the 2 psoriasis samples; acne vulgaris none; melanoma the 3 melanomas.
    assert prior["top_k"] == pytest.approx([2 / 11, 2 / 11, 5 / 11])
    assert report["n"] == 11 and report["undecided_references"] == 1
    assert report["source"] == baselines.SOURCE_TRAIN and report["k"] == 3


def test_greedy_list_beats_or_equals_the_prior_and_its_first_name_is_the_best_single_name(judge):
    report = baselines.compute_baselines(judge, REFERENCES, 3, prior_labels=TRAIN)
    best = report["best_constant"]
    # "Keratinocyte carcinoma" is a coarse parent the judge credits for both BCC and SCC (4 samples).
    assert best["names"] == ["Keratinocyte carcinoma", "Melanoma", "Psoriasis"]
    assert best["top_k"] == pytest.approx([4 / 11, 7 / 11, 9 / 11])
    assert all(b >= p for b, p in zip(best["top_k"], report["label_prior"]["top_k"]))
    # No single ontology name does better at Top-1 (brute force over every candidate).
    top1 = max(baselines.constant_list_top_k(judge, REFERENCES, [c.name], 1)[0]
               for c in judge.ontology if not c.too_broad)
    assert best["top_k"][0] == pytest.approx(top1)


def test_prior_falls_back_to_the_test_references(judge):
    report = baselines.compute_baselines(judge, REFERENCES, 2, prior_labels=None, source_note="no dataset")
    assert report["source"] == baselines.SOURCE_TEST and report["source_note"] == "no dataset"
    assert report["label_prior"]["names"] == ["melanoma", "basal cell carcinoma"]
    assert report["label_prior"]["top_k"] == pytest.approx([3 / 11, 5 / 11])


def test_pruned_search_credits_exactly_what_judging_every_pair_credits(judge):
    """The speed-up judges only names related to a reference; judging every (reference, name) pair
    over all Fitzpatrick17k labels must give the same credit and the same list."""
    labels = sorted(judge.ontology.f17k_labels)
    table = baselines.CreditTable(judge, labels)
    candidates = [c.name for c in judge.ontology if not c.too_broad]
    for label in labels:
        group = judge.resolve(label).id
        related = table.related(group)
        for name in candidates:
            verdict = judge.judge_offline(label, name)
            # One verdict per resolved condition stands for every label that resolves to it ...
            assert table.credited(group, name) == (verdict is not None and verdict.correct), (label, name)
            # ... and only names related to the reference can be credited.
            if table.credited(group, name):
                assert judge.resolve(name).id in related, (label, name)
    assert (baselines.best_constant_list(judge, labels, 6)
            == baselines.best_constant_list(judge, labels, 6, prune=False))


def test_baselines_of_1000_items_take_well_under_a_second():
    labels = sorted(ClinicalJudge().ontology.f17k_labels)
    items = [labels[i % len(labels)] for i in range(1000)]
    fresh = ClinicalJudge()  # cold caches
    start = time.perf_counter()
    report = baselines.compute_baselines(fresh, items, 6, prior_labels=items[:300])
    elapsed = time.perf_counter() - start
    assert report["n"] == 1000 and len(report["best_constant"]["names"]) == 6
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_below_baselines_at_top1_or_top_k(judge):
    report = baselines.compute_baselines(judge, REFERENCES, 3, prior_labels=TRAIN)
    assert baselines.below_baselines([0.0, 0.0, 0.0], report) == {"label_prior": [1, 3], "best_constant": [1, 3]}
    # Top-1 above the prior but Top-3 below it, and below the best list at both.
    assert baselines.below_baselines([0.2, 0.3, 0.4], report) == {"label_prior": [3], "best_constant": [1, 3]}
    # Equal is not below.
    assert baselines.below_baselines(report["best_constant"]["top_k"], report) == {}


# --------------------------------------------------------------------------------------------------
# Stored with the run's metrics, shown on the pages


def clinic_dataset(name="Baseline clinic", train=TRAIN) -> Dataset:
    dataset = Dataset.objects.create(name=name, source=Dataset.Source.FOLDER)
    for i, label in enumerate(train):
        Sample.objects.create(dataset=dataset, external_id=f"train-{i}", image=f"baseline/train-{i}.jpg", label=label,
                              split=Sample.Split.TRAIN)
    return dataset


def judged_run(name, model, predictions_for, *, dataset=None, k=6, test_set="Clinic") -> EvalRun:
    rows = [{"id": f"t{i}", "reference": ref, "predictions": predictions_for(ref), "skin_type": None}
            for i, ref in enumerate(REFERENCES)]
    run = services.import_predictions(rows, name=name, model_name=model, test_set=test_set, k=k, judge_repeats=1,
                                      dataset=dataset)
    services.store_offline_judgements(run, ClinicalJudge())
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_run_metrics_store_both_baselines_and_flag_a_constant_model():
    dataset = clinic_dataset()
    blind = judged_run("blind", "Blind-const", lambda ref: CONSTANT_ANSWER, dataset=dataset)
    oracle = judged_run("oracle", "Oracle", lambda ref: [ref], dataset=dataset)
    b = blind.metrics["baselines"]
    assert b["source"] == "train split" and b["n"] == 11 and b["k"] == 6
    assert b["label_prior"]["names"] == ["psoriasis", "acne vulgaris", "melanoma", "lichen planus", "rosacea"]
    assert b["label_prior"]["top_k"][0] == pytest.approx(2 / 11)
    assert b["best_constant"]["top_k"][0] == pytest.approx(4 / 11)
    assert blind.metrics["top_k"][0] == 0.0
    assert b["model_below"] == {"label_prior": [1, 6], "best_constant": [1, 6]}
    # The oracle names every reference (Kraxl syndrome is undecided offline: 10 of 11 at Top-1).
    assert oracle.metrics["top_k"][0] == pytest.approx(10 / 11)
    assert oracle.metrics["baselines"]["model_below"] == {}
    assert oracle.metrics["baselines"]["best_constant"] == b["best_constant"]


@pytest.mark.django_db
def test_prior_falls_back_to_test_references_and_says_why(derm_client):
    no_dataset = judged_run("no dataset", "M", lambda ref: [ref])
    b = no_dataset.metrics["baselines"]
    assert b["source"] == "test references" and "no dataset" in b["source_note"]
    assert b["label_prior"]["names"][:2] == ["melanoma", "basal cell carcinoma"]
    no_train = judged_run("no train", "M", lambda ref: [ref], dataset=clinic_dataset("Test only", train=[]))
    note = no_train.metrics["baselines"]["source_note"]
    assert no_train.metrics["baselines"]["source"] == "test references" and "Test only" in note and "training" in note
    page = derm_client.get(reverse("eval-run", args=[no_train.id])).content.decode()
    assert 'id="prior-fallback"' in page and "own reference labels" in page and "Test only has no labelled training" in page


@pytest.mark.django_db
def test_run_page_shows_both_baselines_and_the_flag(derm_client):
    dataset = clinic_dataset()
    blind = judged_run("blind", "Blind-const", lambda ref: CONSTANT_ANSWER, dataset=dataset)
    oracle = judged_run("oracle", "Oracle", lambda ref: [ref], dataset=dataset)
    page = derm_client.get(reverse("eval-run", args=[blind.id])).content.decode()
    assert 'id="baselines"' in page and "Label prior" in page and "Best constant list" in page
    assert "18.18" in page and "45.45" in page  # the prior: Top-1 2/11, Top-6 5/11
    assert "36.36" in page and "90.91" in page  # the best list: Top-1 4/11, Top-6 10/11
    assert "Keratinocyte carcinoma" in page and "training split" in page
    assert 'id="below-baseline"' in page and "below the label prior" in page and "below the best constant list" in page
    page = derm_client.get(reverse("eval-run", args=[oracle.id])).content.decode()
    assert 'id="baselines"' in page and "36.36" in page and 'id="below-baseline"' not in page
    plot = derm_client.get(reverse("eval-run-plot", args=[blind.id, "topk"]))
    assert plot.status_code == 200 and b"<svg" in plot.content  # with the two baselines as dashed lines


@pytest.mark.django_db
def test_leaderboard_shows_baselines_and_flags_the_model_below_them(derm_client):
    dataset = clinic_dataset()
    judged_run("blind", "Blind-const", lambda ref: CONSTANT_ANSWER, dataset=dataset)
    judged_run("oracle", "Oracle", lambda ref: [ref], dataset=dataset)
    page = derm_client.get(reverse("eval-index")).content.decode()
    assert "Label prior" in page and "Best constant list" in page
    assert "18.18" in page and "36.36" in page and "90.91" in page
    assert page.count('class="flag below-baseline"') == 1
    row = page[page.index("Blind-const"):]
    assert row.index('class="flag below-baseline"') < row.index("</tr>")  # on the Blind-const row
    rows = list(csv.DictReader(io.StringIO(derm_client.get(reverse("eval-leaderboard-csv")).content.decode())))
    by_model = {r["model"]: r for r in rows}
    assert by_model["Blind-const"]["below_baseline"] and not by_model["Oracle"]["below_baseline"]
    assert by_model["baseline: label prior"]["top1"] == "18.18"
    assert by_model["baseline: best constant list"]["top1"] == "36.36"


def test_evaluate_predictions_json_carries_baselines(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"t{i}", "reference": ref, "predictions": CONSTANT_ANSWER})
                              for i, ref in enumerate(REFERENCES)) + "\n")
    out = io.StringIO()
    call_command("evaluate_predictions", str(path), "--offline", "--k", "3", "--json", stdout=out, stderr=io.StringIO())
    report = json.loads(out.getvalue())
    b = report["baselines"]
    assert b["source"] == "test references" and b["k"] == 3 and b["n"] == 11
    assert b["label_prior"]["names"] == ["melanoma", "basal cell carcinoma", "psoriasis"]  # ties by name
    assert b["best_constant"]["names"] == ["Keratinocyte carcinoma", "Melanoma", "Psoriasis"]
    assert b["best_constant"]["top_k"] == pytest.approx([4 / 11, 7 / 11, 9 / 11])
    assert b["model_below"] == {"label_prior": [1, 3], "best_constant": [1, 3]}
    text = io.StringIO()
    call_command("evaluate_predictions", str(path), "--offline", "--k", "3", stdout=text, stderr=io.StringIO())
    assert "best constant list" in text.getvalue() and "BELOW" in text.getvalue()


# --------------------------------------------------------------------------------------------------
# In a real browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_screenshots_of_the_run_page_and_the_leaderboard(browser, live_server, dermatologist, tmp_path):
    dataset = clinic_dataset()
    blind = judged_run("blind", "Blind-const", lambda ref: CONSTANT_ANSWER, dataset=dataset)
    judged_run("oracle", "Oracle", lambda ref: [ref], dataset=dataset)
    shots = Path(os.environ.get("SKINFLOW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(live_server.url + "/evaluation/")
    page.fill("#id_username", "derm")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/evaluation/")
    assert page.locator(".below-baseline").count() == 1 and page.locator(".below-baseline").is_visible()
    page.screenshot(path=str(shots / "baselines-leaderboard.png"), full_page=True)
    page.goto(live_server.url + f"/evaluation/runs/{blind.id}/")
    assert page.locator("#below-baseline").is_visible()
    assert "36.36" in page.locator("#baselines").inner_text()
    page.screenshot(path=str(shots / "baselines-run.png"), full_page=True)
