"""Every page and API route, visited by every role over awkward data, answers below 500.

The crawler starts at "/" and follows every same-site link and image it finds (breadth first, bounded),
then visits every GET route of the API schema with a real object's id — and each of those routes with a
``.json`` format suffix, which DRF's router adds to every route. The data comes from
``webapp.tests.awkward_data.seed_awkward_data``: extend that module when a user finds a new way to break a
page, and this test visits it everywhere.
"""

from __future__ import annotations

import os
import re
import traceback
from collections import Counter, deque
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import pytest
from django.test import Client

from webapp.tests.api_routes import IdFiller, schema_paths
from annotations.models import Sample
from webapp.tests.awkward_data import AWKWARD, AwkwardData, seed_awkward_data

_TRACE = bool(os.environ.get("SKINFLOW_CRAWL_TRACE"))  # print every URL visited
MAX_URLS = 400
MAX_PER_SHAPE = 4   # e.g. /samples/<n>/image/: a few of each shape are enough, and bound the crawl
SKIP_PREFIXES = ("/logout/", "/static/", "/admin/logout/")
ROLES = ("anonymous", "no_role_user", "dermatologist", "admin_user")

# 500s whose fix is under way elsewhere: (URL regex, who fixes it). A failure matching one of these turns
# the test into an expected failure instead of a red one; remove the entry once it is fixed. Every other
# 500 fails the test.
KNOWN_ELSEWHERE: list[tuple[str, str]] = []


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and ((name == "href" and tag in ("a", "link")) or (name == "src" and tag in ("img", "script"))):
                self.links.append(value)


def _same_site(base: str, link: str) -> str | None:
    if link.startswith(("#", "mailto:", "javascript:", "data:")):
        return None
    parts = urlsplit(urljoin(base, link))
    if parts.netloc not in ("", "testserver"):
        return None
    url = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.path.startswith(SKIP_PREFIXES):
        return None
    return url


def _shape(url: str) -> str:
    parts = urlsplit(url)
    keys = sorted(k.split("=")[0] for k in parts.query.split("&") if k)
    return re.sub(r"\d+", "N", parts.path) + "?" + "&".join(keys)


def _api_get_routes(admin: Client, data: AwkwardData) -> list[str]:
    """Every GET path of the API schema, with the ids of real objects."""
    fill = IdFiller(admin, data)
    routes = [fill(path) for path, methods in schema_paths().items() if "get" in methods]
    # DRF's DefaultRouter can answer every route with a format suffix as well (/x/1/progress.json); with the
    # suffixes switched off these are 404s, which is fine: never a 500.
    suffixed = [r.rstrip("/") + ".json" for r in routes if r.startswith("/api/") and r != "/api/schema/"]
    return routes + suffixed


def _page_routes(data: AwkwardData) -> list[str]:
    """Pages the links may not reach: every sample's pages (one per state, with and without an image), and
    the sample list filtered to each state, to the empty skin-type group and to an awkward label."""
    awkward = quote(data.samples[1].label)
    run = data.ids["training_run"][0]
    urls = []
    for pk in data.ids["sample"]:
        urls += [f"/review/samples/{pk}/", f"/samples/{pk}/image/", f"/samples/{pk}/thumbnail/"]
    dataset = f"/datasets/{data.dataset.pk}/samples/"
    urls += [f"{dataset}?state={state.value}" for state in Sample.State]
    urls += [f"{dataset}?fitzpatrick=6", f"{dataset}?label={awkward}", f"{dataset}?page=99", f"{dataset}?page=x"]
    urls += [f"/training/runs/{run}/log", f"/training/compare/?runs={run}&runs={run}",
             f"/training/compare/chart.svg?runs={run}&metric={quote(AWKWARD)}"]
    eval_run = data.ids["eval_run"][0]
    urls += [f"/evaluation/runs/{eval_run}/samples/?skin_type=6", f"/evaluation/compare/?runs={eval_run}"]
    # "²" is a digit to str.isdigit and not to int(): every number a query string carries, given one.
    odd = quote("²")
    urls += [f"{dataset}?page={odd}", f"/evaluation/runs/{eval_run}/samples/?page={odd}", f"/review/?dataset={odd}",
             f"/review/mine/?dataset={odd}", f"/api/training/runs/{run}/progress/?after={odd}",
             f"/evaluation/attention/?a={odd}&b={odd}", f"/training/compare/?runs={odd}",
             f"/api/review/samples/counts/?dataset={odd}", f"/evaluation/runs/{eval_run}/confusions/?page={odd}"]
    return urls


def _crawl(client: Client, extra: list[str]) -> tuple[list[tuple[str, str]], int]:
    """Visit "/" and every link found, then ``extra``; return (url, what went wrong) for each 5xx."""
    queue = deque(["/", "/api/", "/api/schema/", "/api/docs/", *extra])
    seen: set[str] = set(queue)
    shapes: Counter[str] = Counter()
    failures: list[tuple[str, str]] = []
    visited = 0
    while queue and visited < MAX_URLS:
        url = queue.popleft()
        visited += 1
        if _TRACE:
            print("crawl:", url)
        try:
            response = client.get(url)
        except Exception:  # the test client re-raises a view's exception: keep it, visit the rest
            failures.append((url, traceback.format_exc(limit=-6)))
            continue
        if response.status_code >= 500:
            failures.append((url, f"status {response.status_code}"))
            continue
        if not response.get("Content-Type", "").startswith("text/html") or response.status_code != 200:
            continue
        if getattr(response, "streaming", False):
            continue
        parser = _Links()
        parser.feed(response.content.decode("utf-8", "replace"))
        for link in parser.links:
            target = _same_site(url, link)
            if target is None or target in seen:
                continue
            seen.add(target)
            shape = _shape(target)
            if shapes[shape] >= MAX_PER_SHAPE:
                continue
            shapes[shape] += 1
            queue.append(target)
    return failures, visited


@pytest.fixture
def awkward(db, dermatologist):
    return seed_awkward_data(author=dermatologist)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_no_page_or_api_route_answers_500(request, role, awkward, admin_user, settings):
    settings.SKINFLOW_TRAINING_DIR = str(settings.MEDIA_ROOT.parent / "training")
    admin = Client()
    admin.force_login(admin_user)
    api_routes = _api_get_routes(admin, awkward)
    client = Client()
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    failures, visited = _crawl(client, _page_routes(awkward) + api_routes)
    assert visited > 30, f"the crawl reached only {visited} URLs: are the links still found?"
    unknown = [(url, why) for url, why in failures
               if not any(re.search(pattern, url) for pattern, _ in KNOWN_ELSEWHERE)]
    report = "\n\n".join(f"{url}\n{why}" for url, why in failures)
    assert not unknown, f"{len(unknown)} URL(s) answered 5xx as {role}:\n\n{report}"
    if failures:
        pytest.xfail(f"only 5xx being fixed elsewhere ({len(failures)}):\n{report}")


@pytest.mark.django_db
def test_the_crawler_reports_a_page_that_fails(admin_client_role, monkeypatch):
    # The check above is only worth something if a failing page shows up in its report.
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr("annotations.selectors.dataset_list", broken)
    failures, _ = _crawl(admin_client_role, [])
    assert [url for url, _ in failures] == ["/"] and "RuntimeError: boom" in failures[0][1]
