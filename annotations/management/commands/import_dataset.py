from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotations import dataset_import
from annotations.dataset_formats.registry import READERS, companion_options
from annotations.import_report import ImportRejected
from annotations.management.commands._report import print_result


class Command(BaseCommand):
    help = ("Import a public dermatology dataset's metadata CSV as its authors publish it (idempotent; every "
            "row checked first, nothing imported on any error unless --skip-bad-rows). FORMAT is one of: "
            + ", ".join(f"{name} ({reader.file_hint})" for name, reader in READERS.items())
            + ". Labels are kept as published and mapped through the ontology; unresolved ones are listed.")

    def add_arguments(self, parser):
        parser.add_argument("format", metavar="FORMAT", help=", ".join(READERS))
        parser.add_argument("--csv", required=True, help="the dataset's metadata CSV")
        parser.add_argument("--images", help="folder holding the images (searched recursively by the file "
                                             "name or path the CSV gives); without it, metadata only")
        parser.add_argument("--name", help="dataset name (default: the dataset's own name)")
        for option, help_text in companion_options().items():
            parser.add_argument(f"--{option}", help=help_text)
        parser.add_argument("--skip-bad-rows", action="store_true", help="import the good rows even if some are bad")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        companions = {option: opts.get(option) for option in companion_options() if opts.get(option)}
        try:
            reader = dataset_import.get_reader(opts["format"])
            wanted = reader.companion.option if reader.companion else None
            extra = sorted(set(companions) - {wanted})
            if extra:
                raise ImportRejected(f"{reader.name} takes no --{extra[0]}"
                                     + (f"; its second file is --{wanted}." if wanted else "."))
            result = dataset_import.import_dataset(
                opts["format"], opts["csv"], images_dir=opts["images"], companion=companions.get(wanted),
                dataset_name=opts["name"], skip_bad_rows=opts["skip_bad_rows"], progress=not opts["no_progress"],
            )
        except ImportRejected as exc:
            raise CommandError(str(exc)) from exc
        print_result(self, result)
