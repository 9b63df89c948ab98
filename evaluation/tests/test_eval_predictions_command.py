"""``manage.py evaluate_predictions``: predictions made elsewhere, judged and summarised."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import EvalRun
from evaluation.tests.eval_fixtures import JUDGE_ID
from webapp.llm_testserver import ScriptedLLMServer, last_user_text

pytestmark = pytest.mark.django_db

ROWS = [
    {"id": "a", "reference": "psoriasis", "predictions": ["psoriasis", "lichen planus"], "skin_type": 1},
    {"id": "b", "reference": "melanoma", "predictions": ["seborrheic keratosis", "melanoma"], "skin_type": 6},
    {"id": "c", "reference": "acne vulgaris", "predictions": ["Blorpa papulosis", "rosacea", "acne"], "skin_type": None},
    {"id": "d", "reference": "herpes zoster", "predictions": [], "skin_type": 4},
]


def write_rows(tmp_path, rows=ROWS):
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def run_json(*args) -> dict:
    out = io.StringIO()
    call_command("evaluate_predictions", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def test_offline_json_has_top_k_n_and_category_counts(tmp_path):
    report = run_json(str(write_rows(tmp_path)), "--offline", "--k", "3")
    assert report["n"] == 4 and report["repeats"] == 1
    # a: rank 1; b: rank 2; c: "acne" at rank 3 (Blorpa undecided offline counts as unrelated); d: never.
    assert report["top_k"] == [0.25, 0.5, 0.75]
    assert all(0.0 <= v <= 1.0 for v in report["top_k"]) and len(report["top_k"]) == 3
    assert report["undecided_offline"] == 1
    assert report["category_counts"][0] == {**report["category_counts"][0], "exact": 1, "safety_critical": 1,
                                            "unrelated": 1, "missing": 1}
    assert report["skin_types"]["groups"]["5-6"] == {"n": 1, "top_k": [0.0, 1.0, 1.0]}


def test_online_judges_each_list_once_per_repeat(tmp_path, monkeypatch):
    asked = []

    def respond(request):
        text = last_user_text(request)
        names = json.loads(text[text.index("Predictions (JSON array):") + 25:])
        asked.append(names)
        return json.dumps({"verdicts": [{"name": n, "category": "sibling", "rationale": "scripted"} for n in names]})

    with ScriptedLLMServer(respond) as server:
        monkeypatch.setenv("SKINFLOW_JUDGE_BASE_URL", server.base_url)
        monkeypatch.setenv("SKINFLOW_JUDGE_MODEL", JUDGE_ID)
        report = run_json(str(write_rows(tmp_path)), "--repeats", "2", "--k", "3")
    assert asked == [["Blorpa papulosis"], ["Blorpa papulosis"]]  # only c needs the LLM, once per repeat
    assert report["repeats"] == 2 and report["top_k"] == [0.25, 0.5, 0.75]
    assert report["category_counts"][0]["sibling"] == 2  # Blorpa at rank 1, both repeats


def test_attach_stores_a_run_for_the_report_pages(tmp_path):
    out = io.StringIO()
    call_command("evaluate_predictions", str(write_rows(tmp_path)), "--offline", "--k", "3", "--attach", "cluster ckpt",
                 "--model-name", "SkinFlow-7B", "--test-set", "F17k", "--dve", "yes", "--stage1", "no",
                 stdout=out, stderr=io.StringIO())
    run = EvalRun.objects.get(name="cluster ckpt")
    assert run.kind == EvalRun.Kind.IMPORTED and run.status == EvalRun.Status.DONE
    assert (run.uses_dve, run.uses_stage1, run.test_set) == (True, False, "F17k")
    assert run.metrics["top_k"] == [0.25, 0.5, 0.75]
    text = out.getvalue()
    assert "Top-1" in text and f"stored as evaluation run {run.id}" in text


def test_bad_rows_are_all_reported(tmp_path):
    path = write_rows(tmp_path, [{"id": "a", "reference": "", "predictions": []},
                                 {"id": "b", "reference": "x", "predictions": "psoriasis"},
                                 {"id": "c", "reference": "x", "predictions": [], "skin_type": 9}])
    with pytest.raises(CommandError) as info:
        call_command("evaluate_predictions", str(path), "--offline", stdout=io.StringIO())
    message = str(info.value)
    assert "3 bad row(s)" in message and "row 2" in message and "skin_type" in message
