"""The fallback to webhooks: poll Leap's dispatch searches and upsert through the same apply step.

Every run searches meter and group dispatches from settings.DISPATCH_RECONCILE_LOOKBACK_HOURS ago
to DISPATCH_RECONCILE_AHEAD_HOURS ahead (real-time events included). A timeslot we do not have is
a missed webhook; one whose values differ from what webhooks told us is a difference. Both are
recorded as ReconcileFinding rows and applied, with the poll's start as their receipt time: a
webhook received while the poll ran is newer and is not overwritten (see dispatch/apply.py).
An event still waiting in the inbox (received, not yet processed) is neither: the queued webhook
applies it.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from dispatch.apply import apply_all
from dispatch.comparable import comparable
from dispatch.incoming import (
    COMPARED_FIELDS,
    Incoming,
    incoming_from_group_dispatch,
    incoming_from_meter_dispatch,
)
from dispatch.models import (
    DispatchDelivery,
    DispatchTimeslot,
    Level,
    ReconcileFinding,
    ReconcileRun,
    Source,
)
from leap.client import LeapClient
from leap.errors import LeapBadPayload, LeapError

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=10)  # a run "running" longer than this died with its worker


def start_run(now: datetime) -> ReconcileRun | None:
    """Claim the single running slot; None when another run is genuinely in progress."""
    ReconcileRun.objects.filter(
        status=ReconcileRun.Status.RUNNING, started_at__lt=now - STUCK_AFTER
    ).update(status=ReconcileRun.Status.FAILED, finished_at=now, error="abandoned (worker lost)")
    try:
        with transaction.atomic():
            return ReconcileRun.objects.create(
                started_at=now,
                window_start=now - timedelta(hours=settings.DISPATCH_RECONCILE_LOOKBACK_HOURS),
                window_end=now + timedelta(hours=settings.DISPATCH_RECONCILE_AHEAD_HOURS),
            )
    except IntegrityError:
        return None


def _pending_bodies(level: str, before: datetime) -> list[bytes]:
    """Bodies of webhook deliveries received but not processed yet (usually none or a few)."""
    return [
        bytes(b)
        for b in DispatchDelivery.objects.filter(
            level=level, status=DispatchDelivery.Status.RECEIVED, received_at__lte=before
        ).values_list("body", flat=True)[:1000]
    ]


def _compare(
    run: ReconcileRun, level: str, dispatches: list[Any], polled_at: datetime, counts: Counter
) -> None:
    """Record findings for one page of search results and apply what differs."""
    flatten = incoming_from_meter_dispatch if level == Level.METER else incoming_from_group_dispatch
    incoming = [inc for d in dispatches for inc in flatten(d, integration_test=False)]
    counts["seen"] += len(incoming)
    stored = DispatchTimeslot.objects.in_bulk(
        [inc.event_id for inc in incoming], field_name="event_id"
    )
    pending = None
    to_apply: list[Incoming] = []
    findings: list[tuple[Incoming, str, dict[str, Any]]] = []
    for inc in incoming:
        ts = stored.get(inc.event_id)
        if ts is not None and ts.content_hash == inc.content_hash:
            continue
        if pending is None:
            pending = _pending_bodies(level, polled_at)
        if any(str(inc.event_id).encode() in body for body in pending):
            counts["queued"] += 1  # the webhook is in the inbox; it will apply this
            continue
        if ts is None:
            findings.append((inc, ReconcileFinding.Kind.MISSED_WEBHOOK, {}))
        elif polled_at >= ts.applied_received_at:
            old = {f: comparable(getattr(ts, f)) for f in COMPARED_FIELDS}
            new = {f: comparable(inc.values[f]) for f in COMPARED_FIELDS}
            diff = {f: [old[f], new[f]] for f in COMPARED_FIELDS if old[f] != new[f]}
            findings.append((inc, ReconcileFinding.Kind.VALUE_DIFFERS, diff))
        to_apply.append(inc)
    if not to_apply:
        return
    key = "meter_dispatches" if level == Level.METER else "group_dispatches"
    body = json.dumps({key: [_raw_dispatch(d) for d in dispatches]}, default=str).encode()
    with transaction.atomic():
        # The poll's evidence goes to the inbox like a webhook's, so versions can point at it.
        delivery = DispatchDelivery.store_poll(
            level, body, polled_at, status=DispatchDelivery.Status.PROCESSED
        )
        result = apply_all(
            to_apply, source=Source.POLL, received_at=polled_at, delivery=delivery, run=run
        )
        stored = DispatchTimeslot.objects.in_bulk(
            [inc.event_id for inc, _, _ in findings], field_name="event_id"
        )
        ReconcileFinding.objects.bulk_create(
            ReconcileFinding(
                run=run,
                timeslot=stored[inc.event_id],
                kind=kind,
                differences=diff,
                found_at=polled_at,
            )
            for inc, kind, diff in findings
            if inc.event_id in stored
        )
        delivery.summary = result.summary()
        delivery.processed_at = timezone.now()
        delivery.save(update_fields=["summary", "processed_at"])
    counts.update(Counter(str(kind) for _, kind, _ in findings))
    counts["applied"] += len(to_apply)


def _keep_bad(level: str, bad: list[LeapBadPayload], polled_at: datetime) -> None:
    """Search results that do not validate: kept as a rejected poll delivery, with the reasons."""
    body = json.dumps([b.raw for b in bad], default=str).encode()
    DispatchDelivery.store_poll(
        level,
        body,
        polled_at,
        status=DispatchDelivery.Status.REJECTED,
        processed_at=timezone.now(),
        error="; ".join(str(b) for b in bad)[:5000],
    )


def _raw_dispatch(dispatch: Any) -> dict[str, Any]:
    """The exact dict Leap returned for a search result."""
    raw = getattr(dispatch, "raw", None)
    return raw if isinstance(raw, dict) else dispatch.model_dump(mode="json")


def reconcile(client: LeapClient, *, now: datetime | None = None) -> ReconcileRun | None:
    """One reconcile pass; returns the run (None when another one is running)."""
    now = now or timezone.now()
    run = start_run(now)
    if run is None:
        return None
    counts: Counter[str] = Counter()
    searches = (
        (Level.METER, client.iter_meter_dispatches),
        (Level.GROUP, client.iter_group_dispatches),
    )
    try:
        for level, search in searches:
            polled_at = timezone.now()
            page: list[Any] = []
            bad: list[LeapBadPayload] = []
            for dispatch in search(
                run.window_start, run.window_end, exclude_real_time_events=False, on_bad=bad.append
            ):
                page.append(dispatch)
                if len(page) >= 200:
                    _compare(run, level, page, polled_at, counts)
                    page = []
            _compare(run, level, page, polled_at, counts)
            if bad:
                _keep_bad(level, bad, polled_at)
                counts["invalid"] += len(bad)
    except LeapError as exc:
        # Leap unavailable (after the client's own retries) or rejecting: shown on the run; the
        # next beat, a minute later, tries again.
        log.warning("dispatch reconcile failed: %s", exc)
        run.status, run.error = ReconcileRun.Status.FAILED, f"{type(exc).__name__}: {exc}"[:5000]
    except Exception as exc:  # our own bug: recorded on the run, then raised to the task
        run.status, run.error = ReconcileRun.Status.FAILED, f"{type(exc).__name__}: {exc}"[:5000]
        run.counts, run.finished_at = dict(counts), timezone.now()
        run.save()
        raise
    else:
        run.status = ReconcileRun.Status.DONE
    run.counts = dict(counts)
    run.finished_at = timezone.now()
    run.save()
    return run
