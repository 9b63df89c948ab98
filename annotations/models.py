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
        # Public datasets read by manage.py import_dataset (annotations/dataset_formats).
        DDI = "ddi", "DDI"
        SCIN = "scin", "SCIN"
        HAM10000 = "ham10000", "HAM10000"
        ISIC2019 = "isic2019", "ISIC 2019"
        ISIC2020 = "isic2020", "ISIC 2020"
        PAD_UFES_20 = "pad_ufes_20", "PAD-UFES-20"
        DERM7PT = "derm7pt", "Derm7pt"

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
        DRAFT_FAILED = "draft_failed", "drafting failed"
        AUTO_ACCEPTED = "auto_accepted", "auto accepted"
        NEEDS_EXPERT = "needs_expert", "needs expert"
        EXPERT_ACCEPTED = "expert_accepted", "expert accepted"
        # Accepted by an expert although the LLM re-check disagreed; the reason is in the history.
        EXPERT_OVERRIDE = "expert_override", "expert override"
        REJECTED = "rejected", "rejected"

    class RejectionReason(models.TextChoices):
        # What each reason removes the sample from: annotations.selectors.REJECTION_REMOVES.
        UNUSABLE_IMAGE = "unusable_image", "image unusable"
        LABEL_SUSPECTED_WRONG = "label_suspected_wrong", "label suspected wrong"
        OTHER = "other", "other"

    ACCEPTED_STATES = (State.AUTO_ACCEPTED, State.EXPERT_ACCEPTED, State.EXPERT_OVERRIDE)

    FITZPATRICK_CHOICES = [(i, f"Type {'I II III IV V VI'.split()[i - 1]}") for i in range(1, 7)]

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="samples")
    external_id = models.CharField(
        max_length=255, help_text="The source's own id (Fitzpatrick17k md5hash, or the file's relative path)."
    )
    image = models.CharField(max_length=255, blank=True, help_text="Path under MEDIA_ROOT; empty until attached.")
    checksum = models.CharField(max_length=64, blank=True,
                                help_text="SHA-256 of the stored (de-identified) image file: what snapshots hash.")
    original_checksum = models.CharField(
        max_length=64, blank=True,
        help_text="SHA-256 of the image as it arrived, before de-identification: provenance, and how a re-import "
                  "of the same original is recognised.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    label = models.CharField(max_length=255, help_text="The disease label exactly as the source gives it.")
    source = models.CharField(max_length=100, blank=True, help_text="Where the image comes from (atlas, folder).")
    source_url = models.URLField(max_length=1000, blank=True, help_text="Never shown to a model: it often names the diagnosis.")
    fitzpatrick = models.PositiveSmallIntegerField(null=True, blank=True, choices=FITZPATRICK_CHOICES,
                                                   help_text="Fitzpatrick skin type; empty when unknown.")
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.TRAIN)
    state = models.CharField(max_length=20, choices=State.choices, default=State.NEW)
    rejection_reason = models.CharField(
        max_length=30, choices=RejectionReason.choices, blank=True,
        help_text="Why the sample was rejected (empty unless rejected); decides what it is removed from.")
    qc_flag = models.CharField(max_length=100, blank=True, help_text="Quality-control note from the source.")
    exclude_from_eval = models.BooleanField(default=False, help_text="Never sampled for evaluation (e.g. wrongly labelled).")
    metadata = models.JSONField(default=dict, blank=True)
    thumbnail = models.CharField(max_length=255, blank=True, help_text="Cached thumbnail path under MEDIA_ROOT.")
    # The caption currently standing for this sample (machine-accepted or expert-revised), and its version:
    # every human save carries the version it edited, so a stale save is refused instead of overwriting.
    caption = models.JSONField(null=True, blank=True)
    caption_version = models.PositiveIntegerField(default=0)
    # Review claim: one reviewer at a time, for a short lease kept alive by a heartbeat.
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="claimed_samples")
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    audit = models.BooleanField(default=False, help_text="An accepted sample drawn for expert audit.")
    # Stripping metadata cannot remove what the picture itself shows: a reviewer marks a face, tattoo,
    # jewellery or a name in the picture, and the sample leaves every export (selectors.eligible_samples).
    identifying_content = models.BooleanField(
        default=False, help_text="The picture shows something that identifies the patient (face, tattoo, jewellery, "
                                 "a name); kept out of training snapshots and evaluation test sets.")
    last_error = models.TextField(blank=True, help_text="Why the last machine step failed, in words.")
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
            models.Index(fields=["state", "id"], name="sample_state_fifo"),
            # "Review next sample": the oldest free sample waiting for review, overall or in one dataset. Only
            # queue rows are in these, so the scan never walks past the samples already reviewed (the planner
            # otherwise reads the primary key from the start: 20-25 ms per claim with 15,000 of 20,000 done).
            models.Index(fields=["id"], condition=models.Q(state="needs_expert"), name="sample_claim_queue"),
            models.Index(fields=["dataset", "id"], condition=models.Q(state="needs_expert"),
                         name="sample_claim_queue_dataset"),
            models.Index(fields=["id"], condition=models.Q(audit=True, state="auto_accepted"), name="sample_claim_audit"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id}:{self.external_id} ({self.label})"

    @property
    def has_image(self) -> bool:
        return bool(self.image)


class DraftingRun(models.Model):
    """A batch of machine annotation over a dataset: every selected sample gets a DraftJob."""

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        PARTIALLY_FAILED = "partially_failed", "partially failed"
        CANCELLED = "cancelled", "cancelled"
        FAILED = "failed", "failed"

    ACTIVE = (State.QUEUED, State.RUNNING)

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="drafting_runs")
    split = models.CharField(max_length=5, blank=True, help_text="Only this split; empty for all.")
    max_attempts = models.PositiveSmallIntegerField(default=5)
    consistency_k = models.PositiveSmallIntegerField(
        default=1, help_text="A caption is consistent when a correct diagnosis is within the first k inferred.")
    prompt_version = models.CharField(max_length=40)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    fresh_answers = models.BooleanField(
        default=False, help_text="Bypass the LLM response cache: every call of this run is asked afresh (once; "
                                 "a resumed job still reuses what this run already paid for).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"drafting run {self.pk} on {self.dataset}"

    @property
    def unsent_jobs(self) -> int:
        """Pending jobs never handed to the task queue (it was unreachable); the reaper sends them."""
        return self.jobs.filter(state=DraftJob.State.PENDING, enqueued_at__isnull=True).count()


class DraftJob(models.Model):
    """One sample within a run: the unit of work of one idempotent Celery task."""

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        AUTO_ACCEPTED = "auto_accepted", "auto accepted"
        NEEDS_EXPERT = "needs_expert", "needs expert"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    TERMINAL = (State.AUTO_ACCEPTED, State.NEEDS_EXPERT, State.FAILED, State.CANCELLED)

    run = models.ForeignKey(DraftingRun, on_delete=models.CASCADE, related_name="jobs")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="draft_jobs")
    state = models.CharField(max_length=15, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Self-healing: when the job was last handed to the broker (null: never, e.g. the broker was down), and
    # which worker process runs it now (its heartbeat tells the reaper whether that worker is still alive).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "sample"], name="draftjob_unique_sample")]
        indexes = [models.Index(fields=["run", "state"])]


class CaptionDraft(models.Model):
    """One machine attempt, immutable: free text, structured caption, inferred diagnosis, verdict."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="drafts")
    job = models.ForeignKey(DraftJob, null=True, on_delete=models.SET_NULL, related_name="drafts")
    attempt = models.PositiveSmallIntegerField()
    prompt_version = models.CharField(max_length=40)
    drafter_model = models.CharField(max_length=200)
    structurer_model = models.CharField(max_length=200, blank=True)
    diagnoser_model = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    caption = models.JSONField(null=True, blank=True)
    caption_error = models.TextField(blank=True)
    diagnoses = models.JSONField(default=list, blank=True)
    diagnosis_items = models.JSONField(default=list, blank=True, help_text="The diagnoser's answer entries, "
                                       "with the key_matching_fields the field-frequency analysis counts.")
    judge_category = models.CharField(max_length=20, blank=True)
    judge_rationale = models.TextField(blank=True)
    consistent = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sample_id", "created_at", "attempt"]
        constraints = [models.UniqueConstraint(fields=["job", "attempt"], name="draft_unique_attempt")]


class CaptionRevision(models.Model):
    """A dermatologist's caption, append-only; re-checked for diagnostic consistency."""

    class Check(models.TextChoices):
        PENDING = "pending", "checking"
        CONSISTENT = "consistent", "consistent"
        INCONSISTENT = "inconsistent", "inconsistent"
        ERROR = "error", "check failed"
        # An undo put an earlier caption back: it was checked (or drafted) before, not re-checked now.
        NOT_CHECKED = "not_checked", "restored by undo, not re-checked"

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField(help_text="The sample's caption_version this revision created.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="caption_revisions")
    caption = models.JSONField()
    base_caption = models.JSONField(null=True, blank=True, help_text="What the reviewer started from.")
    check_state = models.CharField(max_length=12, choices=Check.choices, default=Check.PENDING)
    diagnoses = models.JSONField(default=list, blank=True)
    judge_category = models.CharField(max_length=20, blank=True)
    judge_rationale = models.TextField(blank=True)
    check_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sample_id", "version"]
        constraints = [models.UniqueConstraint(fields=["sample", "version"], name="revision_unique_version")]


class SampleEvent(models.Model):
    """Append-only history of a sample: drafts, revisions, checks and decisions, by whom and when."""

    class Kind(models.TextChoices):
        DRAFTED = "drafted", "machine draft"
        AUTO_ACCEPTED = "auto_accepted", "auto-accepted"
        NEEDS_EXPERT = "needs_expert", "sent to experts"
        DRAFT_FAILED = "draft_failed", "drafting failed"
        CLAIMED = "claimed", "claimed"
        RELEASED = "released", "released"
        SKIPPED = "skipped", "skipped"
        REVISION_SAVED = "revision_saved", "revision saved"
        CHECK_CONSISTENT = "check_consistent", "re-check consistent"
        CHECK_INCONSISTENT = "check_inconsistent", "re-check inconsistent"
        CHECK_FAILED = "check_failed", "re-check failed"
        EXPERT_ACCEPTED = "expert_accepted", "expert-accepted"
        EXPERT_OVERRIDE = "expert_override", "accepted as expert (override)"
        REJECTED = "rejected", "rejected"
        REOPENED = "reopened", "reopened"
        BULK_ACCEPTED = "bulk_accepted", "bulk-accepted"
        AUDIT_DRAWN = "audit_drawn", "drawn for audit"
        IDENTIFYING_FLAGGED = "identifying_flagged", "marked as identifying content"
        IDENTIFYING_CLEARED = "identifying_cleared", "identifying-content mark removed"
        IMAGE_SCRUBBED = "image_scrubbed", "image de-identified"
        UNDONE = "undone", "undone by its reviewer"

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sample_id", "created_at", "id"]
        indexes = [models.Index(fields=["sample", "created_at"]), models.Index(fields=["actor", "kind"]),
                   # The claim's "not skipped by this reviewer" test, looked up per candidate sample.
                   models.Index(fields=["actor", "sample"], condition=models.Q(kind="skipped"), name="sampleevent_skips")]


class FieldFrequencyAnalysis(models.Model):
    """The paper's field-ranking step: how often each caption field is filled, and how often diagnoses
    cite it as evidence. Its weights feed the Stage I caption reward."""

    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.CASCADE)
    captions = models.PositiveIntegerField()
    answers = models.PositiveIntegerField()
    filled = models.JSONField(help_text="field -> number of captions with the field filled")
    cited = models.JSONField(help_text="field -> number of diagnoser answers citing it in key_matching_fields")
    weights = models.JSONField(help_text="field -> weight, summing to 1")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
