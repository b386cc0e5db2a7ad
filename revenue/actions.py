"""Starting a revenue sync: the one entry point pages and the schedule use (like meters.actions)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from revenue import enqueue
from revenue.models import RevenueSyncRun


def request_sync(*, trigger: str, requested_by: Any = None) -> RevenueSyncRun:
    """Queue a revenue sync (or return the one already queued or running).

    A running run whose worker died (no heartbeat) is failed first, so a new one can start.
    """
    fail_stale_runs()
    active = RevenueSyncRun.objects.filter(status__in=RevenueSyncRun.ACTIVE_STATUSES).first()
    if active is not None:
        return active
    try:
        with transaction.atomic():
            run = RevenueSyncRun.objects.create(
                trigger=trigger,
                requested_by=requested_by if getattr(requested_by, "pk", None) else None,
            )
    except IntegrityError:  # another request queued one meanwhile
        return RevenueSyncRun.objects.get(status__in=RevenueSyncRun.ACTIVE_STATUSES)
    enqueue.run_revenue_sync_on_commit(run.pk)
    return run


def fail_stale_runs() -> int:
    """Fail running runs whose heartbeat stopped (their worker died)."""
    cutoff = timezone.now() - timedelta(seconds=settings.METERS_SYNC_STALE_SECONDS)
    return RevenueSyncRun.objects.filter(
        status=RevenueSyncRun.Status.RUNNING, heartbeat_at__lt=cutoff
    ).update(
        status=RevenueSyncRun.Status.FAILED,
        finished_at=timezone.now(),
        error="no heartbeat: the worker died mid-run; the next run fetches the version again",
    )
