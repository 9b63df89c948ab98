"""Benchmark: import all 16,577 Fitzpatrick17k rows (metadata only) into PostgreSQL, then again.

    .venv/bin/python scripts/with_services.py -- .venv/bin/python benchmarks/bench_f17k_import.py

Goal: the first import under 10 s on a 2-core machine; the second creates 0 samples.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key-not-for-production-0123456789abcdef")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from annotations import services  # noqa: E402
from annotations.models import Dataset  # noqa: E402

CSV = ROOT.parent / "shared" / "data" / "fitzpatrick17k.csv"


def main() -> None:
    call_command("migrate", verbosity=0)
    Dataset.objects.filter(name="Fitzpatrick17k").delete()
    print(f"database: {connection.vendor} {connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}")
    t0 = time.perf_counter()
    first = services.import_fitzpatrick17k(CSV, progress=False)
    t1 = time.perf_counter()
    second = services.import_fitzpatrick17k(CSV, progress=False)
    t2 = time.perf_counter()
    print(f"first import:  {first.summary()}  in {t1 - t0:.2f} s  (goal < 10 s)")
    print(f"second import: {second.summary()}  in {t2 - t1:.2f} s  (goal: 0 created)")
    ok = t1 - t0 < 10 and first.created == 16577 and second.created == 0
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
