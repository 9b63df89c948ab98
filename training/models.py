"""Training data snapshots, training runs, their metrics and checkpoints."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotations.models import Dataset


class Stage(models.TextChoices):
    CAPTION = "I", "Stage I (caption)"
    DIAGNOSIS = "II", "Stage II (diagnosis)"


class DatasetSnapshot(models.Model):
    """An immutable export of one dataset split for one stage (and K): files on disk plus this record."""

    class State(models.TextChoices):
        PENDING = "pending"  # recorded at launch; the gpu task writes the files before training
        READY = "ready"
        FAILED = "failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="training_snapshots")
    split = models.CharField(max_length=5)
    stage = models.CharField(max_length=2, choices=Stage.choices)
    k = models.PositiveSmallIntegerField(default=6, help_text="Top-K of the Stage II prompt.")
    version = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    sample_ids = models.JSONField()
    override_ids = models.JSONField(
        default=list, blank=True,
        help_text="Samples among sample_ids whose caption is an expert override (accepted against the LLM re-check).")
    rows = models.PositiveIntegerField()
    path = models.CharField(max_length=500, help_text="Folder holding verl.parquet, trl/ and manifest.json.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.READY)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "split", "stage", "k", "version"], name="snapshot_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} {self.split} stage {self.stage} v{self.version} ({self.rows} rows)"


class TrainingRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Engine(models.TextChoices):
        TRL = "trl", "TRL (one machine)"
        VERL = "verl", "verl (Ray cluster)"

    TERMINAL = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    name = models.CharField(max_length=200)
    lineage = models.CharField(max_length=100, default="default",
                               help_text="Runs of one model line: Stage II starts from this lineage's Stage I.")
    stage = models.CharField(max_length=2, choices=Stage.choices)
    engine = models.CharField(max_length=10, choices=Engine.choices, default=Engine.TRL)
    base_model_path = models.CharField(max_length=500, blank=True, help_text="Hugging Face folder to start from.")
    tiny_model = models.BooleanField(
        default=False, help_text="Smoke test: base_model_path is the tiny random Qwen2.5-VL the worker builds once.")
    init_checkpoint = models.ForeignKey("Checkpoint", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="child_runs", help_text="An earlier run's checkpoint to start from.")
    dve = models.BooleanField(default=True, help_text="Dynamic Vision Encoder (FDLinear) in the vision tower.")
    dve_k = models.PositiveIntegerField(null=True, blank=True, help_text="FDLinear frequency groups; empty = d_in/2.")
    k = models.PositiveSmallIntegerField(default=6, help_text="Top-K of the Stage II answer.")
    train_on_overrides = models.BooleanField(
        default=True, help_text="Stage I: the snapshot includes captions an expert accepted against the LLM re-check.")
    hyperparameters = models.JSONField(default=dict)
    reward_settings = models.JSONField(default=dict)
    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.PROTECT, related_name="runs")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    run_dir = models.CharField(max_length=500, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the run was last handed to the gpu queue (null: never — the broker was down); the reaper sends a
    # queued run again when that was long ago (the broker may have lost it) or never happened.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Where it runs, as the worker and the engine report it when training starts.
    device = models.CharField(max_length=200, blank=True, help_text="torch device, e.g. cpu or cuda:0 (NVIDIA H200).")
    worker_host = models.CharField(max_length=200, blank=True)
    # Set by the supervisor while metrics arrive (see training.services.reward_plateau); empty = none.
    reward_warning = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (stage {self.stage}, {self.engine}, {self.state})"

    @property
    def is_terminal(self) -> bool:
        return self.state in self.TERMINAL


class MetricPoint(models.Model):
    """The engine's metrics at one optimizer step (reward mean/std, kl, loss, lr, response length, step time)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    values = models.JSONField()

    class Meta:
        ordering = ["step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="metric_step_unique")]


class Checkpoint(models.Model):
    """A merged Hugging Face folder written by a run; ``run.init_checkpoint`` links the lineage."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.PositiveIntegerField()
    path = models.CharField(max_length=500)
    is_final = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="checkpoint_step_unique")]

    def __str__(self) -> str:
        return f"{self.run.name} step {self.step}{' (final)' if self.is_final else ''}"


class RolloutSample(models.Model):
    """A few of the completions sampled at one logged step, with the reward each got (bounded: see runner)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="rollouts")
    step = models.PositiveIntegerField()
    position = models.PositiveSmallIntegerField()
    sample_id = models.BigIntegerField(null=True, blank=True)
    prompt = models.TextField(blank=True)
    completion = models.TextField(blank=True)
    reference = models.TextField(blank=True)
    reward = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["step", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "step", "position"], name="rollout_step_unique")]
