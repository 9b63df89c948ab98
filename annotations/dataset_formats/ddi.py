"""DDI, the Diverse Dermatology Images set (Daneshjou et al., Sci. Adv. 2022), ``ddi_metadata.csv``.

Published columns (Stanford AIMI release, read by ``ddi_dataset.py`` in DDI-Dataset/DDI-Code): an unnamed
pandas index, ``DDI_ID``, ``DDI_file`` (``000001.png``), ``skin_tone`` (12, 34 or 56), ``malignant``
(True/False; the first release wrote ``malignancy(malig=1)`` as 1/0 instead, also read) and ``disease``
(a slug such as ``melanoma-in-situ``, mapped through the ontology's ``ddi`` layer).

Skin type: DDI groups Fitzpatrick types in pairs (12 = I-II, 34 = III-IV, 56 = V-VI); a pair is not one
type, so ``Sample.fitzpatrick`` stays unknown and the metadata keeps ``skin_tone`` as published and
``fitzpatrick_group`` ("I-II", "III-IV", "V-VI").
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from annotations.dataset_formats.base import DatasetReader, Line, SourceRow, short
from annotations.import_report import ImportRejected

SKIN_TONE_GROUPS = {"12": "I-II", "34": "III-IV", "56": "V-VI"}
_OLD_MALIGNANT = "malignancy(malig=1)"


class DDIReader(DatasetReader):
    name = "ddi"
    title = "DDI"
    source = "ddi"
    default_dataset = "DDI"
    license = "DDI (Daneshjou et al., 2022), Stanford AIMI dataset research use agreement"
    description = "Diverse Dermatology Images: biopsy-proven lesions across Fitzpatrick skin-tone groups."
    file_hint = "ddi_metadata.csv"
    required = ("DDI_ID", "DDI_file", "skin_tone", "disease")
    id_column = "DDI_file"
    label_column = "disease"
    label_layers = ("ddi",)

    def check_header(self, names: Sequence[str], path: Path) -> None:
        if "malignant" not in names and _OLD_MALIGNANT not in names:
            raise ImportRejected(f"{path.name} lacks the column malignant (or {_OLD_MALIGNANT} of the first "
                                 f"release); {self.header_hint()}")

    def parse(self, line: Line) -> list[SourceRow]:
        metadata = line.metadata()
        tone = line.get("skin_tone")
        if tone.endswith(".0"):  # a spreadsheet's number format
            tone = tone[:-2]
        if tone in SKIN_TONE_GROUPS:
            metadata["skin_tone"] = tone
            metadata["fitzpatrick_group"] = SKIN_TONE_GROUPS[tone]
        elif tone:
            line.error("skin_tone", f"{short(tone)!r} is not 12, 34 or 56 (Fitzpatrick I-II, III-IV, V-VI)")
        column = "malignant" if line.has("malignant") else _OLD_MALIGNANT
        malignant = line.boolean(column)
        if malignant is not None:
            metadata["malignant"] = malignant
        file = line.get("DDI_file")
        return [SourceRow(external_id=file, label=line.get("disease"), split_key=file, where=line.where,
                          image=file, metadata=metadata)]
