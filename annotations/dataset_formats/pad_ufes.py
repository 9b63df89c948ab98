"""PAD-UFES-20 (Pacheco et al., Data in Brief 2020), ``metadata.csv`` from Mendeley Data.

Published columns: ``patient_id, lesion_id, smoke, drink, background_father, background_mother, age,
pesticide, gender, skin_cancer_history, cancer_history, has_piped_water, has_sewage_system,
fitspatrick, region, diameter_1, diameter_2, diagnostic, itch, grew, hurt, changed, bleed, elevation,
img_id, biopsed``. ``diagnostic`` (ACK, BCC, MEL, NEV, SCC, SEK; BOD where kept apart) is the label,
mapped through the ontology's ``pad_ufes_20`` layer; ``fitspatrick`` (sic) is the Fitzpatrick type 1-6,
empty for patients without the full questionnaire; ``biopsed`` says whether the diagnosis is
histopathological. Images are ``<img_id>`` (``PAT_1516_1765_530.png``); the split follows ``patient_id``.
Every other clinical column is kept in the metadata as published.
"""

from __future__ import annotations

from annotations.dataset_formats.base import DatasetReader, Line, SourceRow, missing, short


def fitzpatrick(line: Line, column: str) -> int | None:
    raw = line.get(column)
    if missing(raw):
        return None
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value.is_integer() and 1 <= value <= 6:
        return int(value)
    line.error(column, f"{short(raw)!r} is not a Fitzpatrick type 1-6 (or empty when unknown)")
    return None


class PADUFES20Reader(DatasetReader):
    name = "pad_ufes_20"
    title = "PAD-UFES-20"
    source = "pad_ufes_20"
    default_dataset = "PAD-UFES-20"
    license = "PAD-UFES-20 (Pacheco et al., 2020), CC BY 4.0"
    description = "PAD-UFES-20 smartphone clinical images of skin lesions with patient data."
    file_hint = "metadata.csv"
    required = ("patient_id", "lesion_id", "fitspatrick", "diagnostic", "img_id", "biopsed")
    id_column = "img_id"
    label_column = "diagnostic"
    label_layers = ("pad_ufes_20",)

    def parse(self, line: Line) -> list[SourceRow]:
        metadata = line.metadata()
        skin_type = fitzpatrick(line, "fitspatrick")
        biopsied = line.boolean("biopsed")
        if biopsied is not None:
            metadata["biopsed"] = biopsied
        image = line.get("img_id")
        return [SourceRow(external_id=image, label=line.get("diagnostic"),
                          split_key=line.get("patient_id") or image, where=line.where, fitzpatrick=skin_type,
                          image=image, metadata=metadata)]
