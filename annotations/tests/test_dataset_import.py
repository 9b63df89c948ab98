"""``manage.py import_dataset FORMAT``: DDI, SCIN, HAM10000, ISIC 2019/2020, PAD-UFES-20 and Derm7pt
metadata in the columns their authors publish. For each format: good rows keep their label, skin type
and the source's fields; bad rows are reported per line with what to do and nothing is imported; a re-run
creates nothing; the command prints how many labels the ontology does not resolve."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotations import dataset_import
from annotations.dataset_formats.registry import READERS, get_reader
from annotations.import_report import ImportRejected
from annotations.models import Dataset, Sample
from annotations.tests.images import jpeg_bytes, png_bytes, write


def write_csv(path: Path, header: list[str], rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in header})
    return path


def run(fmt: str, csv_path: Path, **opts) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_dataset", fmt, csv=str(csv_path), no_progress=True, stdout=out, stderr=err, **opts)
    return out.getvalue() + err.getvalue()


def rejected(fmt: str, csv_path: Path, **opts) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_dataset", fmt, csv=str(csv_path), no_progress=True, stdout=io.StringIO(),
                     stderr=err, **opts)
    return err.getvalue() + str(exc.value)


def sample(external_id: str) -> Sample:
    return Sample.objects.get(external_id=external_id)


def assert_nothing_imported(text: str, dataset: str) -> None:
    assert "NOT imported" in text and "--skip-bad-rows" in text
    assert Sample.objects.count() == 0 and not Dataset.objects.filter(name=dataset).exists()


def assert_rerun_creates_nothing(fmt: str, csv_path: Path, n: int, **opts) -> None:
    out = run(fmt, csv_path, **opts)
    assert f"imported: 0 created, 0 updated, {n} unchanged" in out
    assert Sample.objects.count() == n


# ---- DDI ------------------------------------------------------------------------------------------

DDI_HEADER = ["", "DDI_ID", "DDI_file", "skin_tone", "malignant", "disease"]


def ddi_row(n: int, disease: str, tone: str = "56", malignant: str = "False") -> dict:
    return {"": str(n - 1), "DDI_ID": str(n), "DDI_file": f"{n:06d}.png", "skin_tone": tone,
            "malignant": malignant, "disease": disease}


@pytest.mark.django_db
def test_ddi_rows_keep_disease_skin_tone_and_malignancy(tmp_path):
    path = write_csv(tmp_path / "ddi_metadata.csv", DDI_HEADER, [
        ddi_row(1, "melanoma-in-situ", "56", "True"), ddi_row(2, "seborrheic-keratosis-irritated", "12"),
        ddi_row(3, "not-a-real-disease", "34")])
    out = run("ddi", path)
    assert "imported: 3 created" in out
    assert "labels: 3 distinct, 2 resolved by the ontology, 1 unresolved (1 row)" in out
    assert "'not-a-real-disease' (1 row)" in out
    s = sample("000001.png")
    assert (s.label, s.fitzpatrick, s.dataset.source, s.dataset.name) == ("melanoma-in-situ", None, "ddi", "DDI")
    assert s.dataset.license.startswith("DDI (Daneshjou et al., 2022)") and s.source == "DDI"
    assert s.metadata == {"DDI_ID": "1", "DDI_file": "000001.png", "skin_tone": "56", "fitzpatrick_group": "V-VI",
                          "malignant": True, "disease": "melanoma-in-situ"}
    assert sample("000002.png").metadata["fitzpatrick_group"] == "I-II"
    assert sample("000002.png").metadata["malignant"] is False
    assert_rerun_creates_nothing("ddi", path, 3)


@pytest.mark.django_db
def test_ddi_first_release_malignancy_column_is_read(tmp_path):
    header = ["DDI_ID", "DDI_file", "skin_tone", "malignancy(malig=1)", "disease"]
    row = {**ddi_row(1, "melanoma"), "malignancy(malig=1)": "1"}
    run("ddi", write_csv(tmp_path / "ddi.csv", header, [row]))
    assert sample("000001.png").metadata["malignant"] is True


@pytest.mark.django_db
def test_ddi_bad_rows_are_listed_and_nothing_is_imported(tmp_path):
    path = write_csv(tmp_path / "ddi.csv", DDI_HEADER, [
        ddi_row(1, "melanoma"), ddi_row(2, "melanoma", tone="7"), ddi_row(3, "lipoma", malignant="maybe"),
        ddi_row(4, " "), ddi_row(1, "wart")])
    text = rejected("ddi", path)
    assert "line 3: skin_tone: '7' is not 12, 34 or 56 (Fitzpatrick I-II, III-IV, V-VI)" in text
    assert "line 4: malignant: 'maybe' is not True or False" in text
    assert "line 5: disease: the diagnosis is empty; every sample needs its label" in text
    assert "line 6: DDI_file: 000001.png already appears on line 2; remove the duplicate row" in text
    assert_nothing_imported(text, "DDI")


@pytest.mark.django_db
def test_ddi_without_a_malignancy_column_names_it(tmp_path):
    path = write_csv(tmp_path / "ddi.csv", ["DDI_ID", "DDI_file", "skin_tone", "disease"], [ddi_row(1, "lipoma")])
    assert "lacks the column malignant" in rejected("ddi", path)


# ---- SCIN -----------------------------------------------------------------------------------------

SCIN_CASES = ["case_id", "source", "release", "year", "age_group", "sex_at_birth", "fitzpatrick_skin_type",
              "image_1_path", "image_2_path", "image_3_path", "image_1_shot_type"]
SCIN_LABELS = ["case_id", "dermatologist_skin_condition_on_label_name", "dermatologist_skin_condition_confidence",
               "weighted_skin_condition_label", "dermatologist_fitzpatrick_skin_type_label_1",
               "dermatologist_fitzpatrick_skin_type_label_2", "dermatologist_fitzpatrick_skin_type_label_3"]


def scin_case(case: str, images: int = 1, fst: str = "") -> dict:
    row = {"case_id": case, "source": "SCIN", "release": "1.0.0", "year": "2023", "age_group": "AGE_30_TO_39",
           "sex_at_birth": "FEMALE", "fitzpatrick_skin_type": fst, "image_1_shot_type": "CLOSE_UP"}
    for n in range(1, images + 1):
        row[f"image_{n}_path"] = f"dataset/images/{case}_{n}.png"
    return row


def scin_label(case: str, names: str, weights: str, *fst: str) -> dict:
    row = {"case_id": case, "dermatologist_skin_condition_on_label_name": names,
           "dermatologist_skin_condition_confidence": "[4, 3]", "weighted_skin_condition_label": weights}
    for n, value in enumerate(fst, start=1):
        row[f"dermatologist_fitzpatrick_skin_type_label_{n}"] = value
    return row


def scin_files(tmp_path: Path, cases: list[dict], labels: list[dict]) -> Path:
    write_csv(tmp_path / "scin_labels.csv", SCIN_LABELS, labels)
    return write_csv(tmp_path / "scin_cases.csv", SCIN_CASES, cases)


@pytest.mark.django_db
def test_scin_cases_take_the_top_weighted_condition_and_the_dermatologists_skin_type(tmp_path):
    path = scin_files(tmp_path, [
        scin_case("-100", images=2, fst="FST6"), scin_case("-200", fst="FST5"), scin_case("-300"),
        scin_case("-400", fst="NONE_SELECTED")], [
        scin_label("-100", "['Eczema', 'Allergic Contact Dermatitis']",
                   "{'Eczema': 0.5, 'Allergic Contact Dermatitis': 0.5}", "FST4", "FST2"),
        scin_label("-200", "['Psoriasis', 'SCC/SCCIS']", "{'Psoriasis': 0.3, 'SCC/SCCIS': 0.7}"),
        scin_label("-300", "[]", "{}"),
        scin_label("-400", "['Made-up rash']", "{'Made-up rash': 1.0}")])
    out = run("scin", path)  # scin_labels.csv is found beside scin_cases.csv
    assert "imported: 4 created" in out
    assert "case -300 has no dermatologist condition label" in out and "not imported" in out
    assert "labels: 3 distinct, 2 resolved by the ontology, 1 unresolved (1 row)" in out
    first, second = sample("-100:image_1"), sample("-100:image_2")
    assert (first.label, first.fitzpatrick) == ("Eczema", 2)  # tie -> named first; median of FST4, FST2 -> lower
    assert first.split == second.split and second.metadata["image_number"] == 2
    assert first.metadata["weighted_skin_condition_label"] == {"Eczema": 0.5, "Allergic Contact Dermatitis": 0.5}
    assert first.metadata["fitzpatrick_source"] == "dermatologist" and first.metadata["fitzpatrick_skin_type"] == "FST6"
    assert first.metadata["image_path"] == "dataset/images/-100_1.png"
    other = sample("-200:image_1")
    assert (other.label, other.fitzpatrick, other.metadata["fitzpatrick_source"]) == ("SCC/SCCIS", 5, "self-reported")
    assert sample("-400:image_1").fitzpatrick is None
    assert_rerun_creates_nothing("scin", path, 4)


@pytest.mark.django_db
def test_scin_bad_rows_name_the_file_and_line(tmp_path):
    path = scin_files(tmp_path, [scin_case("-1"), scin_case("-2"), scin_case("-3", fst="FST9"),
                                 scin_case("-4", images=0)], [
        scin_label("-1", "['Eczema']", "{'Eczema': 1.0}"),
        scin_label("-2", "['Eczema']", "{'Eczema': "),
        scin_label("-3", "['Eczema']", "{'Eczema': 1.0}"),
        scin_label("-4", "['Eczema']", "{'Eczema': 1.0}", "FST3")])
    text = rejected("scin", path)
    assert "scin_labels.csv line 3: weighted_skin_condition_label: \"{'Eczema':\" is not a dict" in text
    assert "line 4: fitzpatrick_skin_type: 'FST9' is not FST1-FST6 or NONE_SELECTED" in text
    assert "line 5: image_1_path: no image path is given" in text
    assert_nothing_imported(text, "SCIN")


@pytest.mark.django_db
def test_scin_without_its_labels_file_says_to_pass_it(tmp_path):
    path = write_csv(tmp_path / "cases" / "scin_cases.csv", SCIN_CASES, [scin_case("-1")])
    assert "pass --labels scin_labels.csv" in rejected("scin", path)


# ---- HAM10000 -------------------------------------------------------------------------------------

HAM_HEADER = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "dataset"]


def ham_row(lesion: str, image: str, dx: str, age: str = "80.0") -> dict:
    return {"lesion_id": lesion, "image_id": image, "dx": dx, "dx_type": "histo", "age": age, "sex": "male",
            "localization": "scalp", "dataset": "vidir_modern"}


@pytest.mark.django_db
def test_ham10000_rows_keep_dx_and_share_a_split_per_lesion(tmp_path):
    path = write_csv(tmp_path / "HAM10000_metadata.csv", HAM_HEADER, [
        ham_row("HAM_0000118", "ISIC_0027419", "bkl"), ham_row("HAM_0000118", "ISIC_0025030", "bkl"),
        ham_row("HAM_0002730", "ISIC_0026769", "akiec", age=""), ham_row("HAM_0001466", "ISIC_0031633", "mel"),
        ham_row("HAM_0009999", "ISIC_0099999", "xyz")])
    out = run("ham10000", path)
    assert "imported: 5 created" in out and "labels: 4 distinct, 3 resolved by the ontology, 1 unresolved" in out
    s = sample("ISIC_0027419")
    assert (s.label, s.fitzpatrick, s.dataset.name) == ("bkl", None, "HAM10000")
    assert s.metadata == {"lesion_id": "HAM_0000118", "image_id": "ISIC_0027419", "dx": "bkl", "dx_type": "histo",
                          "age": "80.0", "sex": "male", "localization": "scalp", "dataset": "vidir_modern"}
    assert s.split == sample("ISIC_0025030").split
    assert "age" not in sample("ISIC_0026769").metadata  # empty cells are not stored
    assert_rerun_creates_nothing("ham10000", path, 5)


@pytest.mark.django_db
def test_ham10000_bad_rows(tmp_path):
    path = write_csv(tmp_path / "ham.csv", HAM_HEADER, [
        ham_row("HAM_1", "ISIC_1", "nv"), ham_row("HAM_2", "ISIC_2", ""), ham_row("HAM_3", "ISIC_3", "nv", age="old"),
        ham_row("HAM_4", "ISIC_1", "mel")])
    text = rejected("ham10000", path)
    assert "line 3: dx: the diagnosis is empty" in text
    assert "line 4: age: 'old' is not an age in years (or empty when unknown)" in text
    assert "line 5: image_id: ISIC_1 already appears on line 2" in text
    assert_nothing_imported(text, "HAM10000")


# ---- ISIC 2019 ------------------------------------------------------------------------------------

ISIC2019_GT = ["image", "MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
ISIC2019_META = ["image", "age_approx", "anatom_site_general", "lesion_id", "sex"]


def gt_row(image: str, *marked: str, value: str = "1.0") -> dict:
    return {"image": image, **{c: (value if c in marked else "0.0") for c in ISIC2019_GT[1:]}}


@pytest.mark.django_db
def test_isic2019_one_hot_ground_truth_with_its_metadata_file(tmp_path):
    path = write_csv(tmp_path / "ISIC_2019_Training_GroundTruth.csv", ISIC2019_GT, [
        gt_row("ISIC_0000000", "NV"), gt_row("ISIC_0000001", "MEL"), gt_row("ISIC_0000002", "UNK"),
        gt_row("ISIC_0000003", "AK")])
    write_csv(tmp_path / "ISIC_2019_Training_Metadata.csv", ISIC2019_META, [
        {"image": "ISIC_0000000", "age_approx": "55.0", "anatom_site_general": "anterior torso",
         "lesion_id": "BCN_0000001", "sex": "female"},
        {"image": "ISIC_0000001", "age_approx": "30.0", "anatom_site_general": "anterior torso",
         "lesion_id": "BCN_0000001", "sex": "female"}])
    out = run("isic2019", path)
    assert "imported: 4 created" in out
    assert "labels: 4 distinct, 3 resolved by the ontology, 1 unresolved (1 row)" in out and "'UNK'" in out
    s = sample("ISIC_0000000")
    assert (s.label, s.dataset.name) == ("NV", "ISIC 2019")
    assert s.metadata == {"diagnosis": "NV", "age_approx": "55.0", "anatom_site_general": "anterior torso",
                          "lesion_id": "BCN_0000001", "sex": "female"}
    assert s.split == sample("ISIC_0000001").split  # the same lesion
    assert sample("ISIC_0000003").metadata == {"diagnosis": "AK"}
    assert_rerun_creates_nothing("isic2019", path, 4)


@pytest.mark.django_db
def test_isic2019_rows_that_are_not_one_hot(tmp_path):
    path = write_csv(tmp_path / "gt.csv", ISIC2019_GT, [
        gt_row("ISIC_1", "NV"), gt_row("ISIC_2", "MEL", "NV"), gt_row("ISIC_3"), gt_row("ISIC_4", "BCC", value="yes")])
    text = rejected("isic2019", path)
    assert "line 3: MEL..SCC: 2 diagnoses are marked 1.0 (MEL, NV); exactly one must be" in text
    assert "line 4: MEL..SCC: 0 diagnoses are marked 1.0 (none); exactly one must be" in text
    assert "line 5: BCC: 'yes' is not 0.0 or 1.0" in text
    assert_nothing_imported(text, "ISIC 2019")


@pytest.mark.django_db
def test_isic2019_metadata_file_given_with_its_option_is_checked_too(tmp_path):
    path = write_csv(tmp_path / "gt.csv", ISIC2019_GT, [gt_row("ISIC_1", "NV"), gt_row("ISIC_2", "BKL")])
    meta = write_csv(tmp_path / "meta.csv", ISIC2019_META, [
        {"image": "ISIC_1", "age_approx": "old", "lesion_id": "L1"}, {"image": "ISIC_1", "age_approx": "40"}])
    text = rejected("isic2019", path, metadata=str(meta))
    assert "meta.csv line 2: age_approx: 'old' is not an age in years" in text
    assert "meta.csv line 3: image: ISIC_1 is listed twice in the metadata (also on line 2)" in text
    assert_nothing_imported(text, "ISIC 2019")
    assert "--metadata" in rejected("isic2019", path, metadata=str(tmp_path / "none.csv"))
    meta = write_csv(tmp_path / "meta.csv", ISIC2019_META, [{"image": "ISIC_2", "age_approx": "40", "sex": "male"}])
    run("isic2019", path, metadata=str(meta))
    assert sample("ISIC_2").metadata == {"diagnosis": "BKL", "age_approx": "40", "sex": "male"}


# ---- ISIC 2020 ------------------------------------------------------------------------------------

ISIC2020_HEADER = ["image_name", "patient_id", "lesion_id", "sex", "age_approx", "anatom_site_general_challenge",
                   "diagnosis", "benign_malignant", "target"]


def isic2020_row(image: str, patient: str, diagnosis: str, verdict: str = "benign", target: str = "0",
                 age: str = "45.0") -> dict:
    return {"image_name": image, "patient_id": patient, "lesion_id": f"IL_{image[-4:]}", "sex": "male",
            "age_approx": age, "anatom_site_general_challenge": "head/neck", "diagnosis": diagnosis,
            "benign_malignant": verdict, "target": target}


@pytest.mark.django_db
def test_isic2020_keeps_malignancy_and_flags_unknown_diagnoses(tmp_path):
    path = write_csv(tmp_path / "ISIC_2020_Training_GroundTruth_v2.csv", ISIC2020_HEADER, [
        isic2020_row("ISIC_2637011", "IP_7279968", "unknown"), isic2020_row("ISIC_0015719", "IP_3075186", "nevus"),
        isic2020_row("ISIC_0052212", "IP_7279968", "melanoma", "malignant", "1"),
        isic2020_row("ISIC_0074542", "IP_4655710", "lentigo NOS")])
    out = run("isic2020", path)
    assert "imported: 4 created" in out
    assert "labels: 4 distinct, 3 resolved by the ontology, 1 unresolved (1 row)" in out and "'unknown'" in out
    unknown, melanoma = sample("ISIC_2637011"), sample("ISIC_0052212")
    assert (unknown.label, unknown.exclude_from_eval, unknown.qc_flag) == ("unknown", True, "diagnosis unknown")
    assert (melanoma.label, melanoma.exclude_from_eval) == ("melanoma", False)
    assert melanoma.metadata["malignant"] is True and melanoma.metadata["target"] == 1
    assert melanoma.metadata["patient_id"] == "IP_7279968" and melanoma.split == unknown.split  # one patient
    assert sample("ISIC_0015719").metadata["malignant"] is False
    assert_rerun_creates_nothing("isic2020", path, 4)


@pytest.mark.django_db
def test_isic2020_bad_rows(tmp_path):
    path = write_csv(tmp_path / "gt.csv", ISIC2020_HEADER, [
        isic2020_row("ISIC_1", "IP_1", "nevus"), isic2020_row("ISIC_2", "IP_1", "nevus", verdict="maybe"),
        isic2020_row("ISIC_3", "IP_1", "melanoma", "benign", "1"), isic2020_row("ISIC_4", "IP_1", "nevus", age="old")])
    text = rejected("isic2020", path)
    assert "line 3: benign_malignant: 'maybe' is not benign or malignant" in text
    assert "line 4: target: 1 contradicts benign_malignant 'benign' (1 is malignant); fix one of the two" in text
    assert "line 5: age_approx: 'old' is not an age in years" in text
    assert_nothing_imported(text, "ISIC 2020")


# ---- PAD-UFES-20 ----------------------------------------------------------------------------------

PAD_HEADER = ["patient_id", "lesion_id", "smoke", "drink", "background_father", "background_mother", "age",
              "pesticide", "gender", "skin_cancer_history", "cancer_history", "has_piped_water",
              "has_sewage_system", "fitspatrick", "region", "diameter_1", "diameter_2", "diagnostic", "itch",
              "grew", "hurt", "changed", "bleed", "elevation", "img_id", "biopsed"]


def pad_row(patient: int, lesion: int, diagnostic: str, fst: str = "3.0", biopsed: str = "True") -> dict:
    return {"patient_id": f"PAT_{patient}", "lesion_id": str(lesion), "smoke": "False", "drink": "False",
            "background_father": "POMERANIA", "age": "55", "gender": "FEMALE", "fitspatrick": fst, "region": "FACE",
            "diameter_1": "6.0", "diameter_2": "5.0", "diagnostic": diagnostic, "itch": "True", "grew": "UNK",
            "img_id": f"PAT_{patient}_{lesion}_{patient + lesion}.png", "biopsed": biopsed}


@pytest.mark.django_db
def test_pad_ufes_20_rows_keep_fitzpatrick_biopsy_and_clinical_fields(tmp_path):
    path = write_csv(tmp_path / "metadata.csv", PAD_HEADER, [
        pad_row(46, 881, "BCC"), pad_row(46, 882, "ACK", fst="", biopsed="False"), pad_row(1516, 1765, "NEV", fst="2"),
        pad_row(9, 17, "BOD", fst="6.0")])
    out = run("pad_ufes_20", path)
    assert "imported: 4 created" in out and "labels: 4 distinct, 4 resolved by the ontology, 0 unresolved" in out
    s = sample("PAT_46_881_927.png")
    assert (s.label, s.fitzpatrick, s.dataset.name, s.dataset.source) == ("BCC", 3, "PAD-UFES-20", "pad_ufes_20")
    assert s.metadata["biopsed"] is True and s.metadata["region"] == "FACE" and s.metadata["grew"] == "UNK"
    assert s.metadata["fitspatrick"] == "3.0" and s.metadata["patient_id"] == "PAT_46"
    other = sample("PAT_46_882_928.png")
    assert (other.fitzpatrick, other.metadata["biopsed"], other.split) == (None, False, s.split)  # same patient
    assert sample("PAT_1516_1765_3281.png").fitzpatrick == 2 and sample("PAT_9_17_26.png").fitzpatrick == 6
    assert_rerun_creates_nothing("pad-ufes-20", path, 4)  # the format name as the dataset spells it


@pytest.mark.django_db
def test_pad_ufes_20_bad_rows(tmp_path):
    bad_image = pad_row(3, 3, "SEK")
    bad_image["img_id"] = ""
    path = write_csv(tmp_path / "metadata.csv", PAD_HEADER, [
        pad_row(1, 1, "SEK"), pad_row(2, 2, "SEK", fst="7"), pad_row(2, 3, "SEK", biopsed="maybe"), bad_image])
    text = rejected("pad_ufes_20", path)
    assert "line 3: fitspatrick: '7' is not a Fitzpatrick type 1-6 (or empty when unknown)" in text
    assert "line 4: biopsed: 'maybe' is not True or False" in text
    assert "line 5: img_id: is empty; every row needs the id the dataset gives its image" in text
    assert_nothing_imported(text, "PAD-UFES-20")


@pytest.mark.django_db
def test_pad_ufes_20_row_saved_in_latin1_is_reported_with_the_fix(tmp_path):
    path = write_csv(tmp_path / "metadata.csv", PAD_HEADER, [pad_row(1, 1, "BCC"), pad_row(2, 2, "NEV")])
    path.write_bytes(path.read_bytes().replace(b"POMERANIA", "POMER\u00c2NIA".encode("latin-1"), 1))
    text = rejected("pad_ufes_20", path)
    assert "line 2: background_father: holds the byte 0xc2, which is not UTF-8 text; save the file as UTF-8" in text
    assert_nothing_imported(text, "PAD-UFES-20")


# ---- Derm7pt --------------------------------------------------------------------------------------

DERM7PT_HEADER = ["case_num", "diagnosis", "seven_point_score", "pigment_network", "streaks", "pigmentation",
                  "regression_structures", "dots_and_globules", "blue_whitish_veil", "vascular_structures",
                  "level_of_diagnostic_difficulty", "elevation", "location", "sex", "clinic", "derm",
                  "management", "notes"]


def derm7pt_row(case: int, diagnosis: str, folder: str = "NEL") -> dict:
    return {"case_num": str(case), "diagnosis": diagnosis, "seven_point_score": "1", "pigment_network": "typical",
            "streaks": "absent", "pigmentation": "absent", "regression_structures": "absent",
            "dots_and_globules": "irregular", "blue_whitish_veil": "absent", "vascular_structures": "absent",
            "level_of_diagnostic_difficulty": "medium", "elevation": "palpable", "location": "back",
            "sex": "female", "clinic": f"{folder}/Nel{case:03d}.jpg", "derm": f"{folder}/NEL{case:03d}.JPG",
            "management": "excision", "notes": ""}


@pytest.mark.django_db
def test_derm7pt_cases_become_a_clinical_and_a_dermoscopic_sample(tmp_path):
    path = write_csv(tmp_path / "meta" / "meta.csv", DERM7PT_HEADER, [
        derm7pt_row(1, "basal cell carcinoma"), derm7pt_row(2, "melanoma (in situ)"), derm7pt_row(3, "clark nevus"),
        derm7pt_row(4, "made-up lesion")])
    out = run("derm7pt", path)
    assert "imported: 8 created" in out
    assert "labels: 4 distinct, 3 resolved by the ontology, 1 unresolved (2 rows)" in out
    clinic, derm = sample("2:clinic"), sample("2:derm")
    assert (clinic.label, derm.label, clinic.fitzpatrick) == ("melanoma (in situ)", "melanoma (in situ)", None)
    assert (clinic.metadata["modality"], derm.metadata["modality"]) == ("clinical", "dermoscopic")
    assert clinic.metadata["pigment_network"] == "typical" and clinic.metadata["clinic"] == "NEL/Nel002.jpg"
    assert clinic.split == derm.split
    assert_rerun_creates_nothing("derm7pt", path, 8)


@pytest.mark.django_db
def test_derm7pt_bad_rows(tmp_path):
    no_derm = derm7pt_row(2, "melanoma")
    no_derm["derm"] = ""
    path = write_csv(tmp_path / "meta.csv", DERM7PT_HEADER, [
        derm7pt_row(1, "melanoma"), no_derm, derm7pt_row(3, ""), derm7pt_row(1, "lentigo")])
    text = rejected("derm7pt", path)
    assert "line 3: derm: the dermoscopic image path is empty" in text
    assert text.count("line 4: diagnosis: the diagnosis is empty") == 1  # once, not once per image
    assert "line 5: case_num: 1:clinic already appears on line 2" in text
    assert_nothing_imported(text, "Derm7pt")


# ---- shared behaviour -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_images_attach_by_the_formats_file_column_and_a_bad_image_blocks_the_import(tmp_path, settings):
    images = tmp_path / "images"
    write(images / "imgs_part_1" / "PAT_1_1_2.png", png_bytes())       # PAD-UFES ships images in parts
    write(images / "imgs_part_2" / "PAT_2_2_4.png", b"not an image at all")
    path = write_csv(tmp_path / "metadata.csv", PAD_HEADER, [pad_row(1, 1, "BCC"), pad_row(2, 2, "NEV"),
                                                             pad_row(3, 3, "SEK")])
    text = rejected("pad_ufes_20", path, images=str(images))
    assert "PAT_2_2_4.png: image: " in text and "not an image Pillow can read" in text
    assert_nothing_imported(text, "PAD-UFES-20")
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.png")), "a rejected import must leave no files behind"

    out = run("pad_ufes_20", path, images=str(images), skip_bad_rows=True)
    assert "imported: 2 created" in out and "1 images attached" in out
    assert "no image file PAT_3_3_6.png under" in out  # a missing file is a warning: metadata only
    s = sample("PAT_1_1_2.png")
    assert (s.width, s.height) == (40, 40) and (Path(settings.MEDIA_ROOT) / s.image).read_bytes() == png_bytes()
    assert sample("PAT_3_3_6.png").image == ""


@pytest.mark.django_db
def test_images_found_by_relative_path_or_by_image_id_without_extension(tmp_path):
    images = tmp_path / "images"
    write(images / "NEL" / "Nel001.jpg", jpeg_bytes((1, 2, 3)))
    write(images / "NEL" / "NEL001.JPG", jpeg_bytes((200, 2, 3)))
    run("derm7pt", write_csv(tmp_path / "meta.csv", DERM7PT_HEADER, [derm7pt_row(1, "melanoma")]),
        images=str(images))
    assert sample("1:clinic").image and sample("1:derm").image and sample("1:clinic").image != sample("1:derm").image
    write(images / "ISIC_0024306.jpg", jpeg_bytes())
    run("ham10000", write_csv(tmp_path / "ham.csv", HAM_HEADER, [ham_row("HAM_1", "ISIC_0024306", "nv")]),
        images=str(images))
    assert sample("ISIC_0024306").image


@pytest.mark.django_db
def test_skip_bad_rows_imports_the_good_ones(tmp_path):
    path = write_csv(tmp_path / "ddi.csv", DDI_HEADER, [ddi_row(1, "melanoma"), ddi_row(2, "lipoma", tone="9")])
    out = run("ddi", path, skip_bad_rows=True)
    assert "imported: 1 created" in out and "line 3: skin_tone" in out
    assert list(Sample.objects.values_list("external_id", flat=True)) == ["000001.png"]


@pytest.mark.django_db
def test_unknown_format_wrong_companion_and_a_name_taken_by_another_source(tmp_path):
    path = write_csv(tmp_path / "ddi.csv", DDI_HEADER, [ddi_row(1, "melanoma")])
    assert "Unknown dataset format 'fitz'; known formats: ddi, scin" in rejected("fitz", path)
    assert "ddi takes no --labels" in rejected("ddi", path, labels=str(path))
    Dataset.objects.create(name="Clinic A", source=Dataset.Source.FOLDER)
    assert "already holds Folder import data; choose another name with --name" in rejected("ddi", path, name="Clinic A")
    assert "does not exist; pass DDI's ddi_metadata.csv with --csv" in rejected("ddi", tmp_path / "nope.csv")
    assert Sample.objects.count() == 0


def test_every_format_is_registered_with_a_source_choice_and_known_label_layers():
    from evaluation.ontology import default_ontology

    layers = default_ontology().label_layers
    assert set(READERS) == {"ddi", "scin", "ham10000", "isic2019", "isic2020", "pad_ufes_20", "derm7pt"}
    for name, reader in READERS.items():
        assert reader.source in Dataset.Source.values, name
        assert get_reader(name.upper().replace("_", "-")) is reader
        assert all(layer in layers for layer in reader.label_layers), name
    with pytest.raises(ImportRejected):
        get_reader("nope")


def test_unresolved_labels_use_the_formats_layer_then_the_general_lookup():
    labels, unresolved = dataset_import.unresolved_labels(
        ["MEL", "MEL", "Eczema", "nonsense-thing", "nonsense-thing"], ("isic2019",))
    assert (labels, unresolved) == (3, {"nonsense-thing": 2})
