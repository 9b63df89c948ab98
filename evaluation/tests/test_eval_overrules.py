"""Overrules are per dermatologist and append-only: each verdict and each withdrawal is a new row,
only its author can withdraw a verdict, the latest standing verdict per prediction counts in the
metrics, and judge agreement counts every dermatologist."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from evaluation import selectors, services
from evaluation.judge import ClinicalJudge
from evaluation.models import EvalRun, Overrule
from evaluation.tests.eval_fixtures import make_test_set
from webapp.roles import DERMATOLOGIST

pytestmark = pytest.mark.django_db

# Offline judge: s1 rank 1 exact; s2 rank 1 "seborrheic keratosis" for a melanoma is safety-critical,
# rank 2 exact; s5 rank 2 acne exact. Top-1 = 1/3 before any overrule.
ROWS = [
    {"id": "s1", "reference": "psoriasis", "predictions": ["psoriasis", "lichen planus"], "skin_type": 2},
    {"id": "s2", "reference": "melanoma", "predictions": ["seborrheic keratosis", "melanoma"], "skin_type": 5},
    {"id": "s5", "reference": "acne vulgaris", "predictions": ["rosacea", "acne"], "skin_type": 3},
]


def finished_run() -> EvalRun:
    dataset = make_test_set("overrule set")
    run = services.import_predictions(ROWS, name="r", model_name="M", test_set="T", k=6, judge_repeats=1,
                                      dataset=dataset)
    services.store_offline_judgements(run, ClinicalJudge())
    run.refresh_from_db()
    assert run.status == EvalRun.Status.DONE
    return run


@pytest.fixture
def second_dermatologist(django_user_model):
    from webapp.roles import grant_role

    user = django_user_model.objects.create_user(username="bea", password="another horse battery")
    grant_role(user, DERMATOLOGIST)
    return user


def top1(run: EvalRun) -> float:
    run.refresh_from_db()
    return run.metrics["top_k"][0]


def test_only_the_author_can_withdraw_a_verdict(dermatologist, second_dermatologist):
    run = finished_run()
    s2 = run.items.get(external_id="s2")
    services.overrule(s2, 1, "exact", dermatologist, note="really an SK")
    with pytest.raises(services.EvalError, match="only the dermatologist who gave a verdict"):
        services.withdraw_overrule(s2, 1, second_dermatologist)
    assert top1(run) == pytest.approx(2 / 3)  # A's verdict still counts
    # Through the page too: B's withdraw request is refused and appends nothing.
    client = Client()
    client.force_login(second_dermatologist)
    page = client.get(reverse("eval-item", args=[s2.id])).content.decode()
    assert "Withdraw my verdict" not in page  # B has no verdict of their own here
    response = client.post(reverse("eval-item-overrule", args=[s2.id]), {"rank": 1, "withdraw": "1"}, follow=True)
    assert "only the dermatologist who gave a verdict" in response.content.decode()
    assert Overrule.objects.filter(item=s2).count() == 1
    # A can withdraw their own.
    services.withdraw_overrule(s2, 1, dermatologist)
    assert top1(run) == pytest.approx(1 / 3)
    with pytest.raises(services.EvalError):  # nothing left to withdraw
        services.withdraw_overrule(s2, 1, dermatologist)


def test_history_is_append_only_and_shown_on_the_item_page(derm_client, dermatologist, second_dermatologist):
    run = finished_run()
    s2 = run.items.get(external_id="s2")
    first = services.overrule(s2, 1, "exact", dermatologist, note="first look")
    services.overrule(s2, 1, "sibling", dermatologist, note="changed my mind")
    services.overrule(s2, 1, "safety_critical", second_dermatologist, note="agree with the judge")
    services.withdraw_overrule(s2, 1, dermatologist, note="leaving it to Bea")
    log = list(Overrule.objects.filter(item=s2).order_by("id").values_list("user__username", "category", "withdrawn"))
    assert log == [("derm", "exact", False), ("derm", "sibling", False), ("bea", "safety_critical", False),
                   ("derm", "", True)]
    first.refresh_from_db()
    assert (first.category, first.note, first.judge_category) == ("exact", "first look", "safety_critical")
    # Rows cannot be changed or removed one by one.
    with pytest.raises(TypeError):
        first.save()
    with pytest.raises(TypeError):
        first.delete()
    with pytest.raises(TypeError):
        Overrule.objects.filter(item=s2).update(category="exact")
    with pytest.raises(TypeError):
        Overrule.objects.filter(item=s2).delete()

    page = derm_client.get(reverse("eval-item", args=[s2.id])).content.decode()
    assert "History (4)" in page
    for text in ("first look", "changed my mind", "agree with the judge", "leaving it to Bea", "withdrew their verdict",
                 "bea"):
        assert text in page
    # The exports carry the log and who made the verdict that counts.
    log_json = derm_client.get(reverse("eval-run-overrules", args=[run.id])).json()["overrules"]
    assert [(r["user"], r["action"], r["category"]) for r in log_json] == [
        ("derm", "overrule", "exact"), ("derm", "overrule", "sibling"), ("bea", "overrule", "safety_critical"),
        ("derm", "withdraw", "")]
    api = derm_client.get(f"/api/eval-runs/{run.id}/overrules/").json()
    assert len(api) == 4 and api[-1]["action"] == "withdraw"
    rows = list(csv.DictReader(io.StringIO(derm_client.get(reverse("eval-run-csv", args=[run.id])).content.decode())))
    s2_rank1 = next(r for r in rows if r["id"] == "s2" and r["rank"] == "1")
    assert (s2_rank1["overrule"], s2_rank1["overrule_by"], s2_rank1["dermatologist_verdicts"]) == (
        "safety_critical", "bea", "bea=safety_critical")


def test_latest_standing_verdict_wins_in_the_metrics(dermatologist, second_dermatologist):
    run = finished_run()
    s2 = run.items.get(external_id="s2")
    assert top1(run) == pytest.approx(1 / 3)
    services.overrule(s2, 1, "exact", dermatologist)
    assert top1(run) == pytest.approx(2 / 3)
    services.overrule(s2, 1, "sibling", second_dermatologist)  # later: B's verdict counts
    assert top1(run) == pytest.approx(1 / 3)
    services.withdraw_overrule(s2, 1, second_dermatologist)  # A's verdict stands again
    assert top1(run) == pytest.approx(2 / 3)
    services.withdraw_overrule(s2, 1, dermatologist)  # nobody's: the judge's category counts
    assert top1(run) == pytest.approx(1 / 3)
    services.overrule(s2, 1, "exact", second_dermatologist)
    rows = selectors.item_detail(s2)
    assert rows[0]["category"] == "exact" and rows[0]["overrule"].user == second_dermatologist


def test_agreement_counts_each_dermatologist(dermatologist, second_dermatologist):
    run = finished_run()
    s2 = run.items.get(external_id="s2")
    services.overrule(s2, 1, "exact", dermatologist)  # disagrees with the judge (safety-critical)
    services.overrule(s2, 1, "safety_critical", second_dermatologist)  # agrees
    run.refresh_from_db()
    agreement = run.metrics["agreement"]
    assert agreement["n"] == 2 and agreement["category_agreement"] == pytest.approx(0.5)
    # A changes their mind: still one pair per dermatologist, now both agree.
    services.overrule(s2, 1, "safety_critical", dermatologist)
    run.refresh_from_db()
    assert run.metrics["agreement"]["n"] == 2 and run.metrics["agreement"]["category_agreement"] == 1.0
    # A withdraws: only B's pair is left.
    services.withdraw_overrule(s2, 1, dermatologist)
    run.refresh_from_db()
    assert run.metrics["agreement"]["n"] == 1


@pytest.mark.django_db(transaction=True)
def test_migration_keeps_existing_overrules_as_standing_verdicts(django_user_model):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("evaluation", "0002_key_env_validators")], [("evaluation", "0003_append_only_overrules_run_states")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        user = django_user_model.objects.create_user(username="olddoc", password="x horse battery")
        run = old.get_model("evaluation", "EvalRun").objects.create(name="old", model_name="M", test_set="T",
                                                                     prompt="p", status="inferring")
        item = old.get_model("evaluation", "EvalItem").objects.create(run=run, external_id="a", reference="psoriasis",
                                                                      predictions=["psoriasis"], inferred=True)
        row = old.get_model("evaluation", "Overrule").objects.create(item=item, rank=1, category="sibling",
                                                                     judge_category="exact", note="kept",
                                                                     user_id=user.id)
        updated_at = row.updated_at
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    kept = Overrule.objects.get(id=row.id)
    assert (kept.category, kept.note, kept.withdrawn, kept.user_id) == ("sibling", "kept", False, user.id)
    assert kept.created_at == updated_at
    new_run = EvalRun.objects.get(id=run.id)
    assert [o.id for o in selectors.standing_overrules(new_run)] == [row.id]
    assert new_run.enqueued_at is not None  # an active run the reaper can now pick up
