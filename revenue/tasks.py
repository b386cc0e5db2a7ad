"""Celery tasks of the revenue app: thin, take ids, idempotent; the work is in revenue.sync."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

import leap
from meters.tasks import retry_delay
from revenue import sync
from revenue.actions import fail_stale_runs, request_sync
from revenue.models import RevenueSyncRun

logger = logging.getLogger(__name__)


def claim_run(run_id: int) -> RevenueSyncRun | None:
    """queued -> running with a conditional UPDATE; also takes over a running run gone stale."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.METERS_SYNC_STALE_SECONDS)
    claimed = RevenueSyncRun.objects.filter(
        Q(status=RevenueSyncRun.Status.QUEUED)
        | Q(status=RevenueSyncRun.Status.RUNNING, heartbeat_at__lt=stale),
        pk=run_id,
    ).update(
        status=RevenueSyncRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    return RevenueSyncRun.objects.get(pk=run_id) if claimed else None


def _fail(run_id: int, error: str) -> None:
    RevenueSyncRun.objects.filter(pk=run_id).update(
        status=RevenueSyncRun.Status.FAILED, error=error[:5000], finished_at=timezone.now()
    )


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_revenue_sync(self, run_id: int) -> str:
    """Execute one RevenueSyncRun; Leap being unavailable is retried with backoff."""
    run = claim_run(run_id)
    if run is None:
        return "not claimed (already running, finished, or gone)"
    try:
        with leap.get_client() as client:
            run = sync.run_sync(client, run)
    except leap.LeapUnavailable as exc:
        attempt = self.request.retries + 1
        if self.request.is_eager or self.request.retries >= settings.METERS_SYNC_MAX_RETRIES:
            _fail(run_id, f"gave up after {attempt} attempt(s): Leap unavailable: {exc}")
            return "failed"
        delay = retry_delay(self.request.retries, exc.retry_after)
        RevenueSyncRun.objects.filter(pk=run_id, status=RevenueSyncRun.Status.RUNNING).update(
            status=RevenueSyncRun.Status.QUEUED,
            error=f"attempt {attempt} failed (Leap unavailable: {exc}); retrying in {delay:.0f}s",
        )
        raise self.retry(exc=exc, countdown=delay) from exc
    except leap.LeapError as exc:
        _fail(run_id, f"Leap refused or sent something unusable: {exc}")
        return "failed"
    except Exception as exc:
        _fail(run_id, f"{type(exc).__name__}: {exc}")
        raise
    return run.status


@shared_task(acks_late=True)
def scheduled_revenue_sync() -> int:
    """Beat, daily: check Leap for new report versions (a run already active is reused)."""
    fail_stale_runs()
    return request_sync(trigger="schedule").pk
