"""Reward validation (Table 1): caption reward against caption-only diagnostic accuracy, with the
Stage I reward, a scripted diagnoser on the local server, and the clinical judge."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from annotations.schema import FIELDS
from evaluation.models import RewardValidation
from webapp.llm_testserver import ScriptedLLMServer, last_user_text

pytestmark = pytest.mark.django_db

REFERENCE = {name: f"typical {name.replace('_', ' ')}" for name in FIELDS}
REFERENCE.update(lesion_type="plaque", texture="silvery scale", color="red")


def caption(kept: int) -> dict:
    """The reference with only the first ``kept`` fields filled (the rest empty)."""
    return {name: (REFERENCE[name] if i < kept else "") for i, name in enumerate(FIELDS)}


def answer(name: str) -> str:
    return '<answer>{"top1_diseases": [{"disease": "%s", "probability": 0.9, "key_matching_fields": [], "brief_reason": "x"}]}</answer>' % name


def diagnoser(request: dict) -> str:
    # The description alone decides: silvery scale means psoriasis to this scripted model.
    return answer("psoriasis" if "silvery scale" in last_user_text(request) else "acne")


def test_reward_validation_stores_models_and_correlations(tmp_path, monkeypatch, derm_client):
    texture_at = FIELDS.index("texture")
    rows = []
    for i in range(2):
        rows += [
            {"model": "A", "id": f"a{i}", "label": "psoriasis", "caption": caption(3), "reference_caption": REFERENCE},
            {"model": "B", "id": f"b{i}", "label": "psoriasis", "caption": caption(texture_at + 1), "reference_caption": REFERENCE},
            {"model": "C", "id": f"c{i}", "label": "psoriasis", "caption": caption(len(FIELDS)), "reference_caption": REFERENCE},
            {"model": "D", "id": f"d{i}", "label": "psoriasis", "caption": "not a caption", "reference_caption": REFERENCE},
        ]
    path = tmp_path / "captions.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with ScriptedLLMServer(diagnoser) as server:
        monkeypatch.setenv("SKINFLOW_LLM_BASE_URL", server.base_url)
        for role in ("DIAGNOSER", "JUDGE", "SCORER"):
            monkeypatch.setenv(f"SKINFLOW_{role}_BASE_URL", server.base_url)
        out = io.StringIO()
        call_command("reward_validation", str(path), "--study", "t1", "--json", stdout=out)
        # Every caption field is decided without the scorer LLM (same text or empty); the judge
        # decides psoriasis/acne by ontology: only the diagnoser was asked, once per distinct valid
        # caption (each model's two captions are the same text, so the second is a cache hit).
        assert server.request_count == 3
    result = json.loads(out.getvalue())
    by_model = {m["model"]: m for m in result["models"]}
    assert by_model["A"]["caption_reward"] == pytest.approx(10 * 3 / len(FIELDS))
    assert by_model["C"]["caption_reward"] == pytest.approx(10.0)
    assert by_model["D"]["caption_reward"] == 0.0 and by_model["D"]["diagnostic_accuracy"] == 0.0
    assert [by_model[m]["diagnostic_accuracy"] for m in "ABC"] == [0.0, 1.0, 1.0]
    assert result["spearman"] == pytest.approx(4 / 20 ** 0.5)  # ranks 1-4 against tied 1.5,1.5,3.5,3.5
    assert RewardValidation.objects.filter(study="t1").count() == 4
    page = derm_client.get("/evaluation/reward-validation/?study=t1").content.decode()
    assert "Spearman" in page and "0.894" in page
    svg = derm_client.get("/evaluation/reward-validation/?study=t1&format=svg")
    assert svg["Content-Type"] == "image/svg+xml" and b"Pearson" in svg.content


def test_summary_lines_reproduce_table_1(tmp_path):
    table1 = [("Qwen2.5-VL-7B", 6.162, 0.1379), ("Qwen2.5-VL-72B", 6.688, 0.2300), ("Lingshu-32B", 5.924, 0.2414),
              ("InternVL3-78B", 6.912, 0.2644), ("Qwen3-VL-235B", 7.186, 0.2759)]
    path = tmp_path / "t1.jsonl"
    path.write_text("\n".join(json.dumps({"model": m, "caption_reward": r, "diagnostic_accuracy": a}) for m, r, a in table1))
    out = io.StringIO()
    call_command("reward_validation", str(path), "--summary", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["spearman"] == pytest.approx(0.7)
    assert 0.5 < result["pearson"] < 0.9
