from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.db import transaction

from annotations import services
from annotations.demo import write_demo_folder
from annotations.models import Dataset, Sample
from webapp.roles import ADMIN, DERMATOLOGIST, ROLES, ensure_role_groups, grant_role

DEMO_DATASET = "Demo dermatology set"
ACCOUNTS = (("dermatologist", DERMATOLOGIST), ("admin", ADMIN))
# Exactly as a user types it from the project folder (README.md shows the same line; a test runs it).
RESET_COMMAND = ".venv/bin/python manage.py seed_demo --reset-passwords"


def new_password(user) -> str:
    """A random password that the project's own validators accept (a random draw can, rarely, repeat too
    few characters for webapp.passwords.RepetitionValidator)."""
    while True:
        password = secrets.token_urlsafe(12)
        try:
            validate_password(password, user)
        except ValidationError:
            continue
        return password


class Command(BaseCommand):
    help = "Create the role groups, a dermatologist and an admin account, and a small demo dataset. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true", help="give existing demo accounts new passwords")

    def handle(self, *args, **opts):
        ensure_role_groups()
        User = get_user_model()
        kept = []
        for username, role in ACCOUNTS:
            user, created = User.objects.get_or_create(username=username, defaults={"is_staff": role == ADMIN})
            if created:  # an existing account keeps the roles its admins gave it (bin/run seeds on every start)
                grant_role(user, role)
            if created or opts["reset_passwords"]:
                password = new_password(user)
                user.set_password(password)
                user.is_active = True
                user.save()
                # A new password also lifts a lock from failed logins: it is how a locked-out demo user gets in.
                if AccessAttempt.objects.filter(username=username).exists():
                    axes_reset(username=username)
                self.stdout.write(self.style.SUCCESS(f"account {username!r} ({role}): password {password}"))
            else:
                kept.append(username)
        self._list_accounts(kept)
        if Dataset.objects.filter(name=DEMO_DATASET).exists():
            self.stdout.write(f"dataset {DEMO_DATASET!r} exists")
            return
        with tempfile.TemporaryDirectory() as tmp, transaction.atomic():
            skin_types = write_demo_folder(Path(tmp))
            result = services.import_folder(DEMO_DATASET, tmp, source=Dataset.Source.DEMO, progress=False)
            dataset = Dataset.objects.get(name=DEMO_DATASET)
            dataset.description = "Synthetic drawings of six conditions, for trying the app without patient data."
            dataset.save(update_fields=["description"])
            for relpath, skin_type in skin_types.items():
                Sample.objects.filter(dataset=dataset, external_id=relpath).update(fitzpatrick=skin_type)
        self.stdout.write(self.style.SUCCESS(f"dataset {DEMO_DATASET!r}: {result.summary()}"))

    def _list_accounts(self, kept: list[str]) -> None:
        """Every account with a role, so that a second bin/run says who can log in (passwords are stored
        hashed: they are shown only when issued)."""
        User = get_user_model()
        users = User.objects.filter(groups__name__in=ROLES).distinct().order_by("username").prefetch_related("groups")
        self.stdout.write("accounts (name: roles):")
        for user in users:
            roles = ", ".join(sorted(g.name for g in user.groups.all() if g.name in ROLES))
            state = "" if user.is_active else " (deactivated)"
            self.stdout.write(f"  {user.username}: {roles}{state}")
        if kept:
            self.stdout.write(f"passwords of {', '.join(kept)} unchanged; for new ones run: {RESET_COMMAND}")
