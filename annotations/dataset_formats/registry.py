"""The dataset formats ``manage.py import_dataset`` knows, by name. Adding a format: write its reader
module (a ``DatasetReader`` subclass, see ``base.py``) and list the class here."""

from __future__ import annotations

from annotations.dataset_formats.base import DatasetReader
from annotations.dataset_formats.ddi import DDIReader
from annotations.dataset_formats.derm7pt import Derm7ptReader
from annotations.dataset_formats.isic import HAM10000Reader, ISIC2019Reader, ISIC2020Reader
from annotations.dataset_formats.pad_ufes import PADUFES20Reader
from annotations.dataset_formats.scin import SCINReader
from annotations.import_report import ImportRejected

READERS: dict[str, type[DatasetReader]] = {reader.name: reader for reader in (
    DDIReader, SCINReader, HAM10000Reader, ISIC2019Reader, ISIC2020Reader, PADUFES20Reader, Derm7ptReader,
)}


def _key(name: str) -> str:
    return name.strip().casefold().replace("-", "_").replace(" ", "_")


def get_reader(name: str) -> type[DatasetReader]:
    """The reader class for ``name`` ("ddi", "pad-ufes-20", "ISIC2019" ...)."""
    key = _key(name)
    for reader in READERS.values():
        if _key(reader.name) == key or _key(reader.name).replace("_", "") == key.replace("_", ""):
            return reader
    raise ImportRejected(f"Unknown dataset format {name!r}; known formats: {', '.join(READERS)}.")


def companion_options() -> dict[str, str]:
    """Every companion file option the formats take ("labels" -> its help)."""
    options: dict[str, list[str]] = {}
    for reader in READERS.values():
        if reader.companion is not None:
            options.setdefault(reader.companion.option, []).append(f"{reader.name}: {reader.companion.help}")
    return {option: "; ".join(helps) for option, helps in options.items()}
