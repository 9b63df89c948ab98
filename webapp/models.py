"""LLM endpoints (one per role, admin-editable) and the per-call log."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

ROLE_CHOICES = [(r, r) for r in ("drafter", "structurer", "diagnoser", "judge", "scorer")]
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def validate_env_var_name(value: str) -> None:
    from webapp.llm import KEY_ENV_RULE, key_env_allowed

    if value and not _ENV_NAME.match(value):
        raise ValidationError(
            "Give the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key itself: "
            "upper-case letters, digits and underscores."
        )
    if value and not key_env_allowed(value):
        raise ValidationError(f"{value} is not an API-key variable. {KEY_ENV_RULE}")


def validate_base_url(value: str) -> None:
    """An http(s) base URL that requests may go to: resolved, and every address checked against
    SKINFLOW_ALLOWED_ENDPOINT_HOSTS (webapp/egress.py). The same check runs again at call time."""
    # Django's URLValidator wants a dotted host; in-cluster names like http://vllm:8000/v1 are normal here.
    # egress.parse_url also refuses what urlparse would raise on (a broken "[v6" host): a 400, never a 500.
    from webapp import egress

    try:
        egress.configured_policy().check_url(value)
    except egress.EgressError as exc:
        raise ValidationError(str(exc)) from None


def key_destination_error(base_url: str, api_key_env: str) -> str:
    """Why the key in ``api_key_env`` may not be sent to ``base_url`` (SKINFLOW_KEY_ENV_HOSTS), or "".
    An unreadable URL gives "": its own validator reports it."""
    from webapp import egress

    if not base_url or not api_key_env:
        return ""
    try:
        target = egress.parse_url(base_url)
    except egress.EgressError:
        return ""
    try:
        egress.configured_policy().check_key(target, api_key_env)
    except egress.EgressError as exc:
        return str(exc)
    return ""


class LLMEndpoint(models.Model):
    """An OpenAI-compatible endpoint serving one role. The API key never enters the database: only the
    name of the environment variable that holds it on the workers."""

    role = models.CharField(max_length=20, choices=ROLE_CHOICES, unique=True)
    base_url = models.CharField(max_length=300, validators=[validate_base_url], help_text="OpenAI-compatible base URL, e.g. http://vllm:8000/v1")
    model = models.CharField(max_length=200)
    api_key_env = models.CharField(
        max_length=100, blank=True, validators=[validate_env_var_name],
        help_text="Name of the environment variable holding the API key (empty for local servers).",
    )
    temperature = models.FloatField(default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_concurrency = models.PositiveIntegerField(default=8, validators=[MinValueValidator(1)])
    requests_per_minute = models.PositiveIntegerField(default=0, help_text="0 means no limit.")
    timeout_s = models.FloatField(default=60.0, validators=[MinValueValidator(1.0)])
    max_retries = models.PositiveIntegerField(default=5, validators=[MaxValueValidator(20)])
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["role"]
        verbose_name = "LLM endpoint"

    def __str__(self) -> str:
        return f"{self.role}: {self.model} @ {self.base_url}"

    def clean(self) -> None:
        # A non-field error: the admin's changelist form (list_editable "enabled") has neither field. A
        # disabled endpoint is never called, so switching one off is always possible.
        if self.enabled:
            error = key_destination_error(self.base_url, self.api_key_env)
            if error:
                raise ValidationError(error)

    def to_config(self):  # -> webapp.llm.EndpointConfig
        from webapp.llm import EndpointConfig

        return EndpointConfig(
            role=self.role, base_url=self.base_url, model=self.model, api_key_env=self.api_key_env,
            temperature=self.temperature, max_concurrency=self.max_concurrency,
            requests_per_minute=self.requests_per_minute, timeout_s=self.timeout_s, max_retries=self.max_retries,
        )


class LLMCall(models.Model):
    """One gateway call (or cache hit): what it cost and how long it took."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    role = models.CharField(max_length=20, db_index=True)
    model = models.CharField(max_length=200)
    purpose = models.CharField(max_length=100, blank=True, help_text="What the call was for, e.g. drafting-run:12")
    cache_key = models.CharField(max_length=64)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    cached = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=1)
    ok = models.BooleanField(default=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "LLM call"


class WorkerHeartbeat(models.Model):
    """A live Celery worker process, refreshed every few seconds by its reaper loop.

    A job marked as running on a worker whose heartbeat stopped (kill -9, lost machine) is given to
    another worker; a slow LLM call on a live worker is left alone however long it takes."""

    name = models.CharField(max_length=200, unique=True, help_text="hostname:pid of the worker process")
    queues = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# --- Access audit trail (issue 12, item 5) --------------------------------------------------------------


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an access event: the trail is append-only."""


class AccessEventQuerySet(models.QuerySet):
    """Refuses ``update()``/``delete()`` (and so ``bulk_update``): a trail someone can edit proves nothing.
    The only way rows leave is :meth:`prune_before`, the retention prune."""

    def update(self, **kwargs: object) -> int:
        raise AppendOnlyError("The access audit trail is append-only: events are never updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The access audit trail is append-only: events leave only by the retention "
                              "prune (SKINFLOW_AUDIT_RETENTION_DAYS).")

    def prune_before(self, cutoff: object, batch: int = 10_000) -> int:
        """Delete events older than ``cutoff`` in batches (a big first prune never holds a long lock).
        Nothing points at an access event, so a raw DELETE by primary key is complete."""
        removed = 0
        while True:
            ids = list(self.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:batch])
            if not ids:
                return removed
            removed += models.QuerySet(self.model, using=self.db).filter(id__in=ids)._raw_delete(self.db)


class AccessEvent(models.Model):
    """One view, change or export of patient data: who, what, when, from where.

    No foreign keys on purpose: the user's id and name and the sample's id are copied, so an event still
    says who looked at what after the user or the sample was deleted, and deleting either never touches
    the trail. Rows are written by ``webapp.audit`` only and never changed: the model, its QuerySet and the
    admin refuse both change and delete, and a database trigger refuses UPDATE (raw SQL included). DELETE is
    left to the database on purpose: the retention prune (``prune_before``) removes old rows that way."""

    class Action(models.TextChoices):
        SAMPLE_VIEW = "sample.view", "viewed a sample page"
        SAMPLE_LIST = "sample.list", "saw a sample in a list"
        IMAGE_VIEW = "image.view", "viewed the image"
        THUMBNAIL_VIEW = "image.thumbnail", "viewed the thumbnail"
        REVIEW_CLAIM = "review.claim", "claimed for review"
        REVIEW_SAVE = "review.save", "saved a caption revision"
        REVIEW_OVERRIDE = "review.override", "accepted against the re-check"
        REVIEW_REJECT = "review.reject", "rejected"
        REVIEW_REOPEN = "review.reopen", "reopened"
        REVIEW_SKIP = "review.skip", "skipped"
        REVIEW_BULK_ACCEPT = "review.bulk_accept", "bulk accept"
        REVIEW_AUDIT_DRAW = "review.audit_draw", "drew samples for audit"
        SAMPLE_IDENTIFYING = "sample.identifying", "marked or unmarked as identifying"
        DATASET_IMPORT = "dataset.import", "imported samples"
        OVERRULE = "eval.overrule", "overruled a judge verdict"
        OVERRULE_WITHDRAW = "eval.overrule_withdraw", "withdrew an overrule"
        EVAL_RUN_CREATE = "eval.run_create", "started an evaluation run"
        EVAL_EXPORT = "eval.export", "downloaded an evaluation export"
        # Drafting sends every selected photo of a dataset to the drafting endpoint, which may be hosted.
        DRAFTING_RUN_CREATE = "drafting.run_create", "started a drafting run"
        DRAFTING_RESUME = "drafting.resume", "resumed a drafting run"
        MEDIA_SCRUB = "media.scrub", "de-identified stored images"
        SNAPSHOT_CREATE = "snapshot.create", "created a training snapshot"
        TRAINING_LAUNCH = "training.launch", "launched a training run"
        AUDIT_EXPORT = "audit.export", "downloaded the audit trail"
        REVIEW_UNDO = "review.undo", "undid a review action"
        CHECKPOINT_DOWNLOAD = "checkpoint.download", "downloaded a training checkpoint"
        USER_CREATE = "user.create", "created an account"
        USER_ROLES = "user.roles", "changed an account's roles"
        USER_DEACTIVATE = "user.deactivate", "deactivated an account"
        USER_REACTIVATE = "user.reactivate", "reactivated an account"
        USER_PASSWORD = "user.password_reset", "reset an account's password"
        USER_UNLOCK = "user.unlock", "unlocked an account's logins"
        ENDPOINT_SAVE = "llm_endpoint.save", "saved an LLM endpoint"
        ENDPOINT_DELETE = "llm_endpoint.delete", "removed an LLM endpoint row"
        ENDPOINT_TEST = "llm_endpoint.test", "tested an LLM endpoint"

    class Channel(models.TextChoices):
        PAGE = "page", "page"
        API = "api", "API"
        COMMAND = "command", "management command"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user_id = models.BigIntegerField(null=True, blank=True, db_index=True,
                                     help_text="The user's id at the time (kept after the user is deleted).")
    username = models.CharField(max_length=150, blank=True, db_index=True)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    object_type = models.CharField(max_length=60, blank=True, help_text="app_label.model of the object acted on")
    object_id = models.CharField(max_length=64, blank=True)
    sample_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name="IP address")
    user_agent = models.CharField(max_length=300, blank=True)
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AccessEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "access event"
        indexes = [models.Index(fields=["sample_id", "created_at"], name="webapp_access_sample_time")]

    def __str__(self) -> str:
        who = self.username or "(nobody)"
        what = f"{self.object_type} {self.object_id}".strip()
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.action} {what}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AppendOnlyError("The access audit trail is append-only: events are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The access audit trail is append-only: events leave only by the retention prune.")
