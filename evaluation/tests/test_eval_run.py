"""An evaluation run end to end against the local OpenAI-compatible server: the model's answers are
scripted per image, the judge decides by ontology first and asks the LLM for the rest, and the
Top-k results are known in advance."""

from __future__ import annotations

import pytest

from evaluation import selectors, services
from evaluation.models import EvalItem, EvalRun, Judgement
from evaluation.tests.eval_fixtures import JUDGE_ID, MODEL_ID, Script, make_test_set
from webapp.celery_app import app
from webapp.llm_testserver import ScriptedLLMServer
from webapp.models import LLMCall

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery():
    # The app reads Django's CELERY_* names (namespace "CELERY"): those keys win over the short ones.
    app.conf.CELERY_TASK_ALWAYS_EAGER = app.conf.CELERY_TASK_EAGER_PROPAGATES = True
    yield
    app.conf.CELERY_TASK_ALWAYS_EAGER = app.conf.CELERY_TASK_EAGER_PROPAGATES = False


@pytest.fixture
def server(monkeypatch, settings):
    script = Script.for_cases()
    with ScriptedLLMServer(script) as srv:
        monkeypatch.setenv("SKINFLOW_JUDGE_BASE_URL", srv.base_url)
        monkeypatch.setenv("SKINFLOW_JUDGE_MODEL", JUDGE_ID)
        srv.script = script
        yield srv


def run_for(dataset, srv, **kw) -> EvalRun:
    return services.create_run(name="scripted", model_name="Scripted-VL", dataset=dataset, test_set="Clinic",
                               base_url=srv.base_url, endpoint_model=MODEL_ID, k=3, judge_repeats=2,
                               price_prompt_per_mtok=1.0, price_completion_per_mtok=2.0, **kw)


def test_run_infers_judges_and_reports_known_top_k(server, eager_celery, django_capture_on_commit_callbacks,
                                                   admin_user):
    dataset = make_test_set()
    with django_capture_on_commit_callbacks(execute=True):
        run = run_for(dataset, server, user=admin_user)
    run.refresh_from_db()
    assert run.status == EvalRun.Status.DONE, run.error

    # The qc-excluded sample was never sampled; the malformed answer is stored as invalid.
    assert sorted(run.items.values_list("external_id", flat=True)) == ["s1", "s2", "s3", "s5"]
    s3 = run.items.get(external_id="s3")
    assert s3.parse_ok is False and s3.predictions == [] and "JSON" in s3.parse_error

    m = run.metrics
    assert m["n"] == 4 and m["repeats"] == 2 and m["k"] == 3
    # Top-1: only s1. Top-2: s2 also in the repeat where the judge called "Kraxl syndrome" exact.
    # Top-3: s5 ("acne" at rank 3) as well.
    assert m["top_k"] == pytest.approx([0.25, 0.375, 0.625])
    # Which repeat's call came first is up to concurrency; one repeat has each row.
    assert sorted(m["top_k_per_repeat"]) == [[0.25, 0.25, 0.5], [0.25, 0.5, 0.75]]
    assert m["top_k_std"][0] == 0 and m["top_k_std"][1] == pytest.approx(0.1767767)
    assert m["category_counts"][0]["safety_critical"] == 2  # seborrheic keratosis for a melanoma, both repeats
    assert m["category_counts"][0]["missing"] == 2  # s3's empty list, both repeats
    assert m["invalid_answers"] == 1
    assert m["skin_types"]["groups"]["5-6"]["n"] == 1

    # Model: one call per sample. Judge: one call per (sample, repeat) that the ontology could not
    # settle (s2 and s5), each for the whole list's unresolved names.
    model_calls = [r for r in server.requests if r["model"] == MODEL_ID]
    judge_calls = [r for r in server.requests if r["model"] == JUDGE_ID]
    assert len(model_calls) == 4
    assert len(judge_calls) == 4
    assert server.script.judge_names == {"Kraxl syndrome": 2, "Blorpa papulosis": 2}
    sources = {v["source"] for j in Judgement.objects.filter(item__run=run) for v in j.verdicts}
    assert sources == {"ontology", "llm"}

    # Tokens and cost are recorded.
    progress = selectors.progress(run)
    assert progress["inferred"] == 4 and progress["judgements"] == 8 == progress["judgements_total"]
    assert progress["model_prompt_tokens"] > 0 and progress["model_completion_tokens"] > 0
    assert progress["judge_prompt_tokens"] > 0
    expected_cost = (progress["model_prompt_tokens"] * 1.0 + progress["model_completion_tokens"] * 2.0) / 1e6
    assert progress["cost"] == pytest.approx(expected_cost)
    assert LLMCall.objects.filter(purpose=f"eval-run:{run.id}:model").count() == 4
    assert LLMCall.objects.filter(purpose=f"eval-run:{run.id}:judge").count() == 4


def test_overrule_changes_the_metrics_and_shows_agreement(server, eager_celery, django_capture_on_commit_callbacks,
                                                          dermatologist):
    dataset = make_test_set()
    with django_capture_on_commit_callbacks(execute=True):
        run = run_for(dataset, server)
    run.refresh_from_db()
    assert run.metrics["top_k"][1] == pytest.approx(0.375)
    s2 = run.items.get(external_id="s2")
    services.overrule(s2, 2, "sibling", dermatologist, note="not a real entity")
    run.refresh_from_db()
    # The overrule wins in both repeats: s2 no longer counts at Top-2.
    assert run.metrics["top_k"][1] == pytest.approx(0.25)
    assert run.metrics["agreement"]["n"] == 1
    # The judge's majority was ambiguous (exact once, sibling once): the first repeat's breaks the tie.
    assert run.metrics["agreement"]["category_agreement"] in (0.0, 1.0)
    s1 = run.items.get(external_id="s1")
    services.overrule(s1, 1, "exact", dermatologist)  # a confirmation: agreement
    run.refresh_from_db()
    assert run.metrics["agreement"]["n"] == 2
    with pytest.raises(services.EvalError):
        services.overrule(s1, 3, "exact", dermatologist)  # s1 has only two predictions


def test_seeded_sample_is_stable_and_skips_excluded_rows():
    dataset = make_test_set()
    first = [s.external_id for s in services.select_test_samples(dataset, split="test", sample_size=2, seed=7)]
    again = [s.external_id for s in services.select_test_samples(dataset, split="test", sample_size=2, seed=7)]
    everything = [s.external_id for s in services.select_test_samples(dataset, split="test")]
    assert first == again and len(first) == 2
    assert "s4" not in everything and len(everything) == 4


def test_a_model_outage_fails_the_run_and_resume_finishes_it(monkeypatch, eager_celery,
                                                              django_capture_on_commit_callbacks, settings):
    dataset = make_test_set()
    script = Script.for_cases()
    broken = {"on": True}

    def respond(request):
        from webapp.llm_testserver import Reply

        if broken["on"] and request.get("model") == MODEL_ID:
            return Reply(status=400)  # not retried by the gateway
        return script(request)

    with ScriptedLLMServer(respond) as srv:
        monkeypatch.setenv("SKINFLOW_JUDGE_BASE_URL", srv.base_url)
        monkeypatch.setenv("SKINFLOW_JUDGE_MODEL", JUDGE_ID)
        with django_capture_on_commit_callbacks(execute=True):
            run = run_for(dataset, srv)
        run.refresh_from_db()
        assert run.status == EvalRun.Status.FAILED and "4 of 4 model calls failed" in run.error
        assert EvalItem.objects.filter(run=run, inference_error__contains="HTTP 400").count() == 4
        broken["on"] = False
        with django_capture_on_commit_callbacks(execute=True):
            services.start_run(run)
        run.refresh_from_db()
        assert run.status == EvalRun.Status.DONE
        assert run.metrics["top_k"] == pytest.approx([0.25, 0.375, 0.625])
