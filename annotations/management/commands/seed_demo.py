from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotations import services
from annotations.demo import write_demo_folder
from annotations.models import Dataset, Sample
from webapp.roles import ADMIN, DERMATOLOGIST, ensure_role_groups, grant_role

DEMO_DATASET = "Demo dermatology set"
ACCOUNTS = (("dermatologist", DERMATOLOGIST), ("admin", ADMIN))


class Command(BaseCommand):
    help = "Create the role groups, a dermatologist and an admin account, and a small demo dataset. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true", help="give existing demo accounts new passwords")

    def handle(self, *args, **opts):
        ensure_role_groups()
        User = get_user_model()
        for username, role in ACCOUNTS:
            user, created = User.objects.get_or_create(username=username, defaults={"is_staff": role == ADMIN})
            grant_role(user, role)
            if created or opts["reset_passwords"]:
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                user.save()
                self.stdout.write(self.style.SUCCESS(f"account {username!r} ({role}): password {password}"))
            else:
                self.stdout.write(f"account {username!r} ({role}) exists; password unchanged "
                                  "(run 'python manage.py seed_demo --reset-passwords' for a new one)")
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
