"""``python manage.py attention_analysis NAME --checkpoint DIR --dataset NAME [--n 500] [--layers -1 -2 ...] [--now]``

Section 4.4 for one local checkpoint: N seeded test images (qc-excluded rows left out), the model
answers each, and the attention of its answer's last token over the image tokens becomes a
heatmap and a histogram. Without ``--now`` the job goes to the ``gpu`` queue. Run it once per
model with the same dataset, N and seed, then compare two side by side at /evaluation/attention/.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from annotations.models import Dataset
from evaluation import attention_services
from evaluation.services import EvalError


class Command(BaseCommand):
    help = "Attention attribution of a local checkpoint over N test images."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--checkpoint", required=True)
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--split", default="test")
        parser.add_argument("--n", type=int, default=500)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--layers", type=int, nargs="*", default=[])
        parser.add_argument("--max-new-tokens", type=int, default=512)
        parser.add_argument("--now", action="store_true", help="run in this process instead of the gpu queue")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset named {options['dataset']!r}")
        try:
            with transaction.atomic():
                analysis = attention_services.create_analysis(
                    name=options["name"], checkpoint=options["checkpoint"], dataset=dataset, split=options["split"],
                    sample_size=options["n"], seed=options["seed"], layers=options["layers"],
                    max_new_tokens=options["max_new_tokens"], start=not options["now"])
        except EvalError as exc:
            raise CommandError(str(exc)) from exc
        if options["now"]:
            analysis = attention_services.run_analysis(analysis.id)
            shares = ", ".join(f"{label} {100 * s:.1f}%" for label, s in zip(analysis.histogram["labels"],
                                                                              analysis.histogram["shares"]))
            self.stdout.write(f"analysis {analysis.id}: {analysis.histogram['images']} images; {shares}")
        else:
            self.stdout.write(f"analysis {analysis.id} queued on the gpu queue")
