"""Folder, CSV and browser-upload imports, and their bad inputs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from annotations import services
from annotations.models import Dataset, Sample
from annotations.tests.images import jpeg_bytes, png_bytes, truncated_jpeg_bytes, write


@pytest.mark.django_db
def test_label_folders_import_with_labels_from_folder_names(tmp_path):
    src = tmp_path / "src"
    write(src / "psoriasis" / "a.jpg", jpeg_bytes())
    write(src / "tinea_corporis" / "b.png", png_bytes())
    result = services.import_folder("Clinic A", src, progress=False)
    assert (result.created, result.images_attached) == (2, 2)
    assert dict(Sample.objects.values_list("external_id", "label")) == {
        "psoriasis/a.jpg": "psoriasis", "tinea_corporis/b.png": "tinea corporis"}
    again = services.import_folder("Clinic A", src, progress=False)
    assert (again.created, again.unchanged) == (0, 2)


@pytest.mark.django_db
def test_csv_of_paths_and_labels(tmp_path):
    write(tmp_path / "imgs" / "1.jpg", jpeg_bytes())
    (tmp_path / "labels.csv").write_text("path,label\nimgs/1.jpg,acne vulgaris\nimgs/2.jpg,acne\n,x\n../etc/passwd,y\n")
    with pytest.raises(CommandError, match="NOT imported"):
        call_command("import_folder", "Clinic B", csv=str(tmp_path / "labels.csv"), no_progress=True)
    result = services.import_folder("Clinic B", csv_path=tmp_path / "labels.csv", progress=False)
    assert [(e.row, e.message) for e in result.errors] == [
        ("line 3", "imgs/2.jpg does not exist"), ("line 4", "the path is empty"),
        ("line 5", "../etc/passwd points outside the CSV's folder; use relative paths")]
    assert Sample.objects.count() == 0


@pytest.mark.django_db
def test_csv_without_label_column(tmp_path):
    (tmp_path / "l.csv").write_text("file,diagnosis\na.jpg,acne\n")
    with pytest.raises(CommandError, match="lacks the column\\(s\\) path, label"):
        call_command("import_folder", "C", csv=str(tmp_path / "l.csv"))


@pytest.mark.django_db
def test_bad_files_in_a_folder_are_listed_and_nothing_is_half_imported(tmp_path, settings):
    src = tmp_path / "src"
    write(src / "acne" / "good.jpg", jpeg_bytes())
    write(src / "acne" / "cut.jpg", truncated_jpeg_bytes())
    write(src / "acne" / "notes.txt", b"hello")
    write(src / "loose.jpg", jpeg_bytes())
    result = services.import_folder("Clinic C", src, progress=False)
    assert not result.committed
    assert {e.row: e.field for e in result.errors} == {"acne/cut.jpg": "image", "acne/notes.txt": "image",
                                                        "loose.jpg": "path"}
    assert not Dataset.objects.filter(name="Clinic C").exists()
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.jpg"))


def _zip(files: dict[str, bytes]) -> SimpleUploadedFile:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return SimpleUploadedFile("upload.zip", buf.getvalue(), content_type="application/zip")


@pytest.mark.django_db
def test_admin_uploads_a_zip_in_the_browser(admin_client_role):
    archive = _zip({"eczema/1.jpg": jpeg_bytes(), "eczema/2.jpg": jpeg_bytes((1, 2, 3))})
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "Ward 3", "archive": archive})
    assert resp.status_code == 200
    assert "imported: 2 created" in resp.content.decode()
    assert Sample.objects.filter(dataset__name="Ward 3", label="eczema").count() == 2


@pytest.mark.django_db
def test_upload_of_a_broken_zip_explains(admin_client_role):
    bad = SimpleUploadedFile("x.zip", b"PK not really a zip", content_type="application/zip")
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "W", "archive": bad})
    assert resp.status_code == 400
    assert "not a valid ZIP file" in resp.content.decode()
    assert not Dataset.objects.filter(name="W").exists()


@pytest.mark.django_db
def test_zip_with_path_traversal_is_refused(admin_client_role):
    resp = admin_client_role.post(reverse("dataset-upload"),
                                  {"dataset": "W", "archive": _zip({"../../evil.jpg": jpeg_bytes()})})
    assert resp.status_code == 400 and "points outside the archive" in resp.content.decode()


@pytest.mark.django_db
def test_loose_images_need_a_label(admin_client_role):
    img = SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg")
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "W", "images": [img]})
    assert resp.status_code == 400
    assert "Loose images need a label" in resp.content.decode()
    img = SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg")
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "W", "images": [img], "label": "vitiligo"})
    assert resp.status_code == 200 and Sample.objects.get(dataset__name="W").label == "vitiligo"


@pytest.mark.django_db
def test_upload_of_a_non_image_with_image_name_is_reported(admin_client_role):
    fake = SimpleUploadedFile("scan.jpg", b"%PDF-1.4 not an image", content_type="image/jpeg")
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "W", "images": [fake], "label": "acne"})
    assert resp.status_code == 400
    assert "scan.jpg is not an image Pillow can read" in resp.content.decode()


@pytest.mark.django_db
def test_dermatologist_cannot_upload(derm_client):
    assert derm_client.get(reverse("dataset-upload")).status_code == 403


@pytest.mark.django_db
def test_api_upload_reports_rows(admin_user, client):
    from knox.models import AuthToken

    _, key = AuthToken.objects.create(user=admin_user)
    archive = _zip({"acne/ok.jpg": jpeg_bytes(), "acne/bad.jpg": b"nope"})
    resp = client.post("/api/datasets/upload/", {"dataset": "API set", "archive": archive},
                       HTTP_AUTHORIZATION=f"Token {key}")
    assert resp.status_code == 400
    body = resp.json()
    assert body["committed"] is False and body["errors"][0]["row"] == "acne/bad.jpg"


@pytest.mark.django_db
def test_loose_images_with_a_dots_label_or_twin_names_are_refused(admin_client_role):
    img = lambda: SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg")  # noqa: E731
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "W", "images": [img()], "label": ".."})
    assert resp.status_code == 400 and "not only dots" in resp.content.decode()
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "W", "images": [img(), img()],
                                                              "label": "acne"})
    assert resp.status_code == 400 and "Two files are named a.jpg" in resp.content.decode()
