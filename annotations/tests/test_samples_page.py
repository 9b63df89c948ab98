"""The samples page: filters and thumbnails made once and cached."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from annotations import services
from annotations.models import Dataset, Sample
from annotations.tests.images import jpeg_bytes, write


@pytest.fixture
def dataset(db, tmp_path):
    write(tmp_path / "src" / "psoriasis" / "1.jpg", jpeg_bytes((200, 10, 10), size=(600, 400)))
    write(tmp_path / "src" / "psoriasis" / "2.jpg", jpeg_bytes((10, 200, 10)))
    write(tmp_path / "src" / "melanoma" / "3.jpg", jpeg_bytes((10, 10, 200)))
    services.import_folder("Page test", tmp_path / "src", progress=False)
    ds = Dataset.objects.get(name="Page test")
    Sample.objects.filter(external_id="psoriasis/1.jpg").update(fitzpatrick=2, split="test", state="needs_expert")
    Sample.objects.filter(external_id="psoriasis/2.jpg").update(fitzpatrick=5, split="train")
    Sample.objects.filter(external_id="melanoma/3.jpg").update(fitzpatrick=None, split="train")
    return ds


def shown(resp) -> set[str]:
    return {s.external_id for s in resp.context["page"]}


@pytest.mark.parametrize("query, expected", [
    ({}, {"psoriasis/1.jpg", "psoriasis/2.jpg", "melanoma/3.jpg"}),
    ({"label": "psoriasis"}, {"psoriasis/1.jpg", "psoriasis/2.jpg"}),
    ({"split": "test"}, {"psoriasis/1.jpg"}),
    ({"skin_type": "5"}, {"psoriasis/2.jpg"}),
    ({"skin_type": "unknown"}, {"melanoma/3.jpg"}),
    ({"state": "needs_expert"}, {"psoriasis/1.jpg"}),
    ({"label": "psoriasis", "split": "train"}, {"psoriasis/2.jpg"}),
])
def test_filters(derm_client, dataset, query, expected):
    resp = derm_client.get(reverse("sample-list", args=[dataset.id]), query)
    assert resp.status_code == 200
    assert shown(resp) == expected


def test_api_filters_match_the_page(derm_client, dataset):
    resp = derm_client.get("/api/samples/", {"dataset": dataset.id, "skin_type": "5"})
    assert [r["external_id"] for r in resp.json()["results"]] == ["psoriasis/2.jpg"]


def test_thumbnail_is_made_once_and_cached(derm_client, dataset, settings):
    sample = Sample.objects.get(external_id="psoriasis/1.jpg")
    page = derm_client.get(reverse("sample-list", args=[dataset.id])).content.decode()
    assert reverse("sample-thumbnail", args=[sample.id]) in page

    resp = derm_client.get(reverse("sample-thumbnail", args=[sample.id]))
    assert resp.status_code == 200 and resp["Content-Type"] == "image/jpeg"
    sample.refresh_from_db()
    thumb = Path(settings.MEDIA_ROOT) / sample.thumbnail
    from PIL import Image

    with Image.open(thumb) as img:
        assert max(img.size) == settings.SKINFLOW_THUMBNAIL_SIZE and img.size[0] > img.size[1]
    first_mtime = thumb.stat().st_mtime_ns
    derm_client.get(reverse("sample-thumbnail", args=[sample.id]))
    assert thumb.stat().st_mtime_ns == first_mtime


def test_full_image_is_served_only_through_the_view(derm_client, dataset, client):
    sample = Sample.objects.get(external_id="psoriasis/2.jpg")
    resp = derm_client.get(reverse("sample-image", args=[sample.id]))
    assert resp.status_code == 200 and b"".join(resp.streaming_content) == jpeg_bytes((10, 200, 10))


def test_missing_image_file_gives_a_clear_404(derm_client, dataset, settings):
    sample = Sample.objects.get(external_id="melanoma/3.jpg")
    (Path(settings.MEDIA_ROOT) / sample.image).unlink()
    resp = derm_client.get(reverse("sample-image", args=[sample.id]))
    assert resp.status_code == 404


def test_thumbnail_of_a_missing_file_is_a_404(derm_client, dataset, settings):
    sample = Sample.objects.get(external_id="psoriasis/2.jpg")
    (Path(settings.MEDIA_ROOT) / sample.image).unlink()
    assert derm_client.get(reverse("sample-thumbnail", args=[sample.id])).status_code == 404
    assert derm_client.get(f"/api/samples/{sample.id}/thumbnail/").status_code == 404


# ---- issue 13: thumbnails open the sample, bad filters are named, page numbers --------------------------------

def test_a_thumbnail_opens_the_samples_page_not_the_raw_file(derm_client, dataset):
    sample = Sample.objects.get(external_id="psoriasis/1.jpg")
    html = derm_client.get(reverse("sample-list", args=[dataset.id])).content.decode()
    card = html[html.index(f'data-sample="{sample.id}"'):]
    card = card[:card.index('<div class="card"') if '<div class="card"' in card else len(card)]
    review = reverse("review-sample", args=[sample.id])
    assert f'<a href="{review}" class="thumb"' in card and reverse("sample-thumbnail", args=[sample.id]) in card
    assert reverse("sample-image", args=[sample.id]) not in html
    # ... and that page opens for a dermatologist, read-only for a sample nobody can claim (auto-accepted here).
    Sample.objects.filter(pk=sample.pk).update(state=Sample.State.AUTO_ACCEPTED)
    page = derm_client.get(review)
    assert page.status_code == 200 and page.context["mine"] is False


@pytest.mark.parametrize("query, named", [
    ({"split": "tst"}, "Split: “tst” is not a split: use one of train, val, test."),
    ({"state": "done"}, "State: “done” is not a sample state: use one of new, drafting, draft_failed, auto_accepted, "
                        "needs_expert, expert_accepted, expert_override, rejected."),
    ({"skin_type": "7"}, "Skin type: “7” is not a skin type: use one of 1, 2, 3, 4, 5, 6, unknown."),
    ({"has_image": "banana"}, "Has image: “banana” is not yes or no: use true or false, or leave it empty for any."),
    ({"exclude_from_eval": "maybe"}, "Excluded from evaluation: “maybe” is not yes or no"),
    ({"label": "eczema"}, "Label: “eczema” is not a label of this dataset: pick one of its 2 labels from the list"),
    ({"page": "two"}, "Page: “two” is not a page number: use a whole number from 1."),
    ({"page": "-1"}, "Page: there is no page before 1"),
    ({"page": "4"}, "Page: there is no page 4; the list has 1 page, so page 1 is shown."),
])
def test_a_bad_filter_value_is_named_with_the_allowed_ones(derm_client, dataset, query, named):
    resp = derm_client.get(reverse("sample-list", args=[dataset.id]), {**query, "label_contains": "psor"})
    assert resp.status_code == 400
    html = resp.content.decode()
    assert 'id="filter-errors"' in html and named in html
    assert shown(resp) == {"psoriasis/1.jpg", "psoriasis/2.jpg"}  # the good filter still applies


def test_good_filter_values_raise_no_message(derm_client, dataset):
    resp = derm_client.get(reverse("sample-list", args=[dataset.id]),
                           {"split": "train", "has_image": "true", "exclude_from_eval": "false", "page": "1"})
    assert resp.status_code == 200 and 'id="filter-errors"' not in resp.content.decode()
    assert shown(resp) == {"psoriasis/2.jpg", "melanoma/3.jpg"}
    assert '<option value="true" selected>yes</option>' in resp.content.decode()  # the choice stays shown


@pytest.mark.parametrize("param, value, named", [
    ("split", "tst", "“tst” is not a split"), ("state", "done", "“done” is not a sample state"),
    ("skin_type", "7", "“7” is not a skin type"), ("has_image", "banana", "“banana” is not yes or no"),
    ("exclude_from_eval", "maybe", "“maybe” is not yes or no"), ("dataset", "abc", "“abc” is not a dataset id"),
])
def test_the_api_answers_400_naming_the_bad_filter(derm_client, dataset, param, value, named):
    resp = derm_client.get("/api/samples/", {param: value})
    assert resp.status_code == 400 and named in resp.json()[param][0]


def test_page_numbers_and_the_jump_keep_the_filters(derm_client, db):
    ds = Dataset.objects.create(name="Many", source="folder")
    Sample.objects.bulk_create([Sample(dataset=ds, external_id=f"x{i:03d}", label="acne", split="train")
                                for i in range(300)] + [Sample(dataset=ds, external_id="t", label="acne", split="test")])
    url = reverse("sample-list", args=[ds.id])
    resp = derm_client.get(url, {"split": "train", "label": "acne", "page": "4"})
    assert resp.status_code == 200 and resp.context["page"].number == 4
    assert resp.context["page"].paginator.num_pages == 7  # 300 at 48 a page
    html = resp.content.decode()
    pager = html[html.index('<nav class="pager"'):html.index("</nav>", html.index('<nav class="pager"'))]
    for n in (1, 2, 3, 5, 6, 7):
        assert f'href="?split=train&amp;label=acne&amp;page={n}"' in pager
    assert '<b aria-current="page">4</b>' in pager
    assert '<input type="hidden" name="split" value="train">' in pager
    assert '<input type="hidden" name="label" value="acne">' in pager
    assert 'name="page" min="1" max="7" value="4"' in pager
    jumped = derm_client.get(url, {"split": "train", "label": "acne", "page": "7"})
    assert len(jumped.context["page"].object_list) == 300 - 6 * 48


def test_the_dataset_list_links_counts_to_the_filtered_samples(derm_client, dataset):
    html = derm_client.get(reverse("home")).content.decode()
    url = reverse("sample-list", args=[dataset.id])
    assert f'<a href="{url}?state=needs_expert">1</a>' in html
    resp = derm_client.get(f"{url}?state=needs_expert")
    assert resp.status_code == 200 and shown(resp) == {"psoriasis/1.jpg"}
