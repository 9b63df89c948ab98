"""Printing an ImportResult the same way from every import command."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotations.import_report import ImportResult

MAX_LISTED = 50


def print_result(cmd: BaseCommand, result: ImportResult) -> None:
    for label, rows, style in (("error", result.errors, cmd.style.ERROR), ("warning", result.warnings, cmd.style.WARNING)):
        for row in rows[:MAX_LISTED]:
            cmd.stderr.write(style(f"{label}: {row}"))
        if len(rows) > MAX_LISTED:
            cmd.stderr.write(style(f"... and {len(rows) - MAX_LISTED} more {label}s"))
    if not result.committed:
        raise CommandError(
            f"{result.summary()}. Fix the rows above and run again, or pass --skip-bad-rows to import the good rows only."
        )
    cmd.stdout.write(cmd.style.SUCCESS(result.summary()))
