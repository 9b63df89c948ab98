"""``manage.py judge``: JSON lines in, JSON lines out, offline and against the local LLM server."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from webapp.llm_testserver import Reply, ScriptedLLMServer, last_user_text


def run_judge(lines: list[str], *args: str) -> list[dict]:
    out, err = io.StringIO(), io.StringIO()
    call_command("judge", *args, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def pair(reference: str, prediction: str) -> str:
    return json.dumps({"reference": reference, "prediction": prediction})


def test_offline_judges_in_order_and_reports_bad_lines():
    lines = [
        pair("herpes zoster", "shingles"),
        pair("melanoma", "seborrheic keratosis"),
        "{not json",
        json.dumps({"reference": "psoriasis"}),
        "",
        pair("psoriasis", "Zorblaxian dermatosis"),
        json.dumps(["psoriasis", "eczema"]),
        pair("eczema", "atopic dermatitis"),
    ]
    results = run_judge(lines, "--offline")
    assert [r["line"] for r in results] == [1, 2, 3, 4, 6, 7, 8]
    exact, safety, bad_json, missing, unknown, not_object, subclass = results
    assert (exact["category"], exact["correct"], exact["source"]) == ("exact", True, "ontology")
    assert exact["reference_id"] == exact["prediction_id"] is not None
    assert (safety["category"], safety["correct"]) == ("safety_critical", False)
    assert "line 3" in bad_json["error"] and "not valid JSON" in bad_json["error"]
    assert "line 4" in missing["error"] and "'prediction'" in missing["error"]
    assert (unknown["category"], unknown["correct"], unknown["source"]) == ("unknown", None, None)
    assert unknown["prediction_id"] is None and unknown["reference_id"] is not None
    assert "line 7" in not_object["error"]
    assert subclass["category"] == "subclass" and subclass["correct"] is True


@pytest.fixture
def judge_server(settings, monkeypatch):
    """The local OpenAI-compatible server wired in as the judge endpoint through Django settings."""
    def respond(request):
        names = json.loads(last_user_text(request).rsplit("\n", 1)[-1])
        if any("Failing" in n for n in names):
            return Reply(status=400, text="rejected")
        return json.dumps({"verdicts": [{"name": n, "category": "unrelated", "rationale": "llm"} for n in names]})

    for var in ("SKINFLOW_JUDGE_BASE_URL", "SKINFLOW_JUDGE_MODEL", "SKINFLOW_JUDGE_API_KEY_ENV"):
        monkeypatch.delenv(var, raising=False)
    with ScriptedLLMServer(respond) as server:
        settings.SKINFLOW_LLM_BASE_URL = server.base_url
        settings.SKINFLOW_LLM_MODEL = "judge-test-model"
        yield server


@pytest.mark.django_db
def test_online_batches_one_llm_call_per_reference(judge_server):
    from webapp.models import LLMCall

    lines = [
        pair("psoriasis", "Zorblaxian dermatosis"),
        pair("melanoma", "Quux naevoid blastoma"),
        pair("psoriasis", "psoriasis"),
        pair("psoriasis", "Quux's papulosis"),
        pair("psoriasis", "Zorblaxian dermatosis"),
        "42",
        pair("melanoma", "melanoma"),
    ]
    results = run_judge(lines)
    assert judge_server.request_count == 2
    assert [r["line"] for r in results] == list(range(1, 8))
    assert [r.get("source") for r in results] == ["llm", "llm", "ontology", "llm", "llm", None, "ontology"]
    assert results[0]["category"] == "unrelated" and results[0]["correct"] is False
    assert "line 6" in results[5]["error"]
    asked = sorted(json.loads(last_user_text(r).rsplit("\n", 1)[-1]) for r in judge_server.requests)
    assert asked == [["Quux naevoid blastoma"], ["Zorblaxian dermatosis", "Quux's papulosis"]]
    assert judge_server.requests[0]["model"] == "judge-test-model"
    assert LLMCall.objects.filter(role="judge").count() == 2  # usage is recorded


@pytest.mark.django_db
def test_online_llm_failure_gives_error_lines_and_keeps_going(judge_server):
    results = run_judge([pair("psoriasis", "Failing name"), pair("melanoma", "Zorblaxian dermatosis"),
                         pair("psoriasis", "psoriasis vulgaris")])
    assert "judge LLM failed" in results[0]["error"] and results[0]["line"] == 1
    assert results[1]["category"] == "unrelated"
    # A name the ontology decides is still answered although the reference's LLM call failed.
    assert results[2]["source"] == "ontology" and results[2]["category"] in {"exact", "subclass"}
