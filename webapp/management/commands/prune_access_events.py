"""Remove access events older than SKINFLOW_AUDIT_RETENTION_DAYS (the reaper loop also does it hourly)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from webapp import audit


class Command(BaseCommand):
    help = "Delete access-audit events older than SKINFLOW_AUDIT_RETENTION_DAYS (0 keeps everything)."

    def handle(self, *args, **opts) -> None:
        days = audit.retention_days()
        if days <= 0:
            self.stdout.write("SKINFLOW_AUDIT_RETENTION_DAYS is 0: events are kept for ever; nothing removed.")
            return
        removed = audit.prune_expired()
        self.stdout.write(self.style.SUCCESS(f"Removed {removed} access event(s) older than {days} days."))
