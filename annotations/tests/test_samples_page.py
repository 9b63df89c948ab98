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
