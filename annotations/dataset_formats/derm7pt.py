"""Derm7pt, the seven-point checklist dataset (Kawahara et al., IEEE JBHI 2018), ``meta/meta.csv``.

Published columns (release_v0, read by jeremykawahara/derm7pt): ``case_num, diagnosis,
seven_point_score, pigment_network, streaks, pigmentation, regression_structures, dots_and_globules,
blue_whitish_veil, vascular_structures, level_of_diagnostic_difficulty, elevation, location, sex,
clinic, derm, management, notes``. Each case has a clinical and a dermoscopic image (``clinic`` and
``derm``, paths under ``images/`` such as ``NEL/NEL025.JPG``): each becomes its own sample,
``<case_num>:clinic`` and ``<case_num>:derm``, in the same split, with ``modality`` in the metadata.
``diagnosis`` is the label (``melanoma (in situ)``, ``clark nevus`` ...), mapped through the ``derm7pt``
layer; the checklist criteria are kept in the metadata. Derm7pt records no skin type.
"""

from __future__ import annotations

from annotations.dataset_formats.base import DatasetReader, Line, SourceRow

MODALITIES = (("clinic", "clinical"), ("derm", "dermoscopic"))


class Derm7ptReader(DatasetReader):
    name = "derm7pt"
    title = "Derm7pt"
    source = "derm7pt"
    default_dataset = "Derm7pt"
    license = "Derm7pt (Kawahara et al., 2018), non-commercial research use"
    description = "Seven-point checklist dataset: a clinical and a dermoscopic image per case."
    file_hint = "meta/meta.csv"
    required = ("case_num", "diagnosis", "clinic", "derm")
    id_column = "case_num"
    label_column = "diagnosis"
    label_layers = ("derm7pt",)

    def parse(self, line: Line) -> list[SourceRow]:
        case = line.get("case_num")
        if not case:
            line.error("case_num", "is empty; every case needs its number")
            return []
        rows = []
        for column, modality in MODALITIES:
            image = line.get(column)
            if not image:
                line.error(column, f"the {modality} image path is empty; the release gives both images")
                continue
            rows.append(SourceRow(external_id=f"{case}:{column}", label=line.get("diagnosis"), split_key=case,
                                  where=line.where, image=image, metadata={**line.metadata(), "modality": modality}))
        return rows
