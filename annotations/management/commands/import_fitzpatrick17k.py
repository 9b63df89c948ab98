from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotations import services
from annotations.import_report import ImportRejected
from annotations.management.commands._report import print_result


class Command(BaseCommand):
    help = ("Import the Fitzpatrick17k label CSV (all rows; idempotent). With --images DIR, attach images named "
            "<md5hash>.jpg found there; with --download, fetch missing images from the CSV's URLs first.")

    def add_arguments(self, parser):
        parser.add_argument("--csv", required=True, help="path to fitzpatrick17k.csv")
        parser.add_argument("--images", help="folder holding <md5hash>.<ext> image files")
        parser.add_argument("--download", action="store_true", help="download missing images into --images")
        parser.add_argument("--workers", type=int, default=8, help="parallel downloads (default 8)")
        parser.add_argument("--no-verify", action="store_true", help="do not check downloaded bytes against md5hash")
        parser.add_argument("--dataset", default="Fitzpatrick17k", help="dataset name (default Fitzpatrick17k)")
        parser.add_argument("--skip-bad-rows", action="store_true", help="import the good rows even if some are bad")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        try:
            result = services.import_fitzpatrick17k(
                opts["csv"], images_dir=opts["images"], download=opts["download"], dataset_name=opts["dataset"],
                skip_bad_rows=opts["skip_bad_rows"], download_workers=opts["workers"],
                verify_download=not opts["no_verify"], progress=not opts["no_progress"],
            )
        except ImportRejected as exc:
            raise CommandError(str(exc)) from exc
        print_result(self, result)
