"""Uploads and folder/CSV imports of files that are broken the ways real files are: every problem is
reported per file or row with what to do, nothing is imported, no image is left in the media folder,
and no request answers 500."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from annotations import archive, services
from annotations.import_report import ImportRejected
from annotations.models import Dataset, Sample
from annotations.tests.hostile_files import (as_deflate64, as_encrypted, with_bad_crc, with_lying_size,
                                             zip_bytes)
from annotations.tests.images import jpeg_bytes, png_bytes, write

GOOD = "eczema/good.jpg"
BAD = "eczema/bad.jpg"


def _upload(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("upload.zip", data, content_type="application/zip")


def _two_images() -> bytes:
    return zip_bytes({GOOD: jpeg_bytes(), BAD: jpeg_bytes((9, 9, 9), size=(120, 90))})


def _nothing_imported(settings, name: str = "Ward") -> None:
    assert not Dataset.objects.filter(name=name).exists()
    assert Sample.objects.count() == 0
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()], "media files were left behind"


BROKEN_ZIPS = [
    pytest.param(with_bad_crc, "is damaged (Bad CRC-32", id="bad-crc"),
    pytest.param(with_lying_size, "is damaged (Bad CRC-32", id="lying-size"),
    pytest.param(as_deflate64, "is compressed with deflate64, which this server cannot unpack; re-create the ZIP",
                 id="deflate64"),
    pytest.param(as_encrypted, "is encrypted (password-protected); upload a ZIP made without a password",
                 id="encrypted"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("damage, message", BROKEN_ZIPS)
def test_a_broken_zip_entry_is_reported_on_the_page_and_nothing_is_imported(admin_client_role, settings,
                                                                            damage, message):
    resp = admin_client_role.post(reverse("dataset-upload"),
                                  {"dataset": "Ward", "archive": _upload(damage(_two_images(), BAD))})
    assert resp.status_code == 400
    page = resp.content.decode()
    assert "NOT imported" in page and BAD in page and message.replace("'", "&#x27;") in page
    _nothing_imported(settings)


@pytest.mark.django_db
@pytest.mark.parametrize("damage, message", BROKEN_ZIPS)
def test_the_api_lists_the_broken_entry(admin_user, client, settings, damage, message):
    client.force_login(admin_user)
    resp = client.post("/api/datasets/upload/", {"dataset": "Ward", "archive": _upload(damage(_two_images(), BAD))})
    assert resp.status_code == 400
    body = resp.json()
    assert body["committed"] is False
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(BAD, "archive")]
    assert message in body["errors"][0]["message"]
    _nothing_imported(settings)


@pytest.mark.django_db
def test_skip_bad_rows_imports_the_entries_that_unpack(admin_client_role):
    resp = admin_client_role.post(reverse("dataset-upload"), {
        "dataset": "Ward", "archive": _upload(with_bad_crc(_two_images(), BAD)), "skip_bad_rows": "on"})
    assert resp.status_code == 200
    assert list(Sample.objects.values_list("external_id", flat=True)) == [GOOD]


def test_a_zip_entry_that_unpacks_to_more_than_it_declares_is_cut_off(tmp_path):
    # A stored entry whose headers claim 10 bytes: the reader must never write more than the declared
    # size, whatever zipfile does with the rest of the stream.
    data = with_lying_size(zip_bytes({BAD: b"x" * 100_000}, zipfile.ZIP_STORED), BAD)
    errors = archive.extract_zip(io.BytesIO(data), tmp_path, max_files=10, max_total_bytes=1000)
    assert [e.row for e in errors] == [BAD]
    assert not (tmp_path / BAD).exists()


def test_declared_sizes_over_the_limit_refuse_the_archive_before_unpacking(tmp_path):
    data = with_lying_size(zip_bytes({BAD: jpeg_bytes()}), BAD, size=10**9)
    with pytest.raises(ImportRejected, match="unpacks to 1,000,000,000 bytes, over the limit of 1,000; split it"):
        archive.extract_zip(io.BytesIO(data), tmp_path, max_files=10, max_total_bytes=1000)
    assert not list(tmp_path.iterdir())


@pytest.mark.django_db
def test_a_folder_name_too_long_for_the_file_system_is_one_row(admin_client_role, settings):
    long_dir = "a" * 300
    data = zip_bytes({f"{long_dir}/x.jpg": jpeg_bytes(), GOOD: jpeg_bytes()})
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "Ward", "archive": _upload(data)})
    assert resp.status_code == 400
    page = resp.content.decode()
    assert "cannot be unpacked under this name (File name too long); rename it" in page
    _nothing_imported(settings)


def _labels_zip(csv_bytes: bytes, **images: bytes) -> SimpleUploadedFile:
    files = {"labels.csv": csv_bytes, "imgs/1.jpg": jpeg_bytes(), "imgs/2.png": png_bytes()}
    files.update(images)
    return _upload(zip_bytes(files))


# Each bad labels.csv: the bytes, then the (row, field) and a piece of the message the user must see.
BAD_CSVS = [
    pytest.param(b"path,label\nimgs/1.jpg,acne\nimgs/2.png," + b"x" * 200_000 + b"\n",
                 ("line 3", "row"), "field larger than field limit (131072)", id="200KB-field"),
    pytest.param(b"path,label\nimgs/1.jpg,acne\nimgs/2.png,ecz\xe9ma\n",
                 ("line 3", "label"), "holds the byte 0xe9, which is not UTF-8 text; save the file as UTF-8",
                 id="latin-1"),
    pytest.param(b"path,label\nimgs/1.jpg,acne\nimgs/2.png,ac\x00ne\n",
                 ("line 3", "label"), "holds a NUL byte, which a text field cannot store", id="nul-in-label"),
    pytest.param(b"path,label\nimgs/1.jpg,acne\nimgs/2\x00.png,acne\n",
                 ("line 3", "path"), "holds a NUL byte", id="nul-in-path"),
    pytest.param(b"path,label\nimgs/1.jpg,acne\nimgs/2.png," + b"y" * 300 + b"\n",
                 ("line 3", "label"), "is 300 characters long; the limit is 255: shorten it", id="300-char-label"),
    pytest.param(b"path,label\nimgs/1.jpg,acne\n" + b"imgs/" + b"d" * 300 + b".jpg,acne\n",
                 ("line 3", "path"), "is not a usable file name (File name too long); shorten or rename it",
                 id="name-too-long"),
    pytest.param(b"path,label\nimgs/1.jpg,acne\nimgs\\2.png,acne\n",
                 ("line 3", "path"), "uses backslashes; write the path with forward slashes", id="backslashes"),
    pytest.param(b"path,label\nimgs/1.jpg,acne\n/etc/hostname,acne\n",
                 ("line 3", "path"), "points outside the CSV's folder", id="absolute-path"),
    pytest.param(b"\xff\xfep\x00a\x00t\x00h\x00", None, "line 1 (the header) holds the byte 0xff", id="utf-16"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("csv_bytes, where, message", BAD_CSVS)
def test_a_bad_labels_csv_in_an_upload_is_reported_per_row(admin_client_role, settings, csv_bytes, where,
                                                           message):
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "Ward", "archive": _labels_zip(csv_bytes)})
    assert resp.status_code == 400
    page = resp.content.decode().replace("&#x27;", "'")
    assert message in page
    if where is not None:
        row, field = where
        assert f"<td>{row}</td><td>{field}</td>" in page
    _nothing_imported(settings)


@pytest.mark.django_db
def test_a_deeply_nested_path_longer_than_the_id_column_is_reported(admin_client_role, settings):
    nested = "/".join(["folder"] * 40) + "/x.jpg"  # 285 characters, each part short enough for the disk
    assert len(nested) == 285
    csv_bytes = f"path,label\nimgs/1.jpg,acne\n{nested},acne\n".encode()
    resp = admin_client_role.post(reverse("dataset-upload"),
                                  {"dataset": "Ward", "archive": _labels_zip(csv_bytes, **{nested: jpeg_bytes()})})
    assert resp.status_code == 400
    assert "is 285 characters long; the limit is 255: shorten it" in resp.content.decode()
    _nothing_imported(settings)


@pytest.mark.django_db
def test_every_bad_row_is_listed_not_only_the_first(admin_client_role, settings):
    csv_bytes = (b"path,label\nimgs/1.jpg," + b"z" * 200_000 + b"\nimgs/2.png,ecz\xe9ma\n"
                 b"imgs/1.jpg," + b"w" * 256 + b"\n")
    resp = admin_client_role.post("/api/datasets/upload/", {"dataset": "Ward", "archive": _labels_zip(csv_bytes)})
    assert resp.status_code == 400
    assert [(e["row"], e["field"]) for e in resp.json()["errors"]] == [
        ("line 2", "row"), ("line 3", "label"), ("line 4", "label")]
    _nothing_imported(settings)


@pytest.mark.django_db
def test_a_csv_row_naming_a_broken_entry_is_reported_once(admin_client_role, settings):
    data = zip_bytes({"labels.csv": b"path,label\nimgs/1.jpg,acne\nimgs/2.jpg,acne\n",
                      "imgs/1.jpg": jpeg_bytes(), "imgs/2.jpg": jpeg_bytes((1, 1, 1))})
    resp = admin_client_role.post("/api/datasets/upload/",
                                  {"dataset": "Ward", "archive": _upload(with_bad_crc(data, "imgs/2.jpg"))})
    assert resp.status_code == 400
    assert [(e["row"], e["field"]) for e in resp.json()["errors"]] == [("imgs/2.jpg", "archive")]
    _nothing_imported(settings)


@pytest.mark.django_db
def test_a_broken_labels_csv_entry_stops_the_upload_with_its_reason(admin_client_role, settings):
    data = zip_bytes({"labels.csv": b"path,label\nimgs/1.jpg,acne\n", "imgs/1.jpg": jpeg_bytes()})
    resp = admin_client_role.post(reverse("dataset-upload"),
                                  {"dataset": "Ward", "archive": _upload(as_encrypted(data, "labels.csv"))})
    assert resp.status_code == 400
    assert "labels.csv is encrypted" in resp.content.decode()
    _nothing_imported(settings)


@pytest.mark.django_db
def test_after_fixing_the_csv_the_upload_imports_and_a_rerun_creates_nothing(admin_client_role):
    bad = b"path,label\nimgs/1.jpg,acne\nimgs/2.png,ecz\xe9ma\n"
    assert admin_client_role.post(reverse("dataset-upload"),
                                  {"dataset": "Ward", "archive": _labels_zip(bad)}).status_code == 400
    fixed = "path,label\nimgs/1.jpg,acne\nimgs/2.png,eczéma\n".encode()
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "Ward", "archive": _labels_zip(fixed)})
    assert resp.status_code == 200 and "imported: 2 created" in resp.content.decode()
    assert sorted(Sample.objects.values_list("label", flat=True)) == ["acne", "eczéma"]
    again = admin_client_role.post(reverse("dataset-upload"), {"dataset": "Ward", "archive": _labels_zip(fixed)})
    assert "0 created, 0 updated, 2 unchanged" in again.content.decode()


@pytest.mark.django_db
def test_loose_images_with_a_label_too_long_to_be_a_folder_name_import(admin_client_role):
    # 200 two-byte characters: within the column's 255 characters, but 400 bytes, too long for a file name.
    label = "é" * 200
    img = SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg")
    resp = admin_client_role.post(reverse("dataset-upload"), {"dataset": "Ward", "images": [img], "label": label})
    assert resp.status_code == 200
    assert Sample.objects.get().label == label


@pytest.mark.django_db
def test_loose_images_whose_id_would_be_too_long_are_reported(admin_client_role, settings):
    img = SimpleUploadedFile("b" * 100 + ".jpg", jpeg_bytes(), content_type="image/jpeg")
    resp = admin_client_role.post(reverse("dataset-upload"),
                                  {"dataset": "Ward", "images": [img], "label": "l" * 200})
    assert resp.status_code == 400
    assert "the label and the file name together are 305 characters; the limit is 255" in resp.content.decode()
    _nothing_imported(settings)


# --- import_folder on the command line: the same CSV problems ------------------------------------------


@pytest.fixture
def folder_with_images(tmp_path: Path) -> Path:
    write(tmp_path / "imgs" / "1.jpg", jpeg_bytes())
    write(tmp_path / "imgs" / "2.png", png_bytes())
    return tmp_path


@pytest.mark.django_db
@pytest.mark.parametrize("csv_bytes, where, message", [p for p in BAD_CSVS if p.id not in ("utf-16",)])
def test_import_folder_cli_reports_the_same_csv_problems(folder_with_images, settings, capsys, csv_bytes, where,
                                                         message):
    (folder_with_images / "labels.csv").write_bytes(csv_bytes)
    with pytest.raises(CommandError, match="NOT imported") as exc:
        call_command("import_folder", "Ward", csv=str(folder_with_images / "labels.csv"), no_progress=True)
    assert "--skip-bad-rows" in str(exc.value)
    row, field = where
    assert f"error: {row}: {field}: " in capsys.readouterr().err
    result = services.import_folder("Ward", csv_path=folder_with_images / "labels.csv", progress=False)
    assert message in " ".join(e.message for e in result.errors)
    _nothing_imported(settings)


@pytest.mark.django_db
def test_import_folder_cli_on_a_utf16_csv_says_to_save_as_utf8(folder_with_images):
    (folder_with_images / "labels.csv").write_bytes("path,label\nimgs/1.jpg,acne\n".encode("utf-16"))
    with pytest.raises(CommandError, match="line 1 \\(the header\\) holds the byte 0xff, which is not UTF-8 text; "
                                           "save the file as UTF-8"):
        call_command("import_folder", "Ward", csv=str(folder_with_images / "labels.csv"), no_progress=True)
    assert not Dataset.objects.exists()


@pytest.mark.django_db
def test_import_folder_reports_a_folder_name_that_is_not_utf8(tmp_path, settings):
    src = tmp_path / "src"
    bad_dir = src / b"ecz\xe9ma".decode("utf-8", "surrogateescape")  # how Python names a Latin-1 folder
    write(bad_dir / "a.jpg", jpeg_bytes())
    write(src / "acne" / "b.jpg", jpeg_bytes((3, 3, 3)))
    result = services.import_folder("Ward", src, progress=False)
    assert not result.committed
    assert [(e.field, e.message) for e in result.errors] == [
        ("path", "the file name holds the byte 0xe9, which is not UTF-8 text; rename the file")]
    _nothing_imported(settings)
