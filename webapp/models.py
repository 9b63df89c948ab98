"""LLM endpoints (one per role, admin-editable) and the per-call log."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

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
    # Django's URLValidator wants a dotted host; in-cluster names like http://vllm:8000/v1 are normal here.
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValidationError("Give an http(s) base URL such as http://vllm:8000/v1 or https://api.openai.com/v1.")


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
