"""Celery tasks of the meters app: thin, take ids, idempotent; the work is in meters.sync."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

import leap
from meters import actions, webhook_processing
from meters.models import SyncRun, WebhookDelivery
from meters.sync import engine, holds

logger = logging.getLogger(__name__)


def retry_delay(retries: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, bounded at 15 minutes; Leap's Retry-After wins if longer."""
    base = settings.METERS_SYNC_RETRY_BASE_SECONDS * (2**retries)
    delay = min(base, 900.0) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not security)
    return max(delay, retry_after or 0.0)


def claim_run(run_id: int) -> SyncRun | None:
    """queued -> running with a conditional UPDATE; also takes over a running run gone stale."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.METERS_SYNC_STALE_SECONDS)
    claimed = SyncRun.objects.filter(
        Q(status=SyncRun.Status.QUEUED) | Q(status=SyncRun.Status.RUNNING, heartbeat_at__lt=stale),
        pk=run_id,
    ).update(
        status=SyncRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    return SyncRun.objects.get(pk=run_id) if claimed else None


def _fail(run_id: int, error: str) -> None:
    SyncRun.objects.filter(pk=run_id).update(
        status=SyncRun.Status.FAILED, error=error[:5000], finished_at=timezone.now()
    )


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_sync(self, run_id: int) -> str:
    """Execute one SyncRun (full, incremental or one meter)."""
    run = claim_run(run_id)
    if run is None:
        return "not claimed (already running, finished, or gone)"
    try:
        with leap.get_client() as client:
            run = engine.execute(client, run)
    except leap.LeapUnavailable as exc:
        attempt = self.request.retries + 1
        # Eager mode (tests, a caller without a broker) cannot wait for a countdown: the client's
        # own retries were the last chance, so the run fails now and says why.
        if self.request.is_eager or self.request.retries >= settings.METERS_SYNC_MAX_RETRIES:
            _fail(run_id, f"gave up after {attempt} attempt(s): Leap unavailable: {exc}")
            return "failed"
        delay = retry_delay(self.request.retries, exc.retry_after)
        SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.QUEUED,
            error=f"attempt {attempt} failed (Leap unavailable: {exc}); retrying in {delay:.0f}s",
        )
        raise self.retry(exc=exc, countdown=delay) from exc
    except leap.LeapRejected as exc:
        _fail(run_id, f"Leap rejected the sync: {exc}")
        return "failed"
    except Exception as exc:
        _fail(run_id, f"{type(exc).__name__}: {exc}")
        raise
    return run.status


@shared_task(acks_late=True)
def scheduled_full_sync() -> int:
    """Beat: the nightly full sync (skipped while one is active)."""
    return actions.request_sync(SyncRun.Kind.FULL, trigger="schedule").pk


@shared_task(acks_late=True)
def scheduled_incremental_sync() -> int | None:
    """Beat: the incremental sync; not while a full sync runs (it covers the same ground).

    It also re-queues webhook deliveries whose task was lost.
    """
    requeue_stuck_deliveries()
    if SyncRun.objects.filter(kind=SyncRun.Kind.FULL, status__in=SyncRun.ACTIVE_STATUSES).exists():
        holds.fail_stale_runs()
        if SyncRun.objects.filter(
            kind=SyncRun.Kind.FULL, status__in=SyncRun.ACTIVE_STATUSES
        ).exists():
            return None
    return actions.request_sync(SyncRun.Kind.INCREMENTAL, trigger="schedule").pk


def requeue_stuck_deliveries() -> int:
    """Queue again webhook deliveries whose processing task never ran (broker restart, crash)."""
    stuck = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.RECEIVED,
            received_at__lt=timezone.now() - timedelta(minutes=2),
        ).values_list("pk", flat=True)[:1000]
    )
    for delivery_id in stuck:
        process_meter_webhook.delay(delivery_id)
    return len(stuck)


@shared_task(acks_late=True)
def resync_meter(meter_id: str, requested_by_id: int | None = None) -> int:
    """Resync one meter (queues the run; run_sync does the work)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=requested_by_id).first() if requested_by_id else None
    return actions.request_sync(SyncRun.Kind.METER, meter_id=meter_id, requested_by=user).pk


@shared_task(bind=True, acks_late=True, max_retries=None)
def process_meter_webhook(self, delivery_id: int) -> str:
    """Fetch the current state of what a stored webhook delivery is about."""
    delivery = webhook_processing.claim(delivery_id)
    if delivery is None:
        return "not claimed"
    try:
        with leap.get_client() as client:
            webhook_processing.process(client, delivery)
    except leap.LeapUnavailable as exc:
        if self.request.is_eager or self.request.retries >= settings.METERS_SYNC_MAX_RETRIES:
            webhook_processing.fail(delivery_id, f"gave up: Leap unavailable: {exc}")
            return "failed"
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=WebhookDelivery.Status.RECEIVED, error=f"retrying: Leap unavailable: {exc}"
        )
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
    except leap.LeapRejected as exc:
        webhook_processing.fail(delivery_id, f"Leap rejected the fetch: {exc}")
        return "failed"
    except Exception as exc:
        webhook_processing.fail(delivery_id, f"{type(exc).__name__}: {exc}")
        raise
    return "processed"
