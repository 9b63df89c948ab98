"""Printing an ImportResult the same way from every import command."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotations.import_report import ImportResult
from webapp import audit
from webapp.models import AccessEvent

MAX_LISTED = 50


def print_result(cmd: BaseCommand, result: ImportResult) -> None:
    for label, rows, style in (("error", result.errors, cmd.style.ERROR), ("warning", result.warnings, cmd.style.WARNING)):
        for row in rows[:MAX_LISTED]:
            cmd.stderr.write(style(f"{label}: {row}"))
        if len(rows) > MAX_LISTED:
            cmd.stderr.write(style(f"... and {len(rows) - MAX_LISTED} more {label}s"))
    if not result.committed:
        print_labels(cmd, result)
        raise CommandError(
            f"{result.summary()}. Fix the rows above and run again, or pass --skip-bad-rows to import the good rows only."
        )
    cmd.stdout.write(cmd.style.SUCCESS(result.summary()))
    # Imports from the command line are changes too: the audit trail names the command (no web user).
    audit.record(None, AccessEvent.Action.DATASET_IMPORT, command=cmd.__module__.rsplit(".", 1)[-1],
                 created=result.created, updated=result.updated, skipped_rows=len(result.errors))
    print_labels(cmd, result)


def print_labels(cmd: BaseCommand, result: ImportResult) -> None:
    """How many of the source's labels the ontology resolves, and every one it does not (dataset imports)."""
    if not result.labels:
        return
    unresolved = result.unresolved_labels
    cmd.stdout.write(f"labels: {result.labels} distinct, {result.labels - len(unresolved)} resolved by the ontology, "
                     f"{len(unresolved)} unresolved ({_rows(sum(unresolved.values()))})")
    for label, rows in list(unresolved.items())[:MAX_LISTED]:
        cmd.stdout.write(cmd.style.WARNING(f"unresolved label: {label!r} ({_rows(rows)})"))
    if len(unresolved) > MAX_LISTED:
        cmd.stdout.write(cmd.style.WARNING(f"... and {len(unresolved) - MAX_LISTED} more unresolved labels"))


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"
