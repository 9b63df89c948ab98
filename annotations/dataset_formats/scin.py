"""SCIN, the Skin Condition Image Network (Ward et al., JAMA Netw. Open 2024; google-research-datasets/scin).

Two files, joined on ``case_id``: ``scin_cases.csv`` (``--csv``: ``case_id, source, release, year,
age_group, sex_at_birth, fitzpatrick_skin_type, race_ethnicity_*, textures_*, body_parts_*,
condition_symptoms_*, ..., image_1_path, image_2_path, image_3_path, image_N_shot_type``) and
``scin_labels.csv`` (``--labels``, default: beside ``--csv``: ``case_id,
dermatologist_skin_condition_on_label_name, dermatologist_skin_condition_confidence,
weighted_skin_condition_label, dermatologist_gradable_for_*, dermatologist_fitzpatrick_skin_type_label_1..3,
monk_skin_tone_label_india/us``).

* Label: the condition with the highest weight in ``weighted_skin_condition_label`` (a dict written as
  its Python repr, e.g. ``{'Eczema': 0.5, 'Psoriasis': 0.5}``; ties go to the condition the
  dermatologists named first in ``dermatologist_skin_condition_on_label_name``). The whole weighted
  differential is kept in the metadata. A case the dermatologists left without a condition (ungradable)
  has no label: it is skipped with a warning, not an error.
* Skin type: the dermatologists' estimates ``dermatologist_fitzpatrick_skin_type_label_1..3`` (FST1-FST6),
  their median (the lower one of two); without any, the contributor's ``fitzpatrick_skin_type``;
  ``NONE_SELECTED`` / ``NONE_IDENTIFIED`` / empty is unknown. ``fitzpatrick_source`` in the metadata says
  which it was; the raw values stay in the metadata too.
* Images: each of ``image_1_path .. image_3_path`` that is given becomes a sample ``<case_id>:image_N``;
  the split follows the case.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from annotations.csv_rows import read_rows
from annotations.dataset_formats.base import Companion, DatasetReader, Line, SourceRow, short
from annotations.import_report import ImportRejected, RowError

LABELS_REQUIRED = ("case_id", "dermatologist_skin_condition_on_label_name", "weighted_skin_condition_label")
DERMATOLOGIST_FST = tuple(f"dermatologist_fitzpatrick_skin_type_label_{i}" for i in (1, 2, 3))
SELF_REPORTED_FST = "fitzpatrick_skin_type"
IMAGE_COLUMNS = tuple(f"image_{i}_path" for i in (1, 2, 3))
_FST = re.compile(r"^FST([1-6])$", re.IGNORECASE)


def skin_type(line: Line, column: str) -> int | None:
    raw = line.get(column)
    if not raw or raw.upper().startswith("NONE"):
        return None
    m = _FST.match(raw)
    if m is None:
        line.error(column, f"{short(raw)!r} is not FST1-FST6 or NONE_SELECTED")
        return None
    return int(m.group(1))


class SCINReader(DatasetReader):
    name = "scin"
    title = "SCIN"
    source = "scin"
    default_dataset = "SCIN"
    license = "SCIN (Ward et al., 2024), SCIN data use terms (research)"
    description = "SCIN: crowdsourced photographs of common skin conditions, dermatologist-labelled."
    file_hint = "scin_cases.csv"
    required = ("case_id", "image_1_path")
    id_column = "case_id"
    label_column = "weighted_skin_condition_label"
    label_layers = ("scin",)
    companion = Companion("labels", "SCIN's scin_labels.csv; default: scin_labels.csv beside --csv",
                          default_names=("scin_labels.csv",), required=True)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.labels: dict[str, Line] = {}

    def prepare(self, companion: Path | None) -> list[RowError]:
        if companion is None:
            raise ImportRejected("SCIN labels are in a second file: pass --labels scin_labels.csv (or put it "
                                 "beside scin_cases.csv).")
        if not companion.is_file():
            raise ImportRejected(f"--labels {companion} does not exist.")
        errors: list[RowError] = []
        _, reader = read_rows(companion, LABELS_REQUIRED, f"scin_labels.csv has the columns "
                                                          f"{', '.join(LABELS_REQUIRED)} (and more)")
        for csv_line in reader:
            where = f"{companion.name} {csv_line.where}"
            if csv_line.errors:
                errors.extend(RowError(f"{companion.name} {e.row}", e.field, e.message) for e in csv_line.errors)
                continue
            line = Line(where, csv_line.values)
            case = line.get("case_id")
            if not case:
                errors.append(RowError(where, "case_id", "is empty; every label row names its case"))
            elif case in self.labels:
                errors.append(RowError(where, "case_id", f"{short(case)} already appears on "
                                                         f"{self.labels[case].where}; remove the duplicate row"))
            else:
                self.labels[case] = line
        return errors

    def parse(self, line: Line) -> list[SourceRow]:
        case = line.get("case_id")
        if not case:
            line.error("case_id", "is empty; every case needs its id")
            return []
        labels = self.labels.get(case)
        if labels is None:
            line.warn("case_id", f"case {short(case)} has no row in scin_labels.csv; not imported")
            return []
        names = labels.literal("dermatologist_skin_condition_on_label_name", list)
        weights = labels.literal("weighted_skin_condition_label", dict)
        line.errors.extend(labels.errors)  # reported on the labels file's own line
        labels.errors.clear()
        if names is None or weights is None:
            return []
        label = self._top_condition(line, names, weights)
        if line.errors:
            return []
        if not label:
            line.warn("weighted_skin_condition_label", f"case {short(case)} has no dermatologist condition "
                                                        "label (SCIN leaves ungradable cases unlabelled); not imported")
            return []
        fitzpatrick, origin = self._skin_type(line, labels)
        metadata = {**line.metadata(skip=IMAGE_COLUMNS), **labels.metadata(skip=("case_id",)),
                    "dermatologist_skin_condition_on_label_name": names, "weighted_skin_condition_label": weights,
                    "fitzpatrick_source": origin}
        rows = []
        for n, column in enumerate(IMAGE_COLUMNS, start=1):
            image = line.get(column)
            if not image:
                continue
            rows.append(SourceRow(external_id=f"{case}:image_{n}", label=label, split_key=case, where=line.where,
                                  fitzpatrick=fitzpatrick, image=image,
                                  metadata={**metadata, "image_path": image, "image_number": n}))
        if not rows:
            line.error("image_1_path", "no image path is given; every SCIN case has at least one image")
        return rows

    @staticmethod
    def _top_condition(line: Line, names: list, weights: dict) -> str:
        if not all(isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                   and math.isfinite(v) for k, v in weights.items()):
            line.error("weighted_skin_condition_label", "must map condition names to weights, "
                                                        "e.g. {'Eczema': 0.5}")
            return ""
        if not all(isinstance(n, str) for n in names):
            line.error("dermatologist_skin_condition_on_label_name", "must list condition names")
            return ""
        if not weights:
            return " ".join(names[0].split()) if names else ""
        order = {name: i for i, name in reversed(list(enumerate(names)))}
        best = max(weights.items(), key=lambda kv: (kv[1], -order.get(kv[0], len(names))))
        return " ".join(best[0].split())

    @staticmethod
    def _skin_type(line: Line, labels: Line) -> tuple[int | None, str]:
        estimates = sorted(v for v in (skin_type(labels, c) for c in DERMATOLOGIST_FST if labels.has(c))
                           if v is not None)
        self_reported = skin_type(line, SELF_REPORTED_FST) if line.has(SELF_REPORTED_FST) else None
        line.errors.extend(labels.errors)
        labels.errors.clear()
        if estimates:
            return estimates[(len(estimates) - 1) // 2], "dermatologist"
        if self_reported is not None:
            return self_reported, "self-reported"
        return None, "unknown"
