"""Report pages, exports and the API behind login and role."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from evaluation import services
from evaluation.judge import ClinicalJudge
from evaluation.models import EvalRun, Overrule
from evaluation.tests.eval_fixtures import make_test_set

pytestmark = pytest.mark.django_db

ROWS = [
    {"id": "s1", "reference": "psoriasis", "predictions": ["psoriasis", "lichen planus"], "skin_type": 2},
    {"id": "s2", "reference": "melanoma", "predictions": ["seborrheic keratosis", "melanoma"], "skin_type": 5},
    {"id": "s5", "reference": "acne vulgaris", "predictions": ["rosacea", "acne"], "skin_type": 3},
]


def finished_run(name="ckpt A", model="SkinFlow-7B", test_set="F17k", dve=True, stage1=True, rows=ROWS) -> EvalRun:
    dataset = make_test_set(f"set for {name}")
    run = services.import_predictions(rows, name=name, model_name=model, test_set=test_set, k=6, judge_repeats=1,
                                      dataset=dataset, uses_dve=dve, uses_stage1=stage1)
    services.store_offline_judgements(run, ClinicalJudge())
    run.refresh_from_db()
    return run


def test_every_page_needs_a_role(client, no_role_user):
    run = finished_run()
    item = run.items.first()
    urls = [reverse("eval-index"), reverse("eval-run", args=[run.id]), reverse("eval-item", args=[item.id]),
            reverse("eval-run-csv", args=[run.id]), reverse("eval-run-plot", args=[run.id, "topk"])]
    for url in urls:
        assert client.get(url).status_code == 302  # to the login page
    client.force_login(no_role_user)
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.get("/api/eval-runs/").status_code == 403


def test_leaderboard_and_ablation_tables(derm_client):
    finished_run("full", "SkinFlow-7B", dve=True, stage1=True)
    finished_run("no dve", "SkinFlow-7B w/o DVE", dve=False, stage1=True,
                 rows=[dict(r, predictions=["unknown"]) for r in ROWS])
    page = derm_client.get(reverse("eval-index")).content.decode()
    assert "SkinFlow-7B" in page and "F17k" in page and "TOP6" in page
    # full: s1 at 1, s2 at 2, s5 at 2 -> Top-1 33.33, Top-2 100.00
    assert "33.33" in page and "100.00" in page
    ablation = derm_client.get(reverse("eval-ablation")).content.decode()
    assert "ours (w/o DVE)" in ablation and ">ours<" in ablation.replace("\n", "").replace("<td>", ">")
    rows = list(csv.reader(io.StringIO(derm_client.get(reverse("eval-leaderboard-csv")).content.decode())))
    assert rows[0][:4] == ["model", "test_set", "run_id", "n"]
    full = next(r for r in rows if r[0] == "SkinFlow-7B")
    assert full[4:6] == ["33.33", "100.00"]


def test_run_page_plots_and_exports(derm_client):
    run = finished_run()
    page = derm_client.get(reverse("eval-run", args=[run.id])).content.decode()
    assert "Top-k accuracy" in page and "33.33" in page and "safety" in page.lower()
    for kind in ("topk", "categories", "skintypes"):
        response = derm_client.get(reverse("eval-run-plot", args=[run.id, kind]))
        assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
        assert b"<svg" in response.content
    metrics = derm_client.get(reverse("eval-run-metrics", args=[run.id])).json()["metrics"]
    assert metrics["top_k"][:2] == pytest.approx([1 / 3, 1.0])
    rows = list(csv.DictReader(io.StringIO(derm_client.get(reverse("eval-run-csv", args=[run.id])).content.decode())))
    assert len(rows) == 6
    assert {(r["id"], r["rank"], r["category"]) for r in rows} >= {("s2", "1", "safety_critical"), ("s1", "1", "exact")}
    api = derm_client.get(f"/api/eval-runs/{run.id}/").json()
    assert api["metrics"]["n"] == 3 and api["status"] == "done"


def test_dermatologist_overrules_a_verdict_and_metrics_change(derm_client, dermatologist):
    run = finished_run()
    s2 = run.items.get(external_id="s2")
    page = derm_client.get(reverse("eval-item", args=[s2.id])).content.decode()
    assert "melanoma" in page and "seborrheic keratosis" in page and "cat-safety_critical" in page
    assert reverse("sample-image", args=[s2.sample_id]) in page
    response = derm_client.post(reverse("eval-item-overrule", args=[s2.id]),
                                {"rank": 1, "category": "exact", "note": "the lesion is really an SK"})
    assert response.status_code == 302
    over = Overrule.objects.get(item=s2, rank=1)
    assert (over.category, over.judge_category, over.user) == ("exact", "safety_critical", dermatologist)
    run.refresh_from_db()
    assert run.metrics["top_k"][0] == pytest.approx(2 / 3)
    assert run.metrics["agreement"] == {**run.metrics["agreement"], "n": 1, "category_agreement": 0.0}
    # Withdrawn: back to the judge, the metric returns; the withdrawal is a row of its own.
    derm_client.post(reverse("eval-item-overrule", args=[s2.id]), {"rank": 1, "withdraw": "1"})
    run.refresh_from_db()
    assert run.metrics["top_k"][0] == pytest.approx(1 / 3)
    assert list(Overrule.objects.filter(item=s2).values_list("withdrawn", flat=True)) == [False, True]
    # A rank that holds no prediction is refused.
    derm_client.post(reverse("eval-item-overrule", args=[s2.id]), {"rank": 5, "category": "exact"})
    assert Overrule.objects.filter(item=s2).count() == 2


def test_only_admins_create_runs(derm_client, admin_user):
    from django.test import Client

    assert derm_client.get(reverse("eval-run-new")).status_code == 403
    assert derm_client.post("/api/eval-runs/", {}).status_code == 403
    admin = Client()
    admin.force_login(admin_user)
    assert admin.get(reverse("eval-run-new")).status_code == 200


def test_compare_page_pairs_two_runs(derm_client):
    a = finished_run("a", "A")
    b = finished_run("b", "B", rows=[dict(r, predictions=[r["reference"]]) for r in ROWS])
    page = derm_client.get(reverse("eval-compare"), {"a": a.id, "b": b.id}).content.decode()
    assert "3 samples judged in both runs" in page
    assert "66.67" in page  # B - A at Top-1: 100 - 33.33


@pytest.mark.django_db
def test_eval_run_api_refuses_a_key_variable_that_is_not_an_api_key(admin_user):
    from rest_framework.test import APIClient

    from annotations.models import Dataset

    ds = Dataset.objects.create(name="Keys", source="folder")
    api = APIClient()
    api.force_authenticate(admin_user)
    resp = api.post("/api/eval-runs/", {"name": "leak", "model_name": "x", "base_url": "https://attacker.example/v1",
                                        "endpoint_model": "x", "api_key_env": "DATABASE_URL", "dataset": ds.pk},
                    format="json")
    assert resp.status_code == 400 and "not an API-key variable" in resp.json()["api_key_env"][0]
