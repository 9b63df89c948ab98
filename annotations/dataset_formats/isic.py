"""HAM10000 and the ISIC 2019 and 2020 challenge sets, as the ISIC Archive publishes them.

* HAM10000 (Tschandl et al., Sci. Data 2018), ``HAM10000_metadata.csv``: ``lesion_id, image_id, dx,
  dx_type, age, sex, localization`` (later releases add ``dataset``). ``dx`` is the label (akiec, bcc, bkl,
  df, mel, nv, vasc); ``dx_type`` (histo, follow_up, consensus, confocal) says how it was confirmed.
  Images are ``<image_id>.jpg``; the split follows ``lesion_id`` (several images show one lesion).
* ISIC 2019 (``ISIC_2019_Training_GroundTruth.csv``, also the test ground truth): ``image`` and one-hot
  columns ``MEL, NV, BCC, AK, BKL, DF, VASC, SCC`` (and ``UNK``), exactly one of them 1.0; the code is the
  label. Its metadata file (``ISIC_2019_Training_Metadata.csv``: ``image, age_approx,
  anatom_site_general, lesion_id, sex``) is read from ``--metadata`` or found next to the ground truth;
  the split follows ``lesion_id`` where given.
* ISIC 2020 (Rotemberg et al., Sci. Data 2021; ``ISIC_2020_Training_GroundTruth.csv`` and its ``_v2``
  with ``lesion_id``): ``image_name, patient_id, sex, age_approx, anatom_site_general_challenge,
  diagnosis, benign_malignant, target``. ``diagnosis`` is the label; "unknown" (most benign images)
  is kept as published, flagged and excluded from evaluation: it names no condition. The split follows
  ``patient_id``.

No ISIC set records skin type; ``fitzpatrick`` stays unknown.
"""

from __future__ import annotations

from pathlib import Path

from annotations.csv_rows import read_rows
from annotations.dataset_formats.base import Companion, DatasetReader, Line, SourceRow, missing, short
from annotations.import_report import ImportRejected, RowError

ISIC_LICENSE = "CC BY-NC 4.0"


def _age(line: Line, column: str) -> None:
    raw = line.get(column)
    if missing(raw):
        return
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 120:
        line.error(column, f"{short(raw)!r} is not an age in years (or empty when unknown)")


class HAM10000Reader(DatasetReader):
    name = "ham10000"
    title = "HAM10000"
    source = "ham10000"
    default_dataset = "HAM10000"
    license = f"HAM10000 (Tschandl et al., 2018), {ISIC_LICENSE}"
    description = "HAM10000 dermoscopic images of pigmented lesions (ISIC 2018 task 3)."
    file_hint = "HAM10000_metadata.csv"
    required = ("lesion_id", "image_id", "dx", "dx_type")
    id_column = "image_id"
    label_column = "dx"
    label_layers = ("ham10000", "isic2019", "isic")

    def parse(self, line: Line) -> list[SourceRow]:
        _age(line, "age")
        image = line.get("image_id")
        return [SourceRow(external_id=image, label=line.get("dx"), split_key=line.get("lesion_id") or image,
                          where=line.where, image=image, metadata=line.metadata())]


ISIC2019_CODES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")


class ISIC2019Reader(DatasetReader):
    name = "isic2019"
    title = "ISIC 2019"
    source = "isic2019"
    default_dataset = "ISIC 2019"
    license = f"ISIC 2019 (BCN20000, HAM10000, MSK), {ISIC_LICENSE}"
    description = "ISIC 2019 challenge dermoscopic images, eight diagnostic categories."
    file_hint = "ISIC_2019_Training_GroundTruth.csv"
    required = ("image",) + ISIC2019_CODES
    id_column = "image"
    label_column = "MEL..SCC"
    label_layers = ("isic2019", "ham10000", "isic")
    companion = Companion("metadata", "ISIC 2019 metadata CSV (image, age_approx, anatom_site_general, "
                                      "lesion_id, sex); default: the *_Metadata.csv beside --csv")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.extra: dict[str, dict[str, str]] = {}

    def companion_for(self, csv_path: Path) -> Path | None:
        candidate = csv_path.with_name(csv_path.name.replace("GroundTruth", "Metadata"))
        return candidate if candidate != csv_path and candidate.is_file() else None

    def prepare(self, companion: Path | None) -> list[RowError]:
        if companion is None:
            return []
        if not companion.is_file():
            raise ImportRejected(f"--metadata {companion} does not exist.")
        errors: list[RowError] = []
        seen: dict[str, str] = {}
        _, reader = read_rows(companion, ("image",), "the ISIC 2019 metadata file has the columns image, "
                                                     "age_approx, anatom_site_general, lesion_id, sex")
        for csv_line in reader:
            where = f"{companion.name} {csv_line.where}"
            if csv_line.errors:
                errors.extend(RowError(f"{companion.name} {e.row}", e.field, e.message) for e in csv_line.errors)
                continue
            line = Line(where, csv_line.values)
            image = line.get("image")
            if image in seen:
                errors.append(RowError(where, "image", f"{short(image)} is listed twice in the metadata (also "
                                                       f"on {seen[image]}); remove the duplicate row"))
                continue
            seen[image] = csv_line.where
            _age(line, "age_approx")
            if line.errors:
                errors.extend(line.errors)
                continue
            self.extra[image] = line.metadata(skip=("image",))
        return errors

    def parse(self, line: Line) -> list[SourceRow]:
        codes = [c for c in ISIC2019_CODES + ("UNK",) if line.has(c)]
        marked = []
        for code in codes:
            raw = line.get(code)
            try:
                value = float(raw or "0")
            except ValueError:
                line.error(code, f"{short(raw)!r} is not 0.0 or 1.0")
                continue
            if value not in (0.0, 1.0):
                line.error(code, f"{short(raw)!r} is not 0.0 or 1.0")
            elif value == 1.0:
                marked.append(code)
        if not line.errors and len(marked) != 1:
            line.error("MEL..SCC", f"{len(marked)} diagnoses are marked 1.0 ({', '.join(marked) or 'none'}); "
                                   "exactly one must be")
        if line.errors:
            return []
        image = line.get("image")
        metadata = {"diagnosis": marked[0], **self.extra.get(image, {})}
        return [SourceRow(external_id=image, label=metadata["diagnosis"],
                          split_key=metadata.get("lesion_id") or image, where=line.where, image=image,
                          metadata=metadata)]


class ISIC2020Reader(DatasetReader):
    name = "isic2020"
    title = "ISIC 2020"
    source = "isic2020"
    default_dataset = "ISIC 2020"
    license = f"ISIC 2020 (Rotemberg et al., 2021), {ISIC_LICENSE}"
    description = "SIIM-ISIC 2020 melanoma challenge: dermoscopic images with patient ids."
    file_hint = "ISIC_2020_Training_GroundTruth.csv"
    required = ("image_name", "patient_id", "diagnosis", "benign_malignant", "target")
    id_column = "image_name"
    label_column = "diagnosis"
    label_layers = ("isic2020", "isic")
    UNKNOWN = "unknown"

    def parse(self, line: Line) -> list[SourceRow]:
        metadata = line.metadata()
        verdict = line.get("benign_malignant").casefold()
        target = line.get("target")
        if verdict not in ("benign", "malignant"):
            line.error("benign_malignant", f"{short(verdict)!r} is not benign or malignant")
        elif target not in ("0", "1"):
            line.error("target", f"{short(target)!r} is not 0 or 1")
        elif (target == "1") != (verdict == "malignant"):
            line.error("target", f"{target} contradicts benign_malignant {verdict!r} (1 is malignant); "
                                 "fix one of the two")
        else:
            metadata["malignant"] = verdict == "malignant"
            metadata["target"] = int(target)
        _age(line, "age_approx")
        image, label = line.get("image_name"), line.get("diagnosis")
        unknown = label.casefold() == self.UNKNOWN
        return [SourceRow(external_id=image, label=label, split_key=line.get("patient_id") or image,
                          where=line.where, image=image, metadata=metadata, exclude_from_eval=unknown,
                          qc_flag="diagnosis unknown" if unknown else "")]
