"""De-identification on the way in (issue 12, item 1).

Photos that carry a patient's name, an MRN, a camera serial number and GPS coordinates in their metadata go
through every import path; the stored file, the image the app serves, the image in the LLM request (as the
local OpenAI-compatible server received it) and both snapshot formats must carry none of it, with the
pixels unchanged (after applying the EXIF orientation). ``scrub_media`` does the same for files stored the
old way, is idempotent and finishes what a killed run left. HEIC: Pillow here cannot read it (no
pillow-heif), so a HEIC upload is refused as an unreadable image; there is nothing to test for it.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db.models import Value
from django.db.models.functions import Concat
from django.urls import reverse
from PIL import Image, ImageCms, ImageOps, PngImagePlugin, TiffImagePlugin

from annotations import drafting_services, services
from annotations.deidentify import carries_metadata, deidentify
from annotations.import_report import ImportRejected
from annotations.imaging import NotScrubbed, model_ready_image, require_scrubbed
from annotations.models import Dataset, DraftJob, Sample, SampleEvent
from annotations.selectors import eligible_samples
from annotations.tests.scripted_llm import PipelineResponder, Script
from webapp.llm_testserver import ScriptedLLMServer

NAME, MRN, SERIAL, MAKER = b"John Doe", b"123456", b"SN-CAM-998877", b"AcmeCam"
MARKERS = (NAME, MRN, SERIAL, MAKER, b"xmpmeta", b"Patient")
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description>Patient: John Doe, MRN 123456</rdf:Description></rdf:RDF></x:xmpmeta>')
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# ---- images with metadata -------------------------------------------------------------------------------------

def _pixels(seed: int, size=(48, 32)) -> Image.Image:
    # Noise, not a flat colour: a wrong rotation or a lossy re-encode shows in the comparison.
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = MAKER.decode()                          # Make
    exif[0x0110] = "Model X"                               # Model
    exif[0x010E] = "Patient: John Doe, MRN 123456"         # ImageDescription
    exif[0x013B] = "John Doe"                              # Artist
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0xA431] = SERIAL.decode()         # BodySerialNumber
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (51.0, 30.0, 12.5), "W", (0.0, 7.0, 39.0)
    return exif


def jpeg_exif(seed: int = 1, orientation: int = 1) -> bytes:
    buf = io.BytesIO()
    _pixels(seed).save(buf, "JPEG", quality=92, exif=_exif(orientation), comment=b"Patient: John Doe",
                       xmp=XMP, icc_profile=ICC)
    return buf.getvalue()


def png_text(seed: int = 2) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "Patient: John Doe")
    info.add_itxt("Description", "MRN 123456 \u2014 John Doe", lang="en")
    info.add_text("Author", "John Doe", zip=True)
    buf = io.BytesIO()
    _pixels(seed).save(buf, "PNG", pnginfo=info, exif=_exif(), icc_profile=ICC)
    return buf.getvalue()


def webp_xmp(seed: int = 3, lossless: bool = True) -> bytes:
    buf = io.BytesIO()
    _pixels(seed).save(buf, "WEBP", lossless=lossless, quality=90, xmp=XMP, exif=_exif(), icc_profile=ICC)
    return buf.getvalue()


def tiff_tags(seed: int = 4) -> bytes:
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[270] = "Patient: John Doe, MRN 123456"
    tags[315] = "John Doe"
    tags[271] = MAKER.decode()
    buf = io.BytesIO()
    _pixels(seed).save(buf, "TIFF", tiffinfo=tags)
    return buf.getvalue()


# name -> (bytes, orientation the viewer must apply)
KINDS = {
    "exif.jpg": (jpeg_exif(1), 1),
    "rotated.jpg": (jpeg_exif(5, orientation=6), 6),
    "text.png": (png_text(), 1),
    "xmp.webp": (webp_xmp(), 1),
    "lossy.webp": (webp_xmp(6, lossless=False), 1),
    "tags.tif": (tiff_tags(), 1),
}


def upright(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def assert_clean(data: bytes, original: bytes, where: str) -> None:
    for marker in MARKERS:
        assert marker not in data, f"{where}: {marker!r} survived"
    assert carries_metadata(data) == [], where
    with Image.open(io.BytesIO(data)) as img:
        exif = img.getexif()  # a TIFF's own raster tags (width, strips, ...) are read as EXIF: ask for names
        assert not {0x010E, 0x010F, 0x0110, 0x013B, 0x0112, 0x8769, 0x8825} & set(exif), (where, dict(exif))
        assert not {"icc_profile", "xmp", "exif", "comment"} & set(img.info), (where, set(img.info))
        assert not getattr(img, "text", {}), where
    got, want = upright(data), upright(original)
    assert got.shape == want.shape and (got == want).all(), f"{where}: pixels changed"


# ---- the pure function ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", KINDS)
def test_every_kind_is_found_then_removed_with_pixels_kept(name):
    data, orientation = KINDS[name]
    found = carries_metadata(data)
    assert found, name
    clean = deidentify(data)
    assert_clean(clean, data, name)
    assert deidentify(clean) is clean  # idempotent: a clean file comes back as the same bytes
    if orientation == 1 and name.endswith((".jpg", ".png", ".webp")):
        # Byte-level cleaning: the compressed image data is untouched, so the file only got smaller.
        assert len(clean) < len(data)
        assert Image.open(io.BytesIO(clean)).format == Image.open(io.BytesIO(data)).format
    if orientation == 6:
        assert Image.open(io.BytesIO(clean)).size == (32, 48)  # turned upright, stored losslessly


def test_what_the_checker_names():
    assert carries_metadata(KINDS["exif.jpg"][0]) == ["EXIF", "XMP", "ICC profile", "JPEG comment (COM)"]
    assert set(carries_metadata(KINDS["text.png"][0])) >= {"PNG text (tEXt)", "PNG text (iTXt)", "PNG text (zTXt)",
                                                           "EXIF", "ICC profile"}
    assert set(carries_metadata(KINDS["xmp.webp"][0])) == {"EXIF", "XMP", "ICC profile"}
    assert "TIFF ImageDescription" in carries_metadata(KINDS["tags.tif"][0])


def test_a_clean_upload_is_stored_byte_for_byte():
    buf = io.BytesIO()
    _pixels(9).save(buf, "JPEG", quality=90)
    assert deidentify(buf.getvalue()) is buf.getvalue() or deidentify(buf.getvalue()) == buf.getvalue()


@pytest.mark.parametrize("options", [{"restart_marker_blocks": 2}, {"progressive": True},
                                     {"progressive": True, "restart_marker_rows": 1}],
                         ids=["restart markers", "progressive", "progressive with restart markers"])
def test_jpeg_scans_with_restart_markers_and_several_passes_keep_every_pixel(options):
    # The segment walker skips scan data by looking for the next real marker: stuffed 0xFF00 bytes, restart
    # markers and the many scans of a progressive file must not end a scan early or cut one short.
    buf = io.BytesIO()
    _pixels(11, size=(160, 120)).save(buf, "JPEG", quality=90, exif=_exif(), comment=b"Patient: John Doe", **options)
    data = buf.getvalue()
    clean = deidentify(data)
    assert_clean(clean, data, str(options))
    assert len(data) - len(clean) < 4096  # only the metadata segments went


def test_trailers_after_the_image_end_are_removed():
    data = jpeg_exif() + b"SEFT John Doe trailer"
    assert "data after the JPEG end (trailer)" in carries_metadata(data)
    assert NAME not in deidentify(data)


@pytest.mark.parametrize("name", KINDS)
def test_damaged_files_are_refused_with_a_message_never_a_crash(name):
    from annotations.imaging import ImageRejected, prepare_image

    data = KINDS[name][0]
    rng = np.random.default_rng(7)
    variants = [data[:n] for n in (8, 30, 200, len(data) // 2, len(data) - 3)]
    for _ in range(20):
        broken = bytearray(data)
        for at in rng.integers(2, len(data), 4):
            broken[at] = int(rng.integers(0, 256))
        variants.append(bytes(broken))
    for variant in variants:
        try:
            clean, _info = prepare_image(variant, 10_000_000, name)
        except ImageRejected as exc:
            assert name in str(exc)
        else:
            assert carries_metadata(clean) == []


def test_the_door_refuses_with_what_to_do():
    with pytest.raises(NotScrubbed, match="scrub_media"):
        require_scrubbed(KINDS["exif.jpg"][0], "the image of sample 7")
    clean = deidentify(KINDS["exif.jpg"][0])
    assert require_scrubbed(clean, "x") is clean


# ---- every import path ----------------------------------------------------------------------------------------

LABEL = "psoriasis"


def _folder(tmp_path, **_):
    for name, (data, _o) in KINDS.items():
        (tmp_path / "src" / LABEL).mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / LABEL / name).write_bytes(data)
    result = services.import_folder("Via folder", tmp_path / "src", progress=False)
    assert result.committed and result.created == len(KINDS), result.errors
    return Dataset.objects.get(name="Via folder"), {f"{LABEL}/{n}": d for n, (d, _o) in KINDS.items()}


def _csv(tmp_path, **_):
    root = tmp_path / "csvset"
    (root / "imgs").mkdir(parents=True)
    lines = ["path,label"]
    for name, (data, _o) in KINDS.items():
        (root / "imgs" / name).write_bytes(data)
        lines.append(f"imgs/{name},{LABEL}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    result = services.import_folder("Via CSV", csv_path=root / "labels.csv", progress=False)
    assert result.committed and result.created == len(KINDS), result.errors
    return Dataset.objects.get(name="Via CSV"), {f"imgs/{n}": d for n, (d, _o) in KINDS.items()}


def _zip_upload(tmp_path, client=None, **_):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, (data, _o) in KINDS.items():
            zf.writestr(f"{LABEL}/{name}", data)
    resp = client.post(reverse("dataset-upload"), {
        "dataset": "Via ZIP", "archive": SimpleUploadedFile("ward.zip", buf.getvalue(), "application/zip")})
    assert resp.status_code in (200, 302), resp.content[:500]
    dataset = Dataset.objects.get(name="Via ZIP")
    assert dataset.samples.count() == len(KINDS)
    return dataset, {f"{LABEL}/{n}": d for n, (d, _o) in KINDS.items()}


def _loose_upload(tmp_path, client=None, **_):
    files = [SimpleUploadedFile(name, data) for name, (data, _o) in KINDS.items()]
    resp = client.post(reverse("dataset-upload"), {"dataset": "Via loose files", "images": files, "label": LABEL})
    assert resp.status_code in (200, 302), resp.content[:500]
    dataset = Dataset.objects.get(name="Via loose files")
    assert dataset.samples.count() == len(KINDS)
    return dataset, {f"{LABEL}/{n}": d for n, (d, _o) in KINDS.items()}


F17K_HEADER = ["md5hash", "fitzpatrick_scale", "fitzpatrick_centaur", "label", "nine_partition_label",
               "three_partition_label", "qc", "url", "url_alphanum"]


def _f17k_csv(path: Path, urls: dict[str, str]) -> Path:
    lines = [",".join(F17K_HEADER)]
    for md5, url in urls.items():
        lines.append(",".join([md5, "3", "3", LABEL, "inflammatory", "non-neoplastic", "", url, ""]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _f17k_folder(tmp_path, **_):
    images = tmp_path / "f17k-images"
    images.mkdir()
    for name, (data, _o) in KINDS.items():
        (images / f"{_md5(data)}{Path(name).suffix}").write_bytes(data)
    csv_path = _f17k_csv(tmp_path / "f17k.csv", {_md5(d): "" for d, _o in KINDS.values()})
    result = services.import_fitzpatrick17k(csv_path, images_dir=images, dataset_name="Via F17k folder", progress=False)
    assert result.committed and result.images_attached == len(KINDS), result.errors
    return Dataset.objects.get(name="Via F17k folder"), {_md5(d): d for d, _o in KINDS.values()}


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 - stdlib naming
        data = self.files.get(self.path)
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, *args):
        pass


def _f17k_download(tmp_path, **_):
    _Files.files = {f"/{name}": data for name, (data, _o) in KINDS.items()}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        csv_path = _f17k_csv(tmp_path / "f17k.csv", {_md5(d): f"{base}/{n}" for n, (d, _o) in KINDS.items()})
        result = services.import_fitzpatrick17k(csv_path, images_dir=tmp_path / "dl", download=True,
                                                dataset_name="Via F17k download", progress=False)
    finally:
        server.shutdown()
    assert result.committed and result.images_attached == len(KINDS), (result.errors, result.warnings)
    return Dataset.objects.get(name="Via F17k download"), {_md5(d): d for d, _o in KINDS.values()}


def _dataset_importer(tmp_path, **_):
    header = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "dataset"]
    lines, originals = [",".join(header)], {}
    (tmp_path / "ham").mkdir()
    for i, (name, (data, _o)) in enumerate(KINDS.items()):
        image_id = f"ISIC_00000{i:02d}"
        (tmp_path / "ham" / f"{image_id}{Path(name).suffix}").write_bytes(data)
        lines.append(",".join([f"HAM_{i}", image_id, "nv", "histo", "50.0", "male", "back", "vidir_modern"]))
        originals[image_id] = data
    (tmp_path / "ham.csv").write_text("\n".join(lines) + "\n")
    call_command("import_dataset", "ham10000", csv=str(tmp_path / "ham.csv"), images=str(tmp_path / "ham"),
                 no_progress=True, stdout=io.StringIO(), stderr=io.StringIO())
    dataset = Dataset.objects.get(name="HAM10000")
    assert dataset.samples.exclude(image="").count() == len(KINDS)
    return dataset, originals


IMPORT_PATHS = {"folder": _folder, "csv": _csv, "zip upload": _zip_upload, "loose upload": _loose_upload,
                "f17k folder": _f17k_folder, "f17k download": _f17k_download, "dataset importer": _dataset_importer}


@pytest.fixture
def llm(settings):
    started: list[ScriptedLLMServer] = []

    def start(responder):
        server = ScriptedLLMServer(responder).start()
        settings.SKINFLOW_LLM_BASE_URL = server.base_url
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _request_images(server: ScriptedLLMServer) -> list[bytes]:
    out = []
    for request in server.requests:
        for message in request["messages"]:
            if isinstance(message["content"], list):
                out += [base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                        for part in message["content"] if part.get("type") == "image_url"]
    return out


def _snapshot_images(folder: Path) -> tuple[list[bytes], list[Image.Image]]:
    import pyarrow.parquet as pq

    from training import export

    verl = [img["bytes"] for row in pq.read_table(folder / "verl.parquet").to_pylist() for img in row["images"]]
    trl = [img for row in export.load_trl_dataset(folder) for img in row["images"]]
    return verl, trl


@pytest.mark.django_db
@pytest.mark.parametrize("path", IMPORT_PATHS)
def test_each_import_path_stores_serves_sends_and_exports_no_metadata(path, tmp_path, admin_client_role, llm,
                                                                     settings):
    from training import export, services as training_services

    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    dataset, originals = IMPORT_PATHS[path](tmp_path, client=admin_client_role)
    samples = list(dataset.samples.order_by("pk"))
    media = Path(settings.MEDIA_ROOT)
    stored = {}
    for s in samples:
        original = originals[s.external_id]
        data = (media / s.image).read_bytes()
        assert_clean(data, original, f"{path}: stored {s.external_id}")
        assert s.checksum == hashlib.sha256(data).hexdigest()
        assert s.original_checksum == hashlib.sha256(original).hexdigest() != s.checksum
        assert (s.width, s.height) == Image.open(io.BytesIO(data)).size
        served = b"".join(admin_client_role.get(reverse("sample-image", args=[s.pk])).streaming_content)
        assert served == data
        resp = admin_client_role.get(f"/api/samples/{s.pk}/image/")  # the API's image, too
        assert resp.status_code == 200 and b"".join(resp.streaming_content) == data
        stored[s.pk] = (data, original)

    # The drafter's request to the LLM endpoint, as the local server received it.
    # (TIFF goes to the endpoint re-encoded as PNG: model_ready_image; the others as stored.)
    labels = dict(dataset.samples.values_list("pk", "label"))
    server = llm(PipelineResponder({_md5(model_ready_image(d)): (str(pk), Script(labels[pk], 1))
                                    for pk, (d, _o) in stored.items()}))
    run = drafting_services.create_run(dataset, max_attempts=1)
    for job in DraftJob.objects.filter(run=run):
        drafting_services.draft_sample(job.id)
    sent = _request_images(server)
    assert len(sent) == len(samples)
    by_md5 = {_md5(model_ready_image(d)): o for d, o in stored.values()}
    for data in sent:
        assert_clean(data, by_md5[_md5(data)], f"{path}: LLM request")
    assert all(m not in json.dumps(server.requests).encode() for m in MARKERS)
    assert set(dataset.samples.values_list("state", flat=True)) == {Sample.State.AUTO_ACCEPTED}

    # Both snapshot formats, for both stages.
    for stage in ("I", "II"):
        snapshot = training_services.create_snapshot(dataset, "", stage)
        folder = Path(snapshot.path)
        raw = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
        assert all(m not in raw for m in MARKERS), f"{path}: stage {stage} files"
        verl, trl = _snapshot_images(folder)
        assert len(verl) == len(trl) == len(samples)
        originals_by_sha = {hashlib.sha256(d).hexdigest(): o for d, o in stored.values()}
        for data in verl:
            assert_clean(data, originals_by_sha[hashlib.sha256(data).hexdigest()], f"{path}: verl.parquet")
        for image in trl:
            assert not {"icc_profile", "exif", "xmp"} & set(image.info)
        wanted = sorted(upright(o).tobytes() for _d, o in stored.values())
        assert sorted(np.asarray(i.convert("RGB")).tobytes() for i in trl) == wanted, "TRL pixels changed"
        assert export.read_manifest(folder)["content_hash"] == snapshot.content_hash


@pytest.mark.django_db
def test_reimporting_the_same_originals_is_unchanged(tmp_path):
    _folder(tmp_path)
    again = services.import_folder("Via folder", tmp_path / "src", progress=False)
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(KINDS))


@pytest.mark.django_db
def test_demo_images_are_stored_clean():
    call_command("seed_demo", stdout=io.StringIO())
    from django.conf import settings

    samples = Sample.objects.filter(dataset__name__icontains="demo").exclude(image="")
    assert samples.exists()
    for s in samples:
        assert carries_metadata((Path(settings.MEDIA_ROOT) / s.image).read_bytes()) == []


def test_heic_is_not_readable_here_so_it_is_refused():
    # Pillow without pillow-heif cannot open HEIC: such an upload is refused as unreadable, never stored.
    assert ".heic" not in Image.registered_extensions()


# ---- the identifying-content flag -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_identifying_flag_removes_the_sample_from_every_export(tmp_path, derm_client, dermatologist):
    dataset, _ = _folder(tmp_path)
    sample = dataset.samples.order_by("pk").first()
    Sample.objects.filter(dataset=dataset).update(state=Sample.State.AUTO_ACCEPTED, caption={"color": "red"})
    assert sample in eligible_samples("stage2", dataset=dataset)

    resp = derm_client.post(f"/api/review/samples/{sample.pk}/identifying/",
                            {"identifying": True, "note": "face in frame"}, content_type="application/json")
    assert resp.status_code == 200 and resp.json()["identifying_content"] is True
    for purpose in ("stage1", "stage2", "evaluation"):
        assert sample not in eligible_samples(purpose, dataset=dataset), purpose
        assert eligible_samples(purpose, dataset=dataset).count() == len(KINDS) - 1
    event = SampleEvent.objects.get(sample=sample, kind=SampleEvent.Kind.IDENTIFYING_FLAGGED)
    assert (event.actor, event.detail["note"]) == (dermatologist, "face in frame")
    # Marking twice changes nothing; clearing brings it back and is recorded too.
    derm_client.post(f"/api/review/samples/{sample.pk}/identifying/", {"identifying": True},
                     content_type="application/json")
    assert SampleEvent.objects.filter(sample=sample, kind=SampleEvent.Kind.IDENTIFYING_FLAGGED).count() == 1
    derm_client.post(f"/api/review/samples/{sample.pk}/identifying/", {"identifying": False},
                     content_type="application/json")
    assert sample in eligible_samples("stage2", dataset=dataset)
    assert SampleEvent.objects.filter(sample=sample, kind=SampleEvent.Kind.IDENTIFYING_CLEARED).exists()


@pytest.mark.django_db
def test_identifying_flag_bad_input_and_roles(tmp_path, derm_client, client, no_role_user):
    dataset, _ = _folder(tmp_path)
    sample = dataset.samples.first()
    resp = derm_client.post(f"/api/review/samples/{sample.pk}/identifying/", {"note": "x"},
                            content_type="application/json")
    assert resp.status_code == 400 and "identifying" in resp.json()
    resp = derm_client.post(f"/api/review/samples/{sample.pk}/identifying/", {"identifying": "maybe"},
                            content_type="application/json")
    assert resp.status_code == 400
    client.force_login(no_role_user)
    resp = client.post(f"/api/review/samples/{sample.pk}/identifying/", {"identifying": True},
                       content_type="application/json")
    assert resp.status_code == 403
    assert not Sample.objects.get(pk=sample.pk).identifying_content


@pytest.mark.django_db
def test_review_page_and_sample_list_show_the_flag(tmp_path, derm_client):
    dataset, _ = _folder(tmp_path)
    sample = dataset.samples.first()
    page = derm_client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    assert 'id="identifying-check"' in page and "checked" not in page.split('id="identifying-check"')[1][:20]
    Sample.objects.filter(pk=sample.pk).update(identifying_content=True)
    page = derm_client.get(reverse("review-sample", args=[sample.pk])).content.decode()
    assert "Marked as identifying" in page
    listing = derm_client.get(reverse("sample-list", args=[dataset.pk])).content.decode()
    assert "identifying content · not exported" in listing


# ---- data stored before the change: the doors refuse, scrub_media cleans ------------------------------------

def _store_the_old_way(dataset: Dataset, media: Path) -> dict[int, bytes]:
    """What imports did before issue 12: the uploaded bytes themselves, content-addressed by their sha256."""
    out = {}
    for name, (data, _o) in KINDS.items():
        info = Image.open(io.BytesIO(data))
        sha = hashlib.sha256(data).hexdigest()
        rel = f"samples/{sha[:2]}/{sha}{Path(name).suffix}"
        (media / rel).parent.mkdir(parents=True, exist_ok=True)
        (media / rel).write_bytes(data)
        sample = Sample.objects.create(dataset=dataset, external_id=name, label=LABEL, image=rel, checksum=sha,
                                       original_checksum=sha, width=info.width, height=info.height,
                                       thumbnail=f"thumbs/{sha[:2]}/{sha}_256.jpg")
        (media / sample.thumbnail).parent.mkdir(parents=True, exist_ok=True)
        (media / sample.thumbnail).write_bytes(b"old thumbnail")
        out[sample.pk] = data
    return out


def _old_snapshot(dataset, folder: Path, version: int, stage: str = "II"):
    """A snapshot written the old way (no door): its files hold the images with their metadata."""
    from training import export
    from training.models import DatasetSnapshot

    media = Path(__import__("django.conf").conf.settings.MEDIA_ROOT)
    rows = []
    for s in dataset.samples.order_by("pk"):
        rows.append({"data_source": "skinflow_diagnosis", "prompt": [{"role": "user", "content": "<image>Q"}],
                     "images": [{"bytes": (media / s.image).read_bytes()}], "ability": "dermatology",
                     "reward_model": {"style": "model", "ground_truth": s.label},
                     "extra_info": {"index": len(rows), "sample_id": s.pk, "split": s.split, "label": s.label,
                                    "k": 6, "stage": stage}})
    manifest = export._write_folder(folder, rows, stage=stage, k=6, split="")
    return DatasetSnapshot.objects.create(dataset=dataset, split="", stage=stage, k=6, version=version,
                                          content_hash=manifest.content_hash, sample_ids=list(manifest.sample_ids),
                                          rows=manifest.rows, path=str(folder))


@pytest.mark.django_db
def test_doors_refuse_an_image_stored_before_the_change(tmp_path, settings, llm):
    from training import services as training_services
    from training.services import TrainingError

    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    media = Path(settings.MEDIA_ROOT)
    dataset = Dataset.objects.create(name="Old", source=Dataset.Source.FOLDER)
    _store_the_old_way(dataset, media)
    server = llm(lambda request: "should never be asked")
    run = drafting_services.create_run(dataset, max_attempts=1)
    for job in DraftJob.objects.filter(run=run):
        assert drafting_services.draft_sample(job.id) == DraftJob.State.FAILED
    assert server.request_count == 0  # nothing was sent
    errors = set(DraftJob.objects.filter(run=run).values_list("error", flat=True))
    assert all("scrub_media" in e and "still carries" in e for e in errors), errors
    with pytest.raises(TrainingError, match="scrub_media"):
        training_services.create_snapshot(dataset, "", "II")


@pytest.mark.django_db
def test_scrub_media_cleans_files_snapshots_and_is_idempotent(tmp_path, settings, llm):
    from training import export, services as training_services
    from training.models import TrainingRun

    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    media = Path(settings.MEDIA_ROOT)
    dataset = Dataset.objects.create(name="Old", source=Dataset.Source.FOLDER)
    originals = _store_the_old_way(dataset, media)
    root = Path(settings.SKINFLOW_TRAINING_DIR) / "snapshots" / f"dataset-{dataset.pk}"
    used = _old_snapshot(dataset, root / "-stageII-k6-v1", 1)
    unused = _old_snapshot(dataset, root / "-stageII-k6-v2", 2)
    TrainingRun.objects.create(name="trained before the scrub", stage="II", snapshot=used)
    old_files = [media / s.image for s in dataset.samples.all()]
    old_used_hash = used.content_hash

    out = io.StringIO()
    call_command("scrub_media", no_progress=True, stdout=out)
    text = out.getvalue()
    assert f"{len(KINDS)} de-identified" in text and "removed EXIF from" in text and "2 rewritten" in text

    for s in dataset.samples.order_by("pk"):
        data = (media / s.image).read_bytes()
        assert_clean(data, originals[s.pk], f"scrubbed {s.external_id}")
        assert s.checksum == hashlib.sha256(data).hexdigest()
        assert s.original_checksum == hashlib.sha256(originals[s.pk]).hexdigest()
        assert s.thumbnail == ""  # rebuilt from the upright image
        event = s.events.get(kind=SampleEvent.Kind.IMAGE_SCRUBBED)
        assert event.detail["removed"] and event.detail["previous_checksum"] == s.original_checksum
    assert not any(p.exists() for p in old_files), "the files with metadata must be gone"
    assert not list((media / "thumbs").rglob("*.jpg")), "old thumbnails are removed"

    for snap in (used, unused):
        snap.refresh_from_db()
        folder = Path(snap.path)
        raw = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
        assert all(m not in raw for m in MARKERS), snap.path
        verl, _trl = _snapshot_images(folder)
        assert all(carries_metadata(b) == [] for b in verl)
        manifest = export.read_manifest(folder)
        assert manifest["deidentified"]["previous_content_hash"] != manifest["content_hash"]
    # Lineage: the used snapshot keeps the hash its run trained on; the unused one describes its new files.
    assert used.content_hash == old_used_hash == export.read_manifest(used.path)["deidentified"]["previous_content_hash"]
    assert export.read_manifest(used.path)["deidentified"]["trained_on_previous"]
    assert unused.content_hash == export.read_manifest(unused.path)["content_hash"]

    # The doors now let the cleaned images through, and the drafting request is clean.
    stored = {s.pk: (media / s.image).read_bytes() for s in dataset.samples.all()}
    server = llm(PipelineResponder({_md5(model_ready_image(d)): (str(pk), Script(LABEL, 1))
                                    for pk, d in stored.items()}))
    run = drafting_services.create_run(dataset, max_attempts=1)
    for job in DraftJob.objects.filter(run=run):
        drafting_services.draft_sample(job.id)
    sent = _request_images(server)
    assert len(sent) == len(KINDS) and all(carries_metadata(b) == [] for b in sent)
    training_services.create_snapshot(dataset, "", "I")

    # Idempotent: a second run changes no file and no row.
    before = {p: p.read_bytes() for p in media.rglob("*") if p.is_file() and "samples" in p.parts}
    snap_before = {p: p.stat().st_mtime_ns for p in Path(settings.SKINFLOW_TRAINING_DIR).rglob("*") if p.is_file()}
    out = io.StringIO()
    call_command("scrub_media", no_progress=True, stdout=out)
    assert "0 de-identified" in out.getvalue() and "0 rewritten" in out.getvalue()
    assert before == {p: p.read_bytes() for p in media.rglob("*") if p.is_file() and "samples" in p.parts}
    assert snap_before == {p: p.stat().st_mtime_ns for p in Path(settings.SKINFLOW_TRAINING_DIR).rglob("*")
                           if p.is_file()}
    assert SampleEvent.objects.filter(kind=SampleEvent.Kind.IMAGE_SCRUBBED).count() == len(KINDS)


@pytest.mark.django_db
def test_scrub_media_resumes_after_being_killed(tmp_path, settings, monkeypatch):
    media = Path(settings.MEDIA_ROOT)
    dataset = Dataset.objects.create(name="Old", source=Dataset.Source.FOLDER)
    originals = _store_the_old_way(dataset, media)
    first = dataset.samples.order_by("pk").first()
    old_first = media / first.image

    # Killed right after the first sample switched to its clean file, before the old file was removed.
    real_unlink = services._unlink_unreferenced

    def killed(rel, media_root):
        raise KeyboardInterrupt

    monkeypatch.setattr(services, "_unlink_unreferenced", killed)
    with pytest.raises(KeyboardInterrupt):
        services.scrub_stored_images(progress=False)
    first.refresh_from_db()
    assert carries_metadata((media / first.image).read_bytes()) == [] and old_first.exists()
    assert dataset.samples.filter(image__endswith=".tif").get().image.startswith("samples/")

    # Killed in the middle of the loop, on the third sample.
    monkeypatch.setattr(services, "_unlink_unreferenced", real_unlink)
    real_one, calls = services._scrub_one, []

    def dies_on_third(sample, media_root, report):
        calls.append(sample.pk)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_one(sample, media_root, report)

    monkeypatch.setattr(services, "_scrub_one", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        services.scrub_stored_images(progress=False)
    assert not old_first.exists(), "the next run removes what the killed one left"

    monkeypatch.setattr(services, "_scrub_one", real_one)
    report = services.scrub_stored_images(progress=False)
    assert report.failed == [] and report.checked == len(KINDS)
    for s in dataset.samples.all():
        assert_clean((media / s.image).read_bytes(), originals[s.pk], s.external_id)
    assert SampleEvent.objects.filter(kind=SampleEvent.Kind.IMAGE_SCRUBBED).count() == len(KINDS)
    leftovers = [p for p in (media / "samples").rglob("*") if p.is_file() and carries_metadata(p.read_bytes())]
    assert leftovers == []


@pytest.mark.django_db
def test_scrub_media_rehashes_a_pending_snapshot_so_its_build_still_matches(tmp_path, settings):
    from training import services as training_services
    from training.models import DatasetSnapshot

    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    media = Path(settings.MEDIA_ROOT)
    dataset = Dataset.objects.create(name="Old", source=Dataset.Source.FOLDER)
    _store_the_old_way(dataset, media)
    pending = training_services.create_snapshot(dataset, "", "II", build=False)  # records checksums only
    assert pending.state == DatasetSnapshot.State.PENDING
    call_command("scrub_media", no_progress=True, stdout=io.StringIO())
    pending.refresh_from_db()
    built = training_services.build_snapshot(pending)  # would fail "stale Sample.checksum?" without the rehash
    assert built.state == DatasetSnapshot.State.READY
    verl, _ = _snapshot_images(Path(pending.path))
    assert all(carries_metadata(b) == [] for b in verl)


# ---- the flag in a real browser -------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dermatologist_marks_identifying_content_in_the_browser(browser, live_server, tmp_path):
    from django.contrib.auth import get_user_model

    from webapp.roles import DERMATOLOGIST, grant_role

    dataset, _ = _folder(tmp_path)
    sample = dataset.samples.order_by("pk").first()
    Sample.objects.filter(pk=sample.pk).update(state=Sample.State.AUTO_ACCEPTED, caption={"color": "red"})
    user = get_user_model().objects.create_user(username="derm", password="correct horse battery")
    grant_role(user, DERMATOLOGIST)
    page = browser.new_context().new_page()
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "derm")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")

    # An accepted sample (read-only for captions) can still be marked: privacy does not wait for a claim.
    page.goto(f"{live_server.url}/review/samples/{sample.pk}/")
    page.fill("#identifying-note", "tattoo with a name")
    page.check("#identifying-check")
    page.locator("#identifying-status", has_text="Marked as identifying").wait_for()
    entry = page.locator("#history li", has_text="marked as identifying content")
    entry.wait_for()
    assert "by derm" in entry.inner_text() and "tattoo with a name" in entry.inner_text()
    assert Sample.objects.get(pk=sample.pk).identifying_content
    assert sample not in eligible_samples("stage1", dataset=dataset)

    page.reload()
    assert page.is_checked("#identifying-check")
    page.goto(f"{live_server.url}/datasets/{dataset.pk}/samples/")
    page.locator(f"[data-sample='{sample.pk}'] .identifying").wait_for()


@pytest.mark.django_db
def test_reimporting_over_a_file_stored_the_old_way_replaces_and_removes_it(tmp_path, settings,
                                                                           django_capture_on_commit_callbacks):
    media = Path(settings.MEDIA_ROOT)
    dataset = Dataset.objects.create(name="Via folder", source=Dataset.Source.FOLDER)
    originals = _store_the_old_way(dataset, media)
    Sample.objects.filter(dataset=dataset).update(external_id=Concat(Value(f"{LABEL}/"), "external_id"))
    old_files = [media / s.image for s in dataset.samples.all()]
    with django_capture_on_commit_callbacks(execute=True):
        _, by_id = _folder_again(tmp_path)
    for s in dataset.samples.all():
        assert_clean((media / s.image).read_bytes(), by_id[s.external_id], s.external_id)
        assert s.original_checksum == hashlib.sha256(originals[s.pk]).hexdigest()
    assert not any(p.exists() for p in old_files)


def _folder_again(tmp_path):
    for name, (data, _o) in KINDS.items():
        (tmp_path / "src" / LABEL).mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / LABEL / name).write_bytes(data)
    result = services.import_folder("Via folder", tmp_path / "src", progress=False)
    assert result.committed and result.updated == len(KINDS), result.errors
    return Dataset.objects.get(name="Via folder"), {f"{LABEL}/{n}": d for n, (d, _o) in KINDS.items()}


# ---- review findings: JFIF thumbnails, animated images, big lossless images to a model ------------------------

def _with_app0(jpeg: bytes, *segments: bytes) -> bytes:
    """``jpeg`` (Pillow's: SOI, then its 18-byte JFIF APP0) with its APP0 replaced by ``segments``."""
    assert jpeg[2:4] == b"\xff\xe0" and jpeg[6:11] == b"JFIF\x00"
    length = int.from_bytes(jpeg[4:6], "big")
    return jpeg[:2] + b"".join(segments) + jpeg[4 + length:]


def _app0(body: bytes) -> bytes:
    return b"\xff\xe0" + (len(body) + 2).to_bytes(2, "big") + body


def test_a_jfif_thumbnail_is_emptied_and_jfxx_extensions_are_dropped():
    buf = io.BytesIO()
    _pixels(11).save(buf, "JPEG", quality=90)
    plain = buf.getvalue()
    # A 2x2 RGB thumbnail (12 bytes: it can show the photo before a crop; here it spells the name).
    jfif = b"JFIF\x00\x01\x02\x01\x00\x48\x00\x48" + b"\x02\x02" + b"John Doe\x00\x00\x00\x00"
    thumb = io.BytesIO()
    _pixels(12, size=(8, 8)).save(thumb, "JPEG")
    jfxx = b"JFXX\x00\x10" + thumb.getvalue()  # extension 0x10: a JPEG-coded thumbnail
    data = _with_app0(plain, _app0(jfif), _app0(jfxx))
    assert carries_metadata(data) == ["JFIF thumbnail", "JPEG APP0 extension"]

    clean = deidentify(data)
    assert carries_metadata(clean) == [] and NAME not in clean and b"JFXX" not in clean
    # The JFIF header stays (version 1.02, dots per inch, 72x72), with a zero-size thumbnail and length 16.
    assert clean[2:20] == b"\xff\xe0\x00\x10JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x00\x00"
    assert (upright(clean) == upright(plain)).all()
    with pytest.raises(NotScrubbed, match="JFIF thumbnail"):
        require_scrubbed(data, "the image of sample 1")


def _animated(fmt: str) -> bytes:
    buf = io.BytesIO()
    frames = [_pixels(20), _pixels(21)]
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0,
                   **({"lossless": True} if fmt == "WEBP" else {}))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_images_are_refused_at_import(fmt):
    from annotations.imaging import ImageRejected, prepare_image

    data = _animated(fmt)
    assert getattr(Image.open(io.BytesIO(data)), "is_animated", False)
    with pytest.raises(ImageRejected, match="animated images are not supported; export one frame"):
        prepare_image(data, 10_000_000, "clip." + fmt.lower())


@pytest.mark.django_db
def test_an_animated_upload_is_refused_with_the_message(tmp_path):
    (tmp_path / "src" / LABEL).mkdir(parents=True)
    (tmp_path / "src" / LABEL / "clip.png").write_bytes(_animated("PNG"))
    result = services.import_folder("Animated", tmp_path / "src", progress=False)
    assert not result.committed
    assert any("animated images are not supported" in e.message for e in result.errors), result.errors


def test_a_big_lossless_image_goes_to_a_model_as_a_high_quality_jpeg(monkeypatch):
    from annotations import imaging

    rotated = deidentify(KINDS["rotated.jpg"][0])  # a rotated photo is stored as a lossless PNG
    assert Image.open(io.BytesIO(rotated)).format == "PNG"
    assert model_ready_image(rotated) is rotated  # small: sent as stored

    monkeypatch.setattr(imaging, "MODEL_LOSSLESS_MAX_BYTES", len(rotated) - 1)
    sent = model_ready_image(rotated)
    with Image.open(io.BytesIO(sent)) as img:
        assert img.format == "JPEG" and img.size == Image.open(io.BytesIO(rotated)).size
    assert carries_metadata(sent) == []
    diff = np.abs(upright(sent).astype(int) - upright(rotated).astype(int))
    assert diff.mean() < 8, "quality 95 keeps the picture"  # noise compresses worst: real photos do better
    lossless_webp = deidentify(KINDS["xmp.webp"][0])
    monkeypatch.setattr(imaging, "MODEL_LOSSLESS_MAX_BYTES", len(lossless_webp) - 1)
    assert Image.open(io.BytesIO(model_ready_image(lossless_webp))).format == "JPEG"
    jpeg = deidentify(KINDS["exif.jpg"][0])  # a JPEG is never re-encoded: it is already lossy
    monkeypatch.setattr(imaging, "MODEL_LOSSLESS_MAX_BYTES", 1)
    assert model_ready_image(jpeg) is jpeg


# ---- review findings: identifying content at the doors of work created before the mark ------------------------

def _accepted_dataset(tmp_path):
    dataset, _ = _folder(tmp_path)
    flagged = dataset.samples.order_by("pk").first()
    return dataset, flagged


@pytest.mark.django_db
def test_a_drafting_job_queued_before_the_mark_is_cancelled_and_sends_nothing(tmp_path, llm):
    dataset, flagged = _accepted_dataset(tmp_path)
    media = Path(__import__("django.conf").conf.settings.MEDIA_ROOT)
    stored = {s.pk: (media / s.image).read_bytes() for s in dataset.samples.all()}
    server = llm(PipelineResponder({_md5(model_ready_image(d)): (str(pk), Script(LABEL, 1))
                                    for pk, d in stored.items()}))
    run = drafting_services.create_run(dataset, max_attempts=1)
    Sample.objects.filter(pk=flagged.pk).update(identifying_content=True)  # marked while the job is queued
    job = DraftJob.objects.get(run=run, sample=flagged)
    assert drafting_services.draft_sample(job.id) == DraftJob.State.CANCELLED
    job.refresh_from_db()
    assert "marked as showing identifying content; not sent" in job.error
    flagged.refresh_from_db()
    assert flagged.state == Sample.State.NEW and "identifying content" in flagged.last_error
    assert server.request_count == 0

    # Resuming the run does not queue it again; the other jobs still run and send only their own images.
    DraftJob.objects.filter(pk=job.pk).update(state=DraftJob.State.FAILED)
    Sample.objects.filter(pk=flagged.pk).update(state=Sample.State.DRAFT_FAILED)
    drafting_services.resume_run(run)
    job.refresh_from_db()
    assert job.state == DraftJob.State.CANCELLED and "identifying content" in job.error
    for other in DraftJob.objects.filter(run=run).exclude(pk=job.pk):
        drafting_services.draft_sample(other.id)
    assert _md5(model_ready_image(stored[flagged.pk])) not in {_md5(b) for b in _request_images(server)}
    assert len(_request_images(server)) == len(KINDS) - 1

    # A new run leaves it out from the start (the same rule: eligible_samples("drafting")).
    Sample.objects.filter(pk=flagged.pk).update(state=Sample.State.NEW)
    Sample.objects.exclude(pk=flagged.pk).update(state=Sample.State.AUTO_ACCEPTED)
    with pytest.raises(drafting_services.DraftingRejected, match="identifying"):
        drafting_services.create_run(dataset)
    assert flagged not in eligible_samples("drafting", dataset=dataset)


@pytest.mark.django_db
def test_a_running_drafting_job_stops_before_the_next_attempt_once_marked(tmp_path, llm, monkeypatch):
    from annotations import drafting

    dataset, flagged = _accepted_dataset(tmp_path)
    media = Path(__import__("django.conf").conf.settings.MEDIA_ROOT)
    image = model_ready_image((media / flagged.image).read_bytes())
    llm(PipelineResponder({_md5(image): (str(flagged.pk), Script(LABEL, None))}))  # never consistent
    real_attempt = drafting.run_attempt

    def marked_during_the_first_attempt(*args, **kwargs):
        result = real_attempt(*args, **kwargs)
        Sample.objects.filter(pk=flagged.pk).update(identifying_content=True)
        return result

    monkeypatch.setattr(drafting, "run_attempt", marked_during_the_first_attempt)
    run = drafting_services.create_run(dataset, max_attempts=3)
    job = DraftJob.objects.get(run=run, sample=flagged)
    assert drafting_services.draft_sample(job.id) == DraftJob.State.CANCELLED
    job.refresh_from_db()
    assert job.attempts == 1 and "identifying content" in job.error


@pytest.mark.django_db
def test_a_pending_snapshot_built_after_the_mark_is_refused(tmp_path, settings):
    from training import services as training_services
    from training.models import DatasetSnapshot
    from training.services import TrainingError

    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    dataset, flagged = _accepted_dataset(tmp_path)
    pending = training_services.create_snapshot(dataset, "", "II", build=False)
    assert flagged.pk in pending.sample_ids
    Sample.objects.filter(pk=flagged.pk).update(identifying_content=True)
    with pytest.raises(TrainingError, match="identifying content.*launch the run again"):
        training_services.build_snapshot(pending)
    pending.refresh_from_db()
    assert pending.state == DatasetSnapshot.State.FAILED and f"sample {flagged.pk}" in pending.error
    assert not Path(pending.path).exists()
    # The next launch makes a snapshot without it.
    again = training_services.create_snapshot(dataset, "", "II")
    assert flagged.pk not in again.sample_ids and again.rows == len(KINDS) - 1


# ---- review findings: one bad snapshot does not stop scrub_media ----------------------------------------------

@pytest.mark.django_db
def test_scrub_media_reports_a_bad_snapshot_goes_on_and_exits_non_zero(tmp_path, settings):
    from training import export

    settings.SKINFLOW_TRAINING_DIR = str(tmp_path / "training")
    media = Path(settings.MEDIA_ROOT)
    dataset = Dataset.objects.create(name="Old", source=Dataset.Source.FOLDER)
    _store_the_old_way(dataset, media)
    root = Path(settings.SKINFLOW_TRAINING_DIR) / "snapshots" / f"dataset-{dataset.pk}"
    bad = _old_snapshot(dataset, root / "-stageII-k6-v1", 1)
    good = _old_snapshot(dataset, root / "-stageII-k6-v2", 2)
    parquet = Path(bad.path) / "verl.parquet"
    parquet.chmod(0o644)
    parquet.write_bytes(b"not a parquet file")  # sorted first: the good one comes after it

    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("scrub_media", no_progress=True, stdout=out)
    assert exit_info.value.code == 1
    text = out.getvalue()
    assert "1 rewritten" in text and "1 failed" in text, text
    assert f"snapshot {bad.path} cannot be read" in text and "run scrub_media again" in text
    verl, _ = _snapshot_images(Path(good.path))
    assert all(carries_metadata(b) == [] for b in verl)  # the good one was still rewritten
    assert export.read_manifest(good.path)["deidentified"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["exif.jpg", "clean.jpg"])
def test_a_file_changed_between_validation_and_storing_is_refused_and_nothing_is_stored(name, tmp_path,
                                                                                        monkeypatch):
    # The storing pass trusts the validation pass (it does not decode again), so it must notice a file that
    # changed in between, whether it was clean (written as read) or cleaned again.
    src = tmp_path / "src" / LABEL
    src.mkdir(parents=True)
    first = KINDS["exif.jpg"][0]
    if name == "clean.jpg":
        first = deidentify(first)
    path = src / name
    path.write_bytes(first)
    validate = services._inspect_records

    def validate_then_change(records, progress):
        errors = validate(records, progress)
        path.write_bytes(jpeg_exif(seed=77))  # someone replaces the photo while the import runs
        return errors

    monkeypatch.setattr(services, "_inspect_records", validate_then_change)
    with pytest.raises(ImportRejected, match="changed while it was being imported"):
        services.import_folder("Changing", tmp_path / "src", progress=False)
    assert not Sample.objects.filter(dataset__name="Changing").exists()
    assert not [p for p in (Path(settings.MEDIA_ROOT) / "samples").rglob("*") if p.is_file()]
