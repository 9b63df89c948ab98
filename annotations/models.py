"""Datasets and samples. Captions, drafts and reviews join these in the annotation work."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Dataset(models.Model):
    class Source(models.TextChoices):
        FITZPATRICK17K = "fitzpatrick17k", "Fitzpatrick17k"
        FOLDER = "folder", "Folder import"
        UPLOAD = "upload", "Upload"
        DEMO = "demo", "Demo"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    license = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Sample(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train", "train"
        VAL = "val", "val"
        TEST = "test", "test"

    class State(models.TextChoices):
        NEW = "new", "new"
        DRAFTING = "drafting", "drafting"
        AUTO_ACCEPTED = "auto_accepted", "auto accepted"
        NEEDS_EXPERT = "needs_expert", "needs expert"
        EXPERT_ACCEPTED = "expert_accepted", "expert accepted"
        REJECTED = "rejected", "rejected"

    FITZPATRICK_CHOICES = [(i, f"Type {'I II III IV V VI'.split()[i - 1]}") for i in range(1, 7)]

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="samples")
    external_id = models.CharField(
        max_length=255, help_text="The source's own id (Fitzpatrick17k md5hash, or the file's relative path)."
    )
    image = models.CharField(max_length=255, blank=True, help_text="Path under MEDIA_ROOT; empty until attached.")
    checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the image file.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    label = models.CharField(max_length=255, help_text="The disease label exactly as the source gives it.")
    source = models.CharField(max_length=100, blank=True, help_text="Where the image comes from (atlas, folder).")
    source_url = models.URLField(max_length=1000, blank=True, help_text="Never shown to a model: it often names the diagnosis.")
    fitzpatrick = models.PositiveSmallIntegerField(null=True, blank=True, choices=FITZPATRICK_CHOICES,
                                                   help_text="Fitzpatrick skin type; empty when unknown.")
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.TRAIN)
    state = models.CharField(max_length=20, choices=State.choices, default=State.NEW)
    qc_flag = models.CharField(max_length=100, blank=True, help_text="Quality-control note from the source.")
    exclude_from_eval = models.BooleanField(default=False, help_text="Never sampled for evaluation (e.g. wrongly labelled).")
    metadata = models.JSONField(default=dict, blank=True)
    thumbnail = models.CharField(max_length=255, blank=True, help_text="Cached thumbnail path under MEDIA_ROOT.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "external_id"], name="sample_unique_external_id"),
            models.CheckConstraint(condition=models.Q(fitzpatrick__isnull=True) | models.Q(fitzpatrick__range=(1, 6)),
                                   name="sample_fitzpatrick_1_6"),
        ]
        indexes = [
            models.Index(fields=["dataset", "label"]),
            models.Index(fields=["dataset", "split"]),
            models.Index(fields=["dataset", "state"]),
            models.Index(fields=["dataset", "fitzpatrick"]),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id}:{self.external_id} ({self.label})"

    @property
    def has_image(self) -> bool:
        return bool(self.image)
