"""The access audit trail: who viewed, changed or exported which patient data, when, and from where.

Views and services call :func:`record` (one event) or :func:`record_samples` (one event per sample of a
list, written in one INSERT) right where the thing is done; explicit calls rather than a middleware that
guesses from URLs, so "saved a revision" is written only when the save happened.

What counts as a view (a clinic asks "who viewed this patient photo, when"):
- a sample page (review page, evaluation item page) and an API sample read: ``sample.view``;
- every fetch of the full image or of its thumbnail: ``image.view`` / ``image.thumbnail`` — the browser
  loads list thumbnails lazily, so a thumbnail event means the photo was on that person's screen;
- a list page (samples, evaluation sample browser, review queue, bulk-accept preview, API list): one
  ``sample.list`` event per sample shown, because the list itself shows each sample's label and skin type.
  That is noisy (a page of 48 samples writes 48 rows, in one INSERT) but true, and it is what answers
  "who saw this sample" by a sample-id filter; filter by action to leave lists out.

Writing an event never blocks the request it describes: the INSERT runs in its own savepoint, so a
failure (database refused, table missing) leaves the caller's transaction usable; it is logged as
"audit write failed ..." and the request goes on.

Where from: the client's IP is ``REMOTE_ADDR``, unless ``SKINFLOW_TRUSTED_PROXY_COUNT`` says how many
reverse proxies stand in front of the app; only then is ``X-Forwarded-For`` read, and only the entry
the outermost trusted proxy appended (anything left of it was written by the client and can be forged).
The rule is the login throttle's (``webapp.net.client_ip``), so both name the same address.
"""

from __future__ import annotations

import getpass
import ipaddress
import logging
from datetime import timedelta
from typing import Any, Callable, Iterable

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from webapp import net

log = logging.getLogger(__name__)

def retention_days() -> int:
    """How long events are kept; 0 keeps them for ever."""
    return int(getattr(settings, "SKINFLOW_AUDIT_RETENTION_DAYS", 2190))


def client_ip(request: Any) -> str | None:
    """The address the request came from, by the login throttle's rule (:func:`webapp.net.client_ip`:
    ``X-Forwarded-For`` only through ``SKINFLOW_TRUSTED_PROXY_COUNT`` proxies), so the trail and the lockouts
    name the same address. Anything that is not an IP address (a unix-socket peer, a proxy writing "unknown")
    is stored as no address rather than failing the write."""
    if request is None:
        return None
    value = net.client_ip(request)
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def channel(request: Any) -> str:
    from webapp.models import AccessEvent

    if request is None:
        return AccessEvent.Channel.COMMAND
    path = getattr(request, "path", "") or ""
    return AccessEvent.Channel.API if net.is_api_path(path) else AccessEvent.Channel.PAGE


def _who(request: Any, user: Any) -> tuple[int | None, str]:
    if user is None and request is not None:
        user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None, ""
    return user.pk, user.get_username()[:150]


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers (no USER, no passwd entry)
        return ""


def _object(obj: models.Model | None) -> tuple[str, str]:
    if obj is None:
        return "", ""
    return obj._meta.label_lower[:60], str(obj.pk)[:64]


def _event(request: Any, action: str, obj: models.Model | None, sample_id: int | None, user: Any,
           detail: dict[str, Any], now: Any):
    from webapp.models import AccessEvent

    user_id, username = _who(request, user)
    object_type, object_id = _object(obj)
    if sample_id is None and obj is not None and obj._meta.label_lower == "annotations.sample":
        sample_id = obj.pk
    meta = getattr(request, "META", {}) or {}
    if request is None and user is None:
        detail.setdefault("os_user", _os_user())  # a command has no web user: say who ran it
    return AccessEvent(
        created_at=now, user_id=user_id, username=username, action=action, object_type=object_type,
        object_id=object_id, sample_id=sample_id, channel=channel(request), ip=client_ip(request),
        user_agent=(meta.get("HTTP_USER_AGENT", "") or "")[:300],
        method=(getattr(request, "method", "") or "")[:10], path=(getattr(request, "path", "") or "")[:500],
        detail=detail,
    )


def _write(request: Any, action: str, build: Callable[[], list[Any]]) -> int:
    """Build and store events; any failure (building them included) is logged and swallowed."""
    from webapp.models import AccessEvent

    events: list[Any] = []
    try:
        events = build()
        if not events:
            return 0
        # A savepoint of its own: a failed INSERT must not poison the transaction the view is in.
        with transaction.atomic():
            AccessEvent.objects.bulk_create(events)
    except Exception:  # noqa: BLE001 - whatever went wrong, the user's request must go on; the log says so
        first = events[0] if events else None
        log.exception("audit write failed: %d event(s) %s by %s on %s %s (sample %s) were not recorded; %s %s",
                      len(events) or 1, action, getattr(first, "username", "") or "(nobody)",
                      getattr(first, "object_type", "") or "-", getattr(first, "object_id", "") or "-",
                      getattr(first, "sample_id", None) or "-", getattr(request, "method", "-"),
                      getattr(request, "path", "-"))
        return 0
    return len(events)


def record(request: Any, action: str, obj: models.Model | None = None, *, sample_id: int | None = None,
           user: Any = None, **detail: Any) -> bool:
    """Record one event. ``request`` (a Django or DRF request) gives who and where from; ``None`` means a
    management command (then pass ``user`` if one is known). ``detail`` must be JSON-serialisable.
    Returns whether the event was stored; a failure is logged, never raised."""
    def build() -> list[Any]:
        return [_event(request, action, obj, sample_id, user, detail, timezone.now())]

    return bool(_write(request, action, build))


def record_samples(request: Any, action: str, sample_ids: Iterable[int | None], obj: models.Model | None = None, *,
                   user: Any = None, **detail: Any) -> int:
    """Record one event per sample (a list page, a bulk action) in one INSERT; returns how many were stored."""
    def build() -> list[Any]:
        now = timezone.now()
        seen = dict.fromkeys(int(sid) for sid in sample_ids if sid is not None)  # once each, in order
        return [_event(request, action, obj, sid, user, dict(detail), now) for sid in seen]

    return _write(request, action, build)


def record_import(request: Any, dataset_name: str, result: Any) -> bool:
    """An import that committed (upload page or API) is a change of patient data: one ``dataset.import`` event
    naming the dataset and the counts. A refused import changed nothing and records nothing."""
    if not result.committed:
        return False
    from django.apps import apps

    # Looked up by name as the importer normalised it (runs of white space made one space).
    dataset = apps.get_model("annotations", "Dataset").objects.filter(name=" ".join(dataset_name.split())).first()
    from webapp.models import AccessEvent

    return record(request, AccessEvent.Action.DATASET_IMPORT, dataset, created=result.created,
                  updated=result.updated, skipped_rows=len(result.errors))


def record_launch(request: Any, run: models.Model, snapshot: models.Model, *, snapshot_created: bool) -> int:
    """A training launch (page or API): ``training.launch`` for the run, and ``snapshot.create`` only when the
    launch made a new snapshot; a launch that reuses an existing snapshot exports nothing new (the patient data
    left in the export that created it). Returns how many events were stored."""
    from webapp.models import AccessEvent

    stored = int(record(request, AccessEvent.Action.TRAINING_LAUNCH, run, snapshot=snapshot.pk,
                        snapshot_created=snapshot_created, rows=snapshot.rows))
    if snapshot_created:
        stored += record(request, AccessEvent.Action.SNAPSHOT_CREATE, snapshot, run=run.pk, rows=snapshot.rows)
    return stored


def record_drafting(request: Any, action: str, run: models.Model, jobs: int) -> bool:
    """A drafting run started or resumed (page or API): drafting sends the photos of its jobs to the drafting
    endpoint, which may be hosted, so it is recorded like an evaluation run. ``jobs`` is how many jobs the
    service created (start) or put back in the queue (resume)."""
    return record(request, action, run, dataset=run.dataset_id, jobs=int(jobs))


def prune_expired(now: Any = None) -> int:
    """Delete events older than the retention period (``SKINFLOW_AUDIT_RETENTION_DAYS``; 0 keeps all).
    Registered as a reaper, so every worker runs it; it does the work at most once an hour per process."""
    from webapp.models import AccessEvent

    days = retention_days()
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    removed = AccessEvent.objects.prune_before(cutoff)
    if removed:
        log.info("audit retention: removed %d access event(s) older than %d days", removed, days)
    return removed


_PRUNE_EVERY_S = 3600.0
_last_prune: float | None = None


def reap_expired() -> int:
    """The reaper loop's entry point: a prune at most once an hour (the loop runs every few seconds)."""
    import time

    global _last_prune
    now = time.monotonic()
    if _last_prune is not None and now - _last_prune < _PRUNE_EVERY_S:
        return 0
    removed = prune_expired()
    _last_prune = now  # set after success: a database outage retries on the next round
    return removed
