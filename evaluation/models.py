"""Evaluation runs: a model under test on a test set, its predictions, the judge's verdicts per
repeat, dermatologists' overrules, reward-validation entries and attention analyses.

Machine output and human decisions are kept apart (as Label Studio keeps predictions apart from
annotations): ``Judgement`` rows are never edited by people; ``Overrule`` rows sit beside them and
the standing one wins when metrics are computed. Overrules are an append-only log: a verdict and
its withdrawal are both new rows, so the item page can show who said what, when.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from evaluation.judge import CATEGORIES
from webapp.models import validate_base_url, validate_env_var_name

CATEGORY_CHOICES = [(c, c.replace("_", " ")) for c in CATEGORIES]


class EvalRun(models.Model):
    class Kind(models.TextChoices):
        ENDPOINT = "endpoint", "OpenAI-compatible endpoint"
        LOCAL = "local", "Local checkpoint (transformers)"
        IMPORTED = "imported", "Imported predictions"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        INFERRING = "inferring", "inferring"
        JUDGING = "judging", "judging"
        DONE = "done", "done"
        PARTIALLY_FAILED = "partially_failed", "partially failed"
        FAILED = "failed", "failed"

    # A worker may still be on these: the reaper watches them, resume refuses while they progress.
    ACTIVE_STATUSES = (Status.PENDING, Status.INFERRING, Status.JUDGING)

    name = models.CharField(max_length=200)
    model_name = models.CharField(max_length=200, help_text="How the model is named in the leaderboard.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ENDPOINT)
    base_url = models.CharField(max_length=300, blank=True, validators=[validate_base_url],
                                help_text="OpenAI-compatible base URL (endpoint runs).")
    endpoint_model = models.CharField(max_length=200, blank=True, help_text="Model id sent to the endpoint.")
    api_key_env = models.CharField(max_length=100, blank=True, validators=[validate_env_var_name],
                                   help_text="Name of the variable holding the API key.")
    checkpoint = models.CharField(max_length=500, blank=True, help_text="Local checkpoint folder (local runs).")
    max_concurrency = models.PositiveIntegerField(default=8)

    dataset = models.ForeignKey("annotations.Dataset", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="eval_runs")
    test_set = models.CharField(max_length=200, help_text="Test-set name shown in the leaderboard columns.")
    split = models.CharField(max_length=5, blank=True, help_text="Dataset split; empty for every split.")
    sample_size = models.PositiveIntegerField(null=True, blank=True, help_text="Seeded random sample; empty for all.")
    seed = models.IntegerField(default=0)

    k = models.PositiveSmallIntegerField(default=6)
    prompt = models.TextField(help_text="The appendix-B prompt sent with every image.")
    judge_repeats = models.PositiveSmallIntegerField(default=3)
    uses_dve = models.BooleanField(null=True, blank=True, help_text="Ablation: the model carries the DVE.")
    uses_stage1 = models.BooleanField(null=True, blank=True, help_text="Ablation: the model had Stage I training.")

    price_prompt_per_mtok = models.FloatField(default=0.0, help_text="Model under test: price per 1M prompt tokens.")
    price_completion_per_mtok = models.FloatField(default=0.0, help_text="Price per 1M completion tokens.")
    judge_prompt_tokens = models.PositiveBigIntegerField(default=0)
    judge_completion_tokens = models.PositiveBigIntegerField(default=0)

    fresh_answers = models.BooleanField(
        default=False, help_text="Bypass the LLM response cache: ask the model under test again for every "
        "sample (a resumed run still reuses the answers it already paid for).")

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When the run was last handed to the task queue (tried, even if the "
        "broker was down); empty for runs driven from the command line, which the reaper leaves alone.")
    worker = models.CharField(max_length=200, blank=True, help_text="The worker process working on the run "
                              "now (hostname:pid); empty between tasks. Its heartbeat tells a slow run from a lost one.")
    overlap = models.JSONField(
        default=dict, blank=True, help_text='Test samples that are training data, found when the run was created: '
        '{"count", "train_split", "snapshots", "confirmed", "note"} (see evaluation/overlap.py); empty when none.')
    lineage = models.JSONField(
        default=dict, blank=True, help_text="Where a local checkpoint came from, as the training app passed it in "
        '(e.g. {"training_run", "training_run_url", "stage", "step", "snapshot", "parents": [...]}); shown on the report.')

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_name} on {self.test_set})"

    @property
    def cache_salt(self) -> str:
        """The model calls' cache salt: shared across runs, unless the run asks for fresh answers; then
        unique to this run, so a redelivered task of the same run still hits what it paid for."""
        return f"eval-run={self.id}" if self.fresh_answers else ""


class EvalItem(models.Model):
    """One test sample of a run and the model's answer (``inferred`` once the answer is stored)."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="items")
    sample = models.ForeignKey("annotations.Sample", null=True, blank=True, on_delete=models.SET_NULL)
    position = models.PositiveIntegerField(default=0)
    external_id = models.CharField(max_length=255)
    reference = models.CharField(max_length=255)
    skin_type = models.PositiveSmallIntegerField(null=True, blank=True)
    inferred = models.BooleanField(default=False)
    raw_answer = models.TextField(blank=True)
    parse_ok = models.BooleanField(null=True, blank=True)
    parse_error = models.TextField(blank=True)
    predictions = models.JSONField(default=list, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    inference_error = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True, help_text="When the model's answer was stored.")
    # The verdicts that count (judge majority per rank, a dermatologist's overrule replacing it), stored
    # with the metrics (evaluation/verdict_services.py) so that the per-sample browser filters in SQL.
    top1_category = models.CharField(max_length=20, blank=True, help_text="The rank-1 prediction's counting "
                                     "category; empty until the item is judged in every repeat.")
    safety_critical = models.BooleanField(default=False, help_text="Some prediction is safety-critical.")
    overruled = models.BooleanField(default=False, help_text="A dermatologist's standing verdict counts on it.")

    class Meta:
        ordering = ["run", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "external_id"], name="evalitem_unique_external_id")]
        indexes = [models.Index(fields=["run", "inferred"]), models.Index(fields=["run", "top1_category"]),
                   models.Index(fields=["run", "safety_critical"])]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.external_id}"


class Judgement(models.Model):
    """The judge's verdicts on one item's whole list, for one repeat (machine output, never edited)."""

    item = models.ForeignKey(EvalItem, on_delete=models.CASCADE, related_name="judgements")
    repeat = models.PositiveSmallIntegerField()
    verdicts = models.JSONField(help_text='[{"category", "rationale", "source"}] in prediction order')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item", "repeat"]
        constraints = [models.UniqueConstraint(fields=["item", "repeat"], name="judgement_unique_repeat")]


class OverruleQuerySet(models.QuerySet):
    """Overrules are an append-only log: rows are added, never changed or removed one by one (deleting
    a whole run still cascades, through the base manager)."""

    def update(self, **kwargs):  # noqa: ANN003, ANN201 - QuerySet signature
        raise TypeError("overrules are append-only: append a new row (a withdrawal is a row too)")

    def delete(self):  # noqa: ANN201
        raise TypeError("overrules are append-only: withdraw a verdict by appending a withdrawal")


class Overrule(models.Model):
    """One dermatologist's action on the prediction at ``rank``: a category, or a withdrawal of their
    own earlier verdict (``withdrawn``, empty category). Never updated or deleted.

    Per (item, rank, dermatologist) the latest action is that dermatologist's standing verdict (none
    if it is a withdrawal); per (item, rank) the latest standing verdict of any dermatologist wins
    over every judge repeat (see ``evaluation.selectors.standing_overrules``).
    """

    item = models.ForeignKey(EvalItem, on_delete=models.CASCADE, related_name="overrules")
    rank = models.PositiveSmallIntegerField(help_text="1-based position in the prediction list.")
    category = models.CharField(max_length=20, choices=CATEGORY_CHOICES, blank=True,
                                help_text="Empty for a withdrawal.")
    withdrawn = models.BooleanField(default=False, help_text="This row withdraws the author's earlier verdict.")
    judge_category = models.CharField(max_length=20, blank=True,
                                      help_text="The judge's majority category at the time of this action.")
    note = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OverruleQuerySet.as_manager()

    class Meta:
        ordering = ["item", "rank", "created_at", "id"]
        indexes = [models.Index(fields=["item", "rank", "user", "created_at"], name="overrule_author_latest")]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(withdrawn=True, category="") | (models.Q(withdrawn=False) & ~models.Q(category=""))),
                name="overrule_category_or_withdrawal",
            ),
        ]

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if self.pk is not None and not self._state.adding:
            raise TypeError("overrules are append-only: append a new row instead of changing this one")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise TypeError("overrules are append-only: withdraw a verdict by appending a withdrawal")


class RewardValidation(models.Model):
    """Table 1: one model's mean caption reward against its caption-only diagnostic accuracy."""

    study = models.CharField(max_length=200, default="default")
    model_name = models.CharField(max_length=200)
    caption_reward = models.FloatField(help_text="Mean caption reward, 0-10.")
    diagnostic_accuracy = models.FloatField(help_text="Top-1 accuracy in [0, 1] when diagnosing from the caption alone.")
    n = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "caption_reward"]
        constraints = [models.UniqueConstraint(fields=["study", "model_name"], name="rewardvalidation_unique_model")]


class RewardValidationJob(models.Model):
    """Reward validation started from its page: the uploaded caption rows, scored by a worker
    (``evaluation.tasks.reward_validation_job``); the results become :class:`RewardValidation` rows."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    FINISHED = (Status.DONE, Status.FAILED)

    study = models.CharField(max_length=200, default="default")
    k = models.PositiveSmallIntegerField(default=1, help_text="Accuracy is Top-k of the caption-only diagnosis.")
    rows = models.JSONField(default=list, help_text="The uploaded lines (model, id, label, caption, reference_caption).")
    filename = models.CharField(max_length=255, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    models_stored = models.JSONField(default=list, blank=True, help_text="Model names stored when done.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"reward validation {self.id} ({self.study})"


class AttentionAnalysis(models.Model):
    """Section 4.4 for one local checkpoint: the attention of the final diagnostic token over the
    image tokens of N test images, as heatmaps and a histogram in the paper's bins."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    name = models.CharField(max_length=200, help_text="How the model is named beside the other one.")
    checkpoint = models.CharField(max_length=500)
    dataset = models.ForeignKey("annotations.Dataset", null=True, blank=True, on_delete=models.SET_NULL)
    split = models.CharField(max_length=5, blank=True, default="test")
    sample_size = models.PositiveIntegerField(default=500)
    seed = models.IntegerField(default=0)
    k = models.PositiveSmallIntegerField(default=6)
    layers = models.JSONField(default=list, blank=True, help_text="Decoder layers averaged (negative from the end); empty for all.")
    max_new_tokens = models.PositiveIntegerField(default=512)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    histogram = models.JSONField(default=dict, blank=True, help_text='{"labels", "counts", "shares", "images"}')
    maps = models.JSONField(default=list, blank=True, help_text='[{"sample_id", "file", "image_mass", "answer"}]')
    total = models.PositiveIntegerField(default=0, help_text="Images to analyse (known once the worker starts).")
    done = models.PositiveIntegerField(default=0, help_text="Images analysed so far.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
