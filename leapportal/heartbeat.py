"""Worker liveness: the heartbeat task records here; the sync-health page reads here."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from leapportal.models import WorkerHeartbeat


def record_heartbeat(hostname: str, *, now: datetime | None = None) -> WorkerHeartbeat:
    """Upsert the row of `hostname`: set last_seen_at to now and count the beat."""
    now = now or timezone.now()
    with transaction.atomic():
        beat, created = WorkerHeartbeat.objects.select_for_update().get_or_create(
            hostname=hostname, defaults={"first_seen_at": now, "last_seen_at": now, "beats": 1}
        )
        if not created:
            # Never move the clock backwards: a late redelivery of an old beat must not hide a
            # newer one.
            if now > beat.last_seen_at:
                beat.last_seen_at = now
            beat.beats = F("beats") + 1
            beat.save(update_fields=["last_seen_at", "beats"])
            beat.refresh_from_db()
    return beat


def heartbeats_latest_first() -> QuerySet[WorkerHeartbeat]:
    """Every worker's heartbeat, the most recent first."""
    return WorkerHeartbeat.objects.order_by("-last_seen_at")


def last_worker_seen() -> WorkerHeartbeat | None:
    """The most recent heartbeat of any worker, or None when no worker ever ran one."""
    return heartbeats_latest_first().first()


def worker_is_stale(*, now: datetime | None = None, max_age: timedelta | None = None) -> bool:
    """True when no worker has beaten within max_age (default: three beat intervals)."""
    return is_stale(last_worker_seen(), now=now, max_age=max_age)


def is_stale(
    latest: WorkerHeartbeat | None,
    *,
    now: datetime | None = None,
    max_age: timedelta | None = None,
) -> bool:
    """worker_is_stale's answer for `latest`, the most recent heartbeat a page already read."""
    now = now or timezone.now()
    if max_age is None:
        max_age = timedelta(seconds=3 * settings.WORKER_HEARTBEAT_SECONDS)
    return latest is None or now - latest.last_seen_at > max_age
