from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotations.models import Dataset
from annotations.review_services import analyse_field_frequency


class Command(BaseCommand):
    help = ("The field-ranking step of the paper: how often each caption field is filled and how often the "
            "diagnoser cites it. Stores the analysis (its weights feed the caption reward) and prints it.")

    def add_arguments(self, parser):
        parser.add_argument("--dataset", help="dataset name (default: every dataset)")
        parser.add_argument("--json", action="store_true", help="print the weights as JSON")

    def handle(self, *args, **opts):
        dataset = None
        if opts["dataset"]:
            dataset = Dataset.objects.filter(name=opts["dataset"]).first()
            if dataset is None:
                names = ", ".join(Dataset.objects.values_list("name", flat=True)) or "none yet"
                raise CommandError(f"No dataset named {opts['dataset']!r}; datasets: {names}.")
        analysis = analyse_field_frequency(dataset)
        if opts["json"]:
            self.stdout.write(json.dumps({"captions": analysis.captions, "answers": analysis.answers,
                                          "filled": analysis.filled, "cited": analysis.cited,
                                          "weights": analysis.weights}, indent=2))
            return
        self.stdout.write(f"{analysis.captions} captions, {analysis.answers} diagnoser answers\n")
        self.stdout.write(f"{'field':32} {'filled':>7} {'cited':>7} {'weight':>7}")
        for field in sorted(analysis.weights, key=lambda f: -analysis.weights[f]):
            self.stdout.write(f"{field:32} {analysis.filled[field]:7d} {analysis.cited[field]:7d} "
                              f"{analysis.weights[field]:7.3f}")
