"""No server error on data a user can create: every evaluation page, plot, export and API route is
visited with awkward names ($, quotes, angle brackets), empty Fitzpatrick groups, a run whose every
item failed, an empty run, a run without metrics, and bad query parameters."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from evaluation import services
from evaluation.judge import ClinicalJudge
from evaluation.models import AttentionAnalysis, EvalItem, EvalRun
from evaluation.tests.eval_fixtures import make_test_set

pytestmark = pytest.mark.django_db

AWKWARD = "$5 & 10$ \"double\" 'single' <b>x</b> $\\oops{1e-6}$"
ROWS = [  # skin types 2 and 3 only: the 5-6 group has no samples
    {"id": "s1", "reference": "psoriasis", "predictions": ["psoriasis", f"lichen {AWKWARD}"], "skin_type": 2},
    {"id": "s2", "reference": "melanoma", "predictions": ["seborrheic keratosis"], "skin_type": 3},
    {"id": "s5", "reference": "acne vulgaris", "predictions": [], "skin_type": None},
]


def imported(name: str, rows=ROWS, offline: bool = True) -> EvalRun:
    dataset = make_test_set(f"{name} set")
    run = services.import_predictions(rows, name=name, model_name=f"Model {AWKWARD}", test_set=f"Set {AWKWARD}",
                                      k=3, judge_repeats=1, dataset=dataset)
    if offline:
        services.store_offline_judgements(run, ClinicalJudge())
    run.refresh_from_db()
    return run


@pytest.fixture
def awkward(dermatologist):
    finished = imported(f"Run {AWKWARD}")
    other = imported(f"Other {AWKWARD}")  # a second done run: the Top-k plot compares with it
    item = finished.items.get(external_id="s1")
    services.overrule(item, 1, "sibling", dermatologist, note=f"note {AWKWARD}")
    # A dermatologist who has since left: their verdict has no author any more.
    leaver = get_user_model().objects.create_user(username="leaver", password="x horse battery")
    services.overrule(item, 2, "exact", leaver)
    leaver.delete()

    empty = imported("empty", rows=[])  # nothing to judge
    pending = services.create_run(name=f"pending {AWKWARD}", model_name=f"M {AWKWARD}", dataset=make_test_set("p"),
                                  base_url="http://127.0.0.1:9/v1", endpoint_model="m", start=False)
    all_failed = services.create_run(name="all failed", model_name="M", dataset=make_test_set("f"),
                                     base_url="http://127.0.0.1:9/v1", endpoint_model="m", start=False)
    EvalItem.objects.filter(run=all_failed).update(inference_error="HTTP 400 <bad request> $x$")
    services.judge_pending(all_failed.id)
    partial = imported("partial", offline=False)
    EvalItem.objects.filter(run=partial, external_id="s5").update(inferred=False)
    services.store_offline_judgements(partial, ClinicalJudge())
    from evaluation.attention import HIST_LABELS

    bins = len(HIST_LABELS)
    AttentionAnalysis.objects.create(name=f"Attn {AWKWARD}", checkpoint="/nowhere", status="done",
                                     histogram={"labels": list(HIST_LABELS), "counts": [1] * bins,
                                                "shares": [1 / bins] * bins, "images": 1}, maps=[])
    services.record_reward_validation("default", f"RV {AWKWARD}", 5.0, 0.5, n=3)
    services.record_reward_validation("default", "plain", 6.0, 0.7, n=3)
    for run in (finished, other, empty, pending, all_failed, partial):
        run.refresh_from_db()
    return {"finished": finished, "other": other, "empty": empty, "pending": pending, "all_failed": all_failed,
            "partial": partial}


def test_the_awkward_runs_end_in_honest_states(awkward):
    assert awkward["finished"].status == EvalRun.Status.DONE
    assert awkward["empty"].status == EvalRun.Status.FAILED and "no samples" in awkward["empty"].error
    assert awkward["all_failed"].status == EvalRun.Status.FAILED
    assert awkward["partial"].status == EvalRun.Status.PARTIALLY_FAILED
    assert awkward["pending"].status == EvalRun.Status.PENDING and awkward["pending"].metrics == {}
    groups = awkward["finished"].metrics["skin_types"]["groups"]
    assert groups["5-6"]["n"] == 0 and groups["5-6"]["top_k"] is None


def page_urls(runs: dict[str, EvalRun]) -> list[str]:
    a, b = runs["finished"], runs["other"]
    item = a.items.get(external_id="s1")
    urls = [
        reverse("eval-index"), reverse("eval-ablation"), reverse("eval-leaderboard-csv"),
        reverse("eval-compare"), reverse("eval-compare") + f"?a={a.id}&b={b.id}", reverse("eval-compare") + "?a=abc&b=-1",
        reverse("eval-reward-validation"), reverse("eval-reward-validation") + "?format=svg",
        reverse("eval-reward-validation") + "?format=json", reverse("eval-reward-validation") + "?study=%24%22%3Cx",
        reverse("eval-attention"), reverse("eval-attention") + "?a=abc", reverse("eval-attention-plot") + "?a=abc",
        reverse("eval-run-new"),
        reverse("eval-item", args=[item.id]),
    ]
    attention = AttentionAnalysis.objects.get()
    urls += [reverse("eval-attention") + f"?a={attention.id}", reverse("eval-attention-plot") + f"?a={attention.id}"]
    for run in runs.values():
        urls += [
            reverse("eval-run", args=[run.id]), reverse("eval-run-progress", args=[run.id]),
            reverse("eval-run-metrics", args=[run.id]), reverse("eval-run-csv", args=[run.id]),
            reverse("eval-run-overrules", args=[run.id]),
            reverse("eval-samples", args=[run.id]), reverse("eval-samples", args=[run.id]) + "?page=abc",
            reverse("eval-samples", args=[run.id]) + "?page=999&label=%3Cb%3E",
            reverse("eval-run-plot", args=[run.id, "topk"]) + f"?with={b.id}&with=abc&with=-3",
            reverse("eval-run-plot", args=[run.id, "categories"]), reverse("eval-run-plot", args=[run.id, "skintypes"]),
            reverse("eval-run-plot", args=[run.id, "nope"]),
        ]
        urls += [reverse("eval-item", args=[i.id]) for i in run.items.all()[:3]]
    return urls


def api_urls(runs: dict[str, EvalRun]) -> list[str]:
    urls = ["/api/eval-runs/", "/api/eval-runs/?page=abc", "/api/eval-runs/?status=bogus",
            "/api/eval-runs/?model_name=%24%3Cb%3E", "/api/eval-runs/999999/"]
    for run in runs.values():
        urls += [f"/api/eval-runs/{run.id}/", f"/api/eval-runs/{run.id}/progress/", f"/api/eval-runs/{run.id}/overrules/"]
    return urls


def test_every_evaluation_page_and_api_route_answers_without_a_server_error(awkward, admin_user, dermatologist):
    failures = []
    for user in (admin_user, dermatologist):
        client = Client(raise_request_exception=False)
        client.force_login(user)
        for url in page_urls(awkward):
            response = client.get(url)
            if response.status_code >= 500:
                failures.append((user.username, url, response.status_code))
        api = APIClient(raise_request_exception=False)
        api.force_authenticate(user)
        for url in api_urls(awkward):
            response = api.get(url)
            if response.status_code >= 500:
                failures.append((user.username, url, response.status_code))
    assert failures == []


def test_awkward_names_are_shown_escaped_and_plotted(derm_client, awkward):
    run = awkward["finished"]
    page = derm_client.get(reverse("eval-run", args=[run.id]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in body and "<b>x</b>" not in body
    # The empty 5-6 group is a row with a dash, not a crash.
    assert "5-6" in body
    for kind in ("topk", "categories", "skintypes"):
        svg = derm_client.get(reverse("eval-run-plot", args=[run.id, kind]) + f"?with={awkward['other'].id}")
        assert svg.status_code == 200 and b"<svg" in svg.content
    assert derm_client.get(reverse("eval-reward-validation") + "?format=svg").status_code == 200


def test_bad_posts_get_a_message_not_a_server_error(admin_user, awkward):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    run = awkward["finished"]
    item = run.items.get(external_id="s1")
    for data in ({"rank": "abc", "category": "exact"}, {"rank": 1, "category": "bogus"}, {"rank": 1},
                 {"rank": 99, "category": "exact"}, {"rank": 1, "withdraw": "1"}):
        response = client.post(reverse("eval-item-overrule", args=[item.id]), data, follow=True)
        assert response.status_code == 200, data
    for target in awkward.values():
        assert client.post(reverse("eval-run-resume", args=[target.id])).status_code < 500
    assert client.post(reverse("eval-run-new"), {"name": "x", "k": "abc"}).status_code == 200
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(admin_user)
    assert api.post("/api/eval-runs/", {"name": "x", "sample_size": "abc"}, format="json").status_code == 400
    assert api.post(f"/api/eval-runs/{run.id}/resume/").status_code == 409  # done
