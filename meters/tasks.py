"""Celery tasks of the meters app: thin, take ids, idempotent; the work is in meters.sync."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

import leap
from meters import actions, runs, webhook_processing
from meters.models import SyncRun, WebhookDelivery
from meters.runs import claim_run, retry_delay  # noqa: F401 - used here and named here before
from meters.sync import engine, holds

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_sync(self, run_id: int) -> str:
    """Execute one SyncRun (full, incremental or one meter)."""
    return runs.run_claimed(
        self, SyncRun, run_id, lambda client, run: engine.execute(client, run),
        refused=leap.LeapRejected, refused_reason="Leap rejected the sync",
    )  # fmt: skip


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
