"""Celery tasks of the revenue app: thin, take ids, idempotent; the work is in revenue.sync."""

from __future__ import annotations

import logging

from celery import shared_task

import leap
from meters import runs
from revenue import sync
from revenue.actions import fail_stale_runs, request_sync
from revenue.models import RevenueSyncRun

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_revenue_sync(self, run_id: int) -> str:
    """Execute one RevenueSyncRun; Leap being unavailable is retried with backoff."""
    return runs.run_claimed(
        self, RevenueSyncRun, run_id, lambda client, run: sync.run_sync(client, run),
        refused=leap.LeapError, refused_reason="Leap refused or sent something unusable",
    )  # fmt: skip


@shared_task(acks_late=True)
def scheduled_revenue_sync() -> int:
    """Beat, daily: check Leap for new report versions (a run already active is reused)."""
    fail_stale_runs()
    return request_sync(trigger="schedule").pk
