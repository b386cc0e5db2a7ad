"""Held full syncs and stale runs: approving a hold, failing a run whose worker died."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from meters.models import ChangeSource, SyncRun
from meters.sync.context import Context
from meters.sync.engine import mark_missing


class HoldError(Exception):
    """A held run cannot be approved (wrong state)."""


def approve_held(run: SyncRun, *, approved_by: Any = None) -> SyncRun:
    """Apply a held run's missing part: mark those meters missing that no sync has seen since."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run.pk)
        if run.status != SyncRun.Status.HELD:
            raise HoldError(f"sync run {run.pk} is {run.status}, not held")
        ctx = Context(run=run, source=ChangeSource.POLL, now=timezone.now())
        ids = [uuid.UUID(m) for m in run.held_meter_ids]
        # A meter a later sync wrote (last_seen_at after this run started) is not missing.
        marked = mark_missing(ctx, ids, since=run.started_at or run.created_at)
        run.status = SyncRun.Status.DONE
        run.missing = marked
        run.approved_by = approved_by if getattr(approved_by, "pk", None) else None
        run.approved_at = ctx.now
        run.error = f"held part approved: {marked} of {len(ids)} meters marked missing"
        run.save()
    return run


def fail_stale_runs(now: datetime | None = None) -> int:
    """Fail running runs whose heartbeat stopped (their worker died); returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.METERS_SYNC_STALE_SECONDS)
    stale = SyncRun.objects.filter(status=SyncRun.Status.RUNNING, heartbeat_at__lt=cutoff)
    count = 0
    for run in stale:
        count += SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.FAILED,
            finished_at=now,
            error=(
                f"no heartbeat since {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC: the worker "
                f"died mid-run; a new run takes over (pages already written are kept)"
            ),
            attempts=F("attempts"),
        )
    return count
