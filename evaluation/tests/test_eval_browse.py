"""Pages that show, not just count (issue 13, item 6): the per-sample browser's verdict filter and its
messages for bad values, the safety-critical gallery, the leaderboard's n / intervals / safety-critical
rate / blind baselines, the confusion view, the overlap warning, and page numbers."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotations.models import Sample
from evaluation import services
from evaluation.models import EvalRun
from evaluation.tests.eval_fixtures import make_test_set
from evaluation.tests.test_eval_pages import finished_run

pytestmark = pytest.mark.django_db


def cards(html: str) -> list[tuple[str, str]]:
    """(item id, top-1 verdict) of every card on a browser page."""
    return re.findall(r'data-item="(\d+)" data-verdict="([a-z_]*)"', html)


def test_stored_verdicts_follow_the_judge_and_the_overrule(derm_client):
    run = finished_run()
    by_id = {i.external_id: i for i in run.items.all()}
    assert by_id["s1"].top1_category == "exact" and not by_id["s1"].safety_critical
    assert by_id["s2"].top1_category == "safety_critical" and by_id["s2"].safety_critical
    from evaluation.selectors import item_categories

    categories, overruled = item_categories(run)
    assert categories[by_id["s2"].id] == ["safety_critical", "exact"] and overruled == set()
    # A dermatologist's overrule changes the stored verdict with the metrics.
    derm_client.post(reverse("eval-item-overrule", args=[by_id["s2"].id]), {"rank": 1, "category": "exact"})
    by_id["s2"].refresh_from_db()
    assert by_id["s2"].top1_category == "exact" and by_id["s2"].overruled and not by_id["s2"].safety_critical


def test_verdict_filter_returns_only_that_category(derm_client):
    run = finished_run()
    url = reverse("eval-samples", args=[run.id])
    every = cards(derm_client.get(url).content.decode())
    assert len(every) == 3 and {v for _, v in every} >= {"exact", "safety_critical"}
    for verdict in {v for _, v in every}:
        page = derm_client.get(url, {"verdict": verdict})
        assert page.status_code == 200
        shown = cards(page.content.decode())
        expected = {str(i.id) for i in run.items.filter(top1_category=verdict)}
        assert shown and {v for _, v in shown} == {verdict} and {i for i, _ in shown} == expected
    safety = cards(derm_client.get(url, {"safety": "1"}).content.decode())
    assert [i for i, _ in safety] == [str(run.items.get(external_id="s2").id)]
    assert cards(derm_client.get(url, {"overruled": "1"}).content.decode()) == []
    # The "wrong" family holds unrelated/invalid answers only.
    for _, v in cards(derm_client.get(url, {"verdict": "wrong"}).content.decode()):
        assert v in ("unrelated", "invalid", "missing")


def test_cards_show_thumbnails_that_open_the_item_and_hide_identifying_images(derm_client):
    run = finished_run()
    s1 = run.items.get(external_id="s1")
    html = derm_client.get(reverse("eval-samples", args=[run.id])).content.decode()
    assert f'href="{reverse("eval-item", args=[s1.id])}"' in html
    assert reverse("sample-thumbnail", args=[s1.sample_id]) in html
    assert reverse("sample-image", args=[s1.sample_id]) not in html  # a thumbnail opens the sample, not the file
    Sample.objects.filter(pk=s1.sample_id).update(identifying_content=True)
    html = derm_client.get(reverse("eval-samples", args=[run.id])).content.decode()
    assert reverse("sample-thumbnail", args=[s1.sample_id]) not in html and "image hidden" in html


@pytest.mark.parametrize("query, named", [
    ({"verdict": "bogus"}, ["“bogus” is not a valid verdict", "exact", "safety_critical", "parent"]),
    ({"safety": "maybe"}, ["“maybe” is not a valid value for safety-critical"]),
    ({"overruled": "2"}, ["“2” is not a valid value for overruled"]),
    ({"label": "no such label"}, ["“no such label” is not a reference label of this run"]),
    ({"page": "abc"}, ["“abc” is not a page number"]),
    ({"page": "99"}, ["There is no page 99"]),
])
def test_invalid_filter_value_says_so(derm_client, query, named):
    run = finished_run()
    for name in ("eval-samples", "eval-safety"):
        response = derm_client.get(reverse(name, args=[run.id]), query)
        assert response.status_code == 400
        body = response.content.decode()
        assert 'id="filter-problems"' in body
        for text in named:
            assert text in body


def test_a_bad_filter_leaves_the_good_ones_applied(derm_client):
    run = finished_run()
    response = derm_client.get(reverse("eval-samples", args=[run.id]), {"verdict": "exact", "safety": "maybe"})
    assert response.status_code == 400
    assert {v for _, v in cards(response.content.decode())} == {"exact"}


def test_safety_critical_gallery(derm_client):
    run = finished_run()
    s2 = run.items.get(external_id="s2")
    page = derm_client.get(reverse("eval-run", args=[run.id])).content.decode()
    assert reverse("eval-safety", args=[run.id]) in page  # one click from the report
    html = derm_client.get(reverse("eval-safety", args=[run.id])).content.decode()
    assert re.findall(r'data-item="(\d+)"', html) == [str(s2.id)]
    assert re.search(r"melanoma</span>\s*<span class=\"arrow\">→</span>\s*<strong>seborrheic keratosis</strong> "
                     r"<span class=\"muted\">\(rank 1\)</span>", html)
    assert reverse("sample-thumbnail", args=[s2.sample_id]) in html
    assert f'href="{reverse("eval-item", args=[s2.id])}"' in html
    assert "1 sample with a safety-critical prediction" in html


def test_leaderboard_shows_n_intervals_safety_rate_and_baselines(derm_client):
    run = finished_run()
    html = derm_client.get(reverse("eval-index")).content.decode()
    row = re.search(r'<tr class="model-row" data-model="SkinFlow-7B">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-col="n">3<', row)
    ci = run.metrics["top_k_ci95"][0]
    assert f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}" in row  # the bootstrap interval of Top-1
    assert "33.33" in row
    # 1 of the 6 predictions is safety-critical (s2's seborrheic keratosis for a melanoma).
    assert re.search(r'data-col="sc">16\.7<', row)
    for key in ("label_prior", "best_constant"):
        base = re.search(rf'data-baseline="{key}">(.*?)</tr>', html, re.S).group(1)
        assert "not a model" in base and re.search(r'data-col="n">3<', base)
        top1 = run.metrics["baselines"][key]["top_k"][0]
        assert f"{100 * top1:.2f}" in base


def test_leaderboard_marks_a_run_scored_on_training_images(derm_client):
    run = finished_run()
    html = derm_client.get(reverse("eval-index")).content.decode()
    assert "scored on training images" not in html
    EvalRun.objects.filter(pk=run.pk).update(overlap={
        "count": 2, "total": 3, "train_split": 2, "snapshots": 0, "confirmed": True,
        "note": "2 of the 3 test samples are training data (2 in the train split): ..."})
    html = derm_client.get(reverse("eval-index")).content.decode()
    row = re.search(r'<tr class="model-row" data-model="SkinFlow-7B">(.*?)</tr>', html, re.S).group(1)
    assert "⚠ scored on training images" in row and "2 of the 3 test samples are training data" in row
    csv_text = derm_client.get(reverse("eval-leaderboard-csv")).content.decode()
    header, first = csv_text.splitlines()[:2]
    assert header.endswith("training_samples_evaluated") and first.endswith(",2")


def test_wilson_interval():
    from evaluation.selectors import wilson_interval

    low, high = wilson_interval(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0.0, 10)[0] == 0.0 and wilson_interval(None, 10) is None and wilson_interval(0.5, 0) is None


def test_confusions_count_reference_to_top1_pairs(derm_client):
    rows = ([{"id": f"m{i}", "reference": "melanoma", "predictions": ["seborrheic keratosis"], "skin_type": None}
             for i in range(3)]
            + [{"id": "m9", "reference": "melanoma", "predictions": ["Seborrheic Keratosis "], "skin_type": None},
               {"id": "m10", "reference": "melanoma", "predictions": ["melanoma"], "skin_type": None},
               {"id": "a1", "reference": "acne vulgaris", "predictions": ["rosacea"], "skin_type": None},
               {"id": "p1", "reference": "psoriasis", "predictions": ["psoriasis"], "skin_type": None}])
    run = finished_run(rows=rows)
    html = derm_client.get(reverse("eval-confusions", args=[run.id])).content.decode()
    table = re.findall(r'<tr data-reference="([^"]+)" data-prediction="([^"]+)">.*?<td class="num count"><a [^>]*>(\d+)</a>',
                       html, re.S)
    assert table[0] == ("melanoma", "seborrheic keratosis", "4")  # case and spaces folded
    assert ("acne vulgaris", "rosacea", "1") in table
    assert all(ref != pred for ref, pred, _ in table)  # exact answers are not confusions
    first = re.search(r'data-reference="melanoma".*?</tr>', html, re.S).group(0)
    assert "80%" in first and "cat-safety_critical" in first  # 4 of melanoma's 5
    m0 = run.items.get(external_id="m0")
    assert reverse("eval-item", args=[m0.id]) in first
    # The count links to the browser filtered to that pair, which shows exactly those samples.
    link = re.search(r'<td class="num count"><a href="([^"]+)"', first).group(1).replace("&amp;", "&")
    shown = cards(derm_client.get(link).content.decode())
    assert len(shown) == 4
    assert derm_client.get(reverse("eval-confusions", args=[run.id]), {"credited": "x"}).status_code == 400


def test_pager_numbers_and_jump_keep_the_filter(derm_client):
    rows = [{"id": f"x{i}", "reference": "psoriasis", "predictions": ["psoriasis"], "skin_type": None}
            for i in range(48 * 5 + 1)]
    run = finished_run(rows=rows)
    url = reverse("eval-samples", args=[run.id])
    html = derm_client.get(url, {"verdict": "exact", "page": "3"}).content.decode()
    assert '<b aria-current="page">3</b>' in html
    for n in (1, 2, 4, 5, 6):
        assert f'?verdict=exact&amp;page={n}"' in html or f'?verdict=exact&page={n}"' in html
    assert 'name="page"' in html and 'max="6"' in html and 'name="verdict" value="exact"' in html
    assert len(cards(html)) == 48


def test_overlap_warning_when_the_split_is_all(admin_user, django_capture_on_commit_callbacks, monkeypatch):
    from evaluation import tasks

    monkeypatch.setattr(tasks.infer_run, "delay", lambda run_id: None)
    dataset = make_test_set()
    Sample.objects.filter(dataset=dataset, external_id__in=["s1", "s2"]).update(split=Sample.Split.TRAIN)
    client = Client()
    client.force_login(admin_user)
    form = {"name": "all split", "model_name": "M", "base_url": "http://127.0.0.1:9/v1", "endpoint_model": "m",
            "dataset": dataset.id, "split": "", "seed": 0, "k": 3, "judge_repeats": 1, "max_concurrency": 2,
            "price_prompt_per_mtok": 0, "price_completion_per_mtok": 0}
    response = client.post(reverse("eval-run-new"), form)
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 of the 4 test samples are training data (2 in the train split)" in body
    assert "Evaluate training data anyway" in body and not EvalRun.objects.filter(name="all split").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("eval-run-new"), {**form, "confirm_overlap": "on"})
    assert response.status_code == 302
    run = EvalRun.objects.get(name="all split")
    assert run.overlap["count"] == 2 and run.overlap["confirmed"] is True
    page = client.get(response.url).content.decode()
    assert 'id="overlap-warning"' in page and "2 of the 4 test samples are training data" in page
    # The test split alone holds no training data: no warning, no confirmation needed.
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("eval-run-new"), {**form, "name": "test split", "split": "test"}).status_code == 302
    clean = EvalRun.objects.get(name="test split")
    assert clean.overlap == {} and 'id="overlap-warning"' not in client.get(reverse("eval-run", args=[clean.id])).content.decode()


def test_overlap_with_the_snapshots_the_training_app_passes_in(admin_user):
    dataset = make_test_set()
    trained_on = list(Sample.objects.filter(dataset=dataset, external_id__in=["s1", "s5"]).values_list("id", flat=True))
    with pytest.raises(services.OverlapNotConfirmed, match="2 in a training snapshot"):
        services.create_run(name="ckpt", model_name="M", dataset=dataset, kind=EvalRun.Kind.LOCAL, checkpoint="/ckpt",
                            split="test", training_sample_ids=trained_on, start=False)
    run = services.create_run(name="ckpt", model_name="M", dataset=dataset, kind=EvalRun.Kind.LOCAL, checkpoint="/ckpt",
                              split="test", training_sample_ids=trained_on, confirm_overlap=True, start=False,
                              lineage={"training_run": "Stage II #4", "training_run_url": "/training/runs/4/",
                                       "stage": "II", "step": 120, "snapshot": "Clinic train v2 (3 rows)"})
    assert run.overlap["snapshots"] == 2 and run.overlap["train_split"] == 0
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("eval-run", args=[run.id])).content.decode()
    assert 'id="lineage"' in page and 'href="/training/runs/4/"' in page and "step 120" in page
    assert "/ckpt" in page and "2 in a training snapshot of the evaluated checkpoint" in page


def test_api_refuses_an_overlapping_run_without_confirmation(admin_user):
    from rest_framework.test import APIClient

    dataset = make_test_set()
    Sample.objects.filter(dataset=dataset, external_id="s1").update(split=Sample.Split.TRAIN)
    api = APIClient()
    api.force_authenticate(admin_user)
    body = {"name": "api", "model_name": "M", "base_url": "http://127.0.0.1:9/v1", "endpoint_model": "m",
            "dataset": dataset.id, "split": ""}
    resp = api.post("/api/eval-runs/", body, format="json")
    assert resp.status_code == 400 and "1 in the train split" in resp.json()["detail"]
    assert not EvalRun.objects.filter(name="api").exists()


def test_category_colours_of_the_pages_are_the_plots_colours():
    from pathlib import Path

    from evaluation.metrics import COUNT_KEYS
    from evaluation.plots import CATEGORY_COLOURS

    css = (Path(__file__).resolve().parents[2] / "webapp/static/webapp/style.css").read_text()
    found = dict(re.findall(r"\.cat-([a-z_]+) \{ --c:(#[0-9a-f]{6}); \}", css))
    assert set(COUNT_KEYS) <= set(CATEGORY_COLOURS)
    assert {key: found.get(key) for key in CATEGORY_COLOURS} == CATEGORY_COLOURS


def test_run_page_progress_uses_the_live_helper(derm_client):
    run = finished_run()
    html = derm_client.get(reverse("eval-run", args=[run.id])).content.decode()
    assert f'data-live-url="{reverse("eval-run-progress", args=[run.id])}"' in html
    assert "data-live-until=\"status=" in html and "run_progress.js" not in html
