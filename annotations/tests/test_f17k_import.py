"""Fitzpatrick17k import: the whole real label file, idempotence, flags, bad rows and images."""

from __future__ import annotations

import csv
import hashlib
import http.server
import io
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from annotations import services
from annotations.f17k import WRONGLY_LABELLED
from annotations.models import Dataset, Sample
from annotations.tests.images import jpeg_bytes, truncated_jpeg_bytes, write

F17K = Path(__file__).resolve().parents[3] / "shared" / "data" / "fitzpatrick17k.csv"
HEADER = ["md5hash", "fitzpatrick_scale", "fitzpatrick_centaur", "label", "nine_partition_label",
          "three_partition_label", "qc", "url", "url_alphanum"]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def write_csv(path: Path, rows: list[dict], header=HEADER) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in header})
    return path


def row(md5hash: str, label: str = "psoriasis", skin: str = "3", qc: str = "", url: str = "") -> dict:
    return {"md5hash": md5hash, "fitzpatrick_scale": skin, "fitzpatrick_centaur": skin, "label": label,
            "nine_partition_label": "inflammatory", "three_partition_label": "non-neoplastic", "qc": qc,
            "url": url}


@pytest.mark.django_db
def test_full_label_file_imports_every_row_once_and_flags_wrongly_labelled():
    first = services.import_fitzpatrick17k(F17K, progress=False)
    assert (first.created, first.errors) == (16577, [])
    ds = Dataset.objects.get(name="Fitzpatrick17k")
    assert ds.samples.count() == 16577
    assert ds.samples.values("label").distinct().count() == 114
    flagged = ds.samples.filter(exclude_from_eval=True)
    assert flagged.count() == 17 and set(flagged.values_list("qc_flag", flat=True)) == {WRONGLY_LABELLED}
    assert ds.samples.filter(fitzpatrick__isnull=True).count() == 565  # -1 means unknown
    splits = dict(ds.samples.values_list("split").annotate(n=Count("id")))
    assert splits["train"] > 12000 and 1300 < splits["test"] < 2000 and 1300 < splits["val"] < 2000

    second = services.import_fitzpatrick17k(F17K, progress=False)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 16577)
    assert Sample.objects.count() == 16577


@pytest.mark.django_db
def test_changed_row_is_updated_and_keeps_its_split(tmp_path):
    a, b = "a" * 32, "b" * 32
    services.import_fitzpatrick17k(write_csv(tmp_path / "v1.csv", [row(a), row(b)]), progress=False)
    split_before = Sample.objects.get(external_id=a).split
    result = services.import_fitzpatrick17k(
        write_csv(tmp_path / "v2.csv", [row(a, label="lichen planus", skin="5"), row(b)]), progress=False)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    s = Sample.objects.get(external_id=a)
    assert (s.label, s.fitzpatrick, s.split) == ("lichen planus", 5, split_before)


@pytest.mark.django_db
@pytest.mark.parametrize("bad, field, message", [
    (row("a" * 32, label="  "), "label", "the label is empty"),
    (row("not-an-md5"), "md5hash", "is not a 32-character hex md5"),
    (row("c" * 32, skin="9"), "fitzpatrick_scale", "is not 1-6 or -1"),
])
def test_a_bad_row_is_reported_and_nothing_is_written(tmp_path, bad, field, message):
    path = write_csv(tmp_path / "bad.csv", [row("d" * 32), bad, row("e" * 32)])
    with pytest.raises(CommandError, match="NOT imported") as exc:
        call_command("import_fitzpatrick17k", csv=str(path), no_progress=True)
    assert "--skip-bad-rows" in str(exc.value)
    result = services.import_fitzpatrick17k(path, progress=False)
    assert not result.committed
    assert [(e.row, e.field) for e in result.errors] == [("line 3", field)]
    assert message in result.errors[0].message
    assert Sample.objects.count() == 0 and not Dataset.objects.filter(name="Fitzpatrick17k").exists()


@pytest.mark.django_db
def test_skip_bad_rows_imports_the_good_ones(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [row("d" * 32), row("x"), row("e" * 32)])
    result = services.import_fitzpatrick17k(path, skip_bad_rows=True, progress=False)
    assert result.committed and result.created == 2 and len(result.errors) == 1


@pytest.mark.django_db
def test_missing_columns_are_named(tmp_path):
    path = write_csv(tmp_path / "cols.csv", [{"md5hash": "a" * 32, "label": "acne"}], header=["md5hash", "label"])
    with pytest.raises(CommandError) as exc:
        call_command("import_fitzpatrick17k", csv=str(path), no_progress=True)
    assert "lacks the column(s) fitzpatrick_scale, three_partition_label, qc, url" in str(exc.value)


@pytest.mark.django_db
def test_missing_csv_file_says_what_to_pass(tmp_path):
    with pytest.raises(CommandError, match="does not exist; pass the Fitzpatrick17k label CSV with --csv"):
        call_command("import_fitzpatrick17k", csv=str(tmp_path / "nope.csv"), no_progress=True)


@pytest.mark.django_db
def test_images_attach_by_md5_and_bad_images_block_the_import(tmp_path, settings):
    good = jpeg_bytes()
    images = tmp_path / "images"
    write(images / f"{md5(good)}.jpg", good)
    truncated = truncated_jpeg_bytes()
    write(images / f"{'f' * 32}.jpg", truncated)
    write(images / f"{'9' * 32}.jpg", b"this is a text file, not a photograph")
    csv_path = write_csv(tmp_path / "x.csv", [row(md5(good)), row("f" * 32), row("9" * 32), row("8" * 32)])

    result = services.import_fitzpatrick17k(csv_path, images_dir=images, progress=False)
    assert not result.committed and Sample.objects.count() == 0
    messages = {e.row: e.message for e in result.errors}
    assert "damaged or truncated" in messages["f" * 32]
    assert "not an image Pillow can read" in messages["9" * 32]
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.jpg")), "a rejected import must leave no files behind"

    result = services.import_fitzpatrick17k(csv_path, images_dir=images, skip_bad_rows=True, progress=False)
    assert result.committed and result.created == 2 and result.images_attached == 1
    s = Sample.objects.get(external_id=md5(good))
    assert (s.width, s.height, s.checksum) == (64, 48, hashlib.sha256(good).hexdigest())
    assert (Path(settings.MEDIA_ROOT) / s.image).read_bytes() == good
    assert Sample.objects.get(external_id="8" * 32).image == ""  # no file in the folder: metadata only


@pytest.mark.django_db
def test_image_over_the_pixel_limit_is_rejected(tmp_path, settings):
    settings.SKINFLOW_MAX_IMAGE_PIXELS = 1000
    big = jpeg_bytes(size=(64, 48))
    write(tmp_path / "img" / f"{md5(big)}.jpg", big)
    result = services.import_fitzpatrick17k(write_csv(tmp_path / "x.csv", [row(md5(big))]),
                                            images_dir=tmp_path / "img", progress=False)
    assert not result.committed
    assert "64x48 = 3,072 pixels, over the limit of 1,000; downscale it first" in result.errors[0].message


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        data = self.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.django_db
def test_download_fetches_verifies_and_resumes(tmp_path):
    good, other = jpeg_bytes((10, 10, 10)), jpeg_bytes((250, 250, 250))
    _ImageHandler.files = {"/a.jpg": good, "/wrong.jpg": other}
    _ImageHandler.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        rows = [row(md5(good), url=f"{base}/a.jpg"), row("1" * 32, url=f"{base}/wrong.jpg"),
                row("2" * 32, url=f"{base}/gone.jpg")]
        csv_path = write_csv(tmp_path / "dl.csv", rows)
        images = tmp_path / "images"
        result = services.import_fitzpatrick17k(csv_path, images_dir=images, download=True, progress=False)
        assert result.committed and result.created == 3 and result.images_attached == 1
        warnings = {w.row: w.message for w in result.warnings}
        assert "checksum mismatch" in warnings["1" * 32] and "404" in warnings["2" * 32]
        assert (images / f"{md5(good)}.jpg").read_bytes() == good
        assert not list(images.glob("*.part"))

        _ImageHandler.hits.clear()
        services.import_fitzpatrick17k(csv_path, images_dir=images, download=True, progress=False)
        assert "/a.jpg" not in _ImageHandler.hits  # resumed: the verified file is not fetched again
    finally:
        server.shutdown()


@pytest.mark.django_db
def test_decompression_bomb_is_rejected_from_its_header(tmp_path):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, "PNG")  # 100 megapixels in a few kilobytes
    bomb = buf.getvalue()
    assert len(bomb) < 100_000
    write(tmp_path / "img" / f"{md5(bomb)}.png", bomb)
    result = services.import_fitzpatrick17k(write_csv(tmp_path / "x.csv", [row(md5(bomb))]),
                                            images_dir=tmp_path / "img", progress=False)
    assert not result.committed
    assert "too many pixels to decode safely (a possible decompression bomb); the limit is 40,000,000 pixels" \
        in result.errors[0].message


def _csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in HEADER})
    return buf.getvalue().encode()


def _with_bytes(rows_before: int, raw_line: bytes) -> bytes:
    """A file of good rows with one raw line (bytes the csv module would never write) on line 3."""
    good = _csv_bytes([row("d" * 32), row("e" * 32)]).splitlines(keepends=True)
    return b"".join(good[:1 + rows_before]) + raw_line + b"".join(good[1 + rows_before:])


# Each: the bytes of a hostile file, and the (row, field) and message piece of the one error it must give.
HOSTILE_F17K = [
    pytest.param(_with_bytes(1, b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,3,3,ecz\xe9ma,x,non-neoplastic,,\n"),
                 ("line 3", "label"), "holds the byte 0xe9, which is not UTF-8 text; save the file as UTF-8",
                 id="latin-1"),
    pytest.param(_with_bytes(1, b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,3,3,acne," + b"n" * 200_000 + b",x,,\n"),
                 ("line 3", "row"), "cannot be read (field larger than field limit (131072))", id="200KB-field"),
    pytest.param(_with_bytes(1, b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,3,3,ac\x00ne,x,non-neoplastic,,\n"),
                 ("line 3", "label"), "holds a NUL byte, which a text field cannot store", id="nul"),
    pytest.param(_csv_bytes([row("d" * 32), row("a" * 32, label="l" * 300), row("e" * 32)]),
                 ("line 3", "label"), "is 300 characters long; the limit is 255: shorten it", id="label-300"),
    pytest.param(_csv_bytes([row("d" * 32), row("a" * 32, url="https://x.org/" + "p" * 1000), row("e" * 32)]),
                 ("line 3", "url"), "is 1,014 characters long; the limit is 1,000: shorten it", id="url-1014"),
    pytest.param(_csv_bytes([row("d" * 32), row("a" * 32, url=f"https://{'h' * 120}.org/a.jpg"), row("e" * 32)]),
                 ("line 3", "url"), "its host name is 124 characters long; the limit is 100", id="host-124"),
    pytest.param(_csv_bytes([row("d" * 32), row("a" * 32, qc="q" * 101), row("e" * 32)]),
                 ("line 3", "qc"), "is 101 characters long; the limit is 100", id="qc-101"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("data, where, message", HOSTILE_F17K)
def test_hostile_rows_are_reported_one_each_and_nothing_is_written(tmp_path, data, where, message):
    path = tmp_path / "f17k.csv"
    path.write_bytes(data)
    result = services.import_fitzpatrick17k(path, progress=False)
    assert not result.committed
    assert [(e.row, e.field) for e in result.errors] == [where]
    assert message in result.errors[0].message
    assert Sample.objects.count() == 0 and not Dataset.objects.exists()
    # The good rows around the bad one were read: skipping the bad row imports exactly those.
    result = services.import_fitzpatrick17k(path, skip_bad_rows=True, progress=False)
    assert result.committed and sorted(Sample.objects.values_list("external_id", flat=True)) == ["d" * 32, "e" * 32]


@pytest.mark.django_db
def test_a_whole_latin1_file_lists_every_bad_line(tmp_path):
    text = _csv_bytes([row("a" * 32, label="eczéma"), row("b" * 32), row("c" * 32, label="pityriasis rosée")])
    path = tmp_path / "latin1.csv"
    path.write_bytes(text.decode().encode("latin-1"))
    result = services.import_fitzpatrick17k(path, progress=False)
    assert [(e.row, e.field) for e in result.errors] == [("line 2", "label"), ("line 4", "label")]


@pytest.mark.django_db
def test_the_command_exits_non_zero_with_the_report_and_no_traceback(tmp_path, capsys, monkeypatch):
    from django.core.management import ManagementUtility

    path = tmp_path / "f17k.csv"
    path.write_bytes(HOSTILE_F17K[0].values[0])
    # run_from_argv closes every connection when it ends, which would end the test's transaction.
    monkeypatch.setattr("django.db.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", "import_fitzpatrick17k", "--csv", str(path), "--no-progress",
                           "--skip-checks"]).execute()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error: line 3: label: holds the byte 0xe9, which is not UTF-8 text; save the file as UTF-8" in err
    assert "NOT imported" in err and "--skip-bad-rows" in err
    assert Sample.objects.count() == 0


@pytest.mark.django_db
def test_a_utf16_file_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "f17k.csv"
    path.write_bytes(_csv_bytes([row("a" * 32)]).decode().encode("utf-16"))
    with pytest.raises(CommandError, match="line 1 \\(the header\\) holds the byte 0xff, which is not UTF-8 text; "
                                           "save the file as UTF-8"):
        call_command("import_fitzpatrick17k", csv=str(path), no_progress=True)
