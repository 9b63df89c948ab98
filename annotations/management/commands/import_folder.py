from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotations import services
from annotations.import_report import ImportRejected
from annotations.management.commands._report import print_result


class Command(BaseCommand):
    help = "Import labelled images: a folder of <label>/<image> files, or a CSV with columns path,label."

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="dataset name (created if new)")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--folder", help="folder with one sub-folder per label")
        source.add_argument("--csv", help="CSV with columns path,label (paths relative to the CSV)")
        parser.add_argument("--skip-bad-rows", action="store_true", help="import the good rows even if some are bad")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        try:
            result = services.import_folder(opts["dataset"], opts["folder"], csv_path=opts["csv"],
                                            skip_bad_rows=opts["skip_bad_rows"], progress=not opts["no_progress"])
        except ImportRejected as exc:
            raise CommandError(str(exc)) from exc
        print_result(self, result)
