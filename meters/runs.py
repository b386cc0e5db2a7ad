"""A sync run's row through its life: claimed by one worker, failed with its reason, retried with
backoff while Leap is unavailable.

The meter sync (SyncRun) and the revenue sync (revenue.RevenueSyncRun) run the same way: their rows
have `status` (queued, running, failed, ...), `started_at`, `heartbeat_at`, `attempts`, `error`
and `finished_at`, and their tasks claim the row with a conditional UPDATE, run the sync with a
Leap client, and record how it ended.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import Task
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

import leap
from leap.client import LeapClient


def retry_delay(retries: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, bounded at 15 minutes; Leap's Retry-After wins if longer."""
    base = settings.METERS_SYNC_RETRY_BASE_SECONDS * (2**retries)
    delay = min(base, 900.0) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not security)
    return max(delay, retry_after or 0.0)


def claim_run(model: Any, run_id: int) -> Any:
    """queued -> running with a conditional UPDATE; also takes over a running run gone stale.

    The run, or None when another worker has it (or it finished, or is gone).
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.METERS_SYNC_STALE_SECONDS)
    claimed = model.objects.filter(
        Q(status=model.Status.QUEUED) | Q(status=model.Status.RUNNING, heartbeat_at__lt=stale),
        pk=run_id,
    ).update(
        status=model.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    return model.objects.get(pk=run_id) if claimed else None


def fail_run(model: Any, run_id: int, error: str) -> None:
    """The run failed, and why."""
    model.objects.filter(pk=run_id).update(
        status=model.Status.FAILED, error=error[:5000], finished_at=timezone.now()
    )


def run_claimed(
    task: Task,  # type: ignore[type-arg]  # a bound task of any signature
    model: Any,
    run_id: int,
    execute: Callable[[LeapClient, Any], Any],
    *,
    refused: type[Exception],
    refused_reason: str,
) -> str:
    """Claim the run, execute it with a Leap client, and record how it ended: its status, "failed",
    or a retry of `task` with backoff while Leap is unavailable (up to METERS_SYNC_MAX_RETRIES).

    `refused` errors (Leap said no) fail the run at once, as `refused_reason: <error>`.
    """
    run = claim_run(model, run_id)
    if run is None:
        return "not claimed (already running, finished, or gone)"
    try:
        with leap.get_client() as client:
            run = execute(client, run)
    except leap.LeapUnavailable as exc:
        attempt = task.request.retries + 1
        # Eager mode (tests, a caller without a broker) cannot wait for a countdown: the client's
        # own retries were the last chance, so the run fails now and says why.
        if task.request.is_eager or task.request.retries >= settings.METERS_SYNC_MAX_RETRIES:
            fail_run(model, run_id, f"gave up after {attempt} attempt(s): Leap unavailable: {exc}")
            return "failed"
        delay = retry_delay(task.request.retries, exc.retry_after)
        model.objects.filter(pk=run_id, status=model.Status.RUNNING).update(
            status=model.Status.QUEUED,
            error=f"attempt {attempt} failed (Leap unavailable: {exc}); retrying in {delay:.0f}s",
        )
        raise task.retry(exc=exc, countdown=delay) from exc
    except refused as exc:
        fail_run(model, run_id, f"{refused_reason}: {exc}")
        return "failed"
    except Exception as exc:
        fail_run(model, run_id, f"{type(exc).__name__}: {exc}")
        raise
    return run.status  # type: ignore[no-any-return]
