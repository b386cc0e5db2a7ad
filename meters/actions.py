"""What people (and the scheduler) ask of the meter sync: "sync now", "resync this meter", approve.

The dashboard calls these; they create or return the SyncRun and queue its task after commit.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from meters import enqueue
from meters.models import SyncRun
from meters.sync import holds

KINDS = (SyncRun.Kind.FULL, SyncRun.Kind.INCREMENTAL, SyncRun.Kind.METER)


def _active(kind: str, meter_id: uuid.UUID | None) -> SyncRun | None:
    runs = SyncRun.objects.filter(kind=kind, status__in=SyncRun.ACTIVE_STATUSES)
    if kind == SyncRun.Kind.METER:
        runs = runs.filter(meter_id=meter_id)
    return runs.order_by("-created_at").first()


def _requeue_if_lost(run: SyncRun) -> None:
    """A run queued long ago whose task never came (broker lost it): send the task again.

    Harmless if the task is merely late: run_sync claims the run with a conditional UPDATE, so
    a second copy finds nothing to do.
    """
    waiting_since = run.heartbeat_at or run.created_at
    limit = timezone.now() - timedelta(seconds=settings.METERS_SYNC_STALE_SECONDS)
    if run.status == SyncRun.Status.QUEUED and waiting_since < limit:
        SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
            heartbeat_at=timezone.now()
        )
        enqueue.run_sync_on_commit(run.pk)


def request_sync(
    kind: str,
    *,
    requested_by: Any = None,
    meter_id: uuid.UUID | str | None = None,
    trigger: str | None = None,
) -> SyncRun:
    """Queue a sync of this kind, or return the one already queued or running (one per kind).

    kind is "full", "incremental" or "meter" (with meter_id: "resync this meter"). A running run
    whose worker died (no heartbeat for METERS_SYNC_STALE_SECONDS) is failed first, so asking
    again after a crash starts a fresh run.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == SyncRun.Kind.METER:
        if not meter_id:
            raise ValueError("a meter resync needs meter_id")
        meter_id = uuid.UUID(str(meter_id))
    else:
        meter_id = None
    user = requested_by if getattr(requested_by, "pk", None) else None
    holds.fail_stale_runs()
    existing = _active(kind, meter_id)
    if existing:
        _requeue_if_lost(existing)
        return existing
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                kind=kind,
                meter_id=meter_id,
                requested_by=user,
                trigger=trigger or ("user" if user else "schedule"),
            )
            enqueue.run_sync_on_commit(run.pk)
    except IntegrityError:
        # Someone else queued the same kind between our check and our insert.
        existing = _active(kind, meter_id)
        if existing is None:
            raise
        return existing
    run.refresh_from_db()
    return run


def approve_held_run(run: SyncRun | int, *, approved_by: Any = None) -> SyncRun:
    """An admin accepts a held full sync's missing part: those meters are now marked missing."""
    run = run if isinstance(run, SyncRun) else SyncRun.objects.get(pk=run)
    return holds.approve_held(run, approved_by=approved_by)
