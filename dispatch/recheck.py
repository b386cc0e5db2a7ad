"""Ask Leap whether a cancelled event really comes back.

Leap promises no delivery order, so a webhook body that would bring a cancelled event
back (Leap reinstating it, or an original that reached us after its cancellation) is not applied
at once: the apply step (dispatch/apply.py) holds it and queues `recheck_timeslot`, which
searches Leap's dispatch search for that event around its window and applies Leap's answer
through the same apply step (as a poll):
- Leap lists it active: it is brought back with Leap's values (`confirmed`);
- Leap lists it cancelled: it stays cancelled (`refused`);
- Leap does not list it: it stays cancelled (`not_listed`): we never tell a device to run an event
  Leap cannot show us;
- Leap unreachable: the task retries with backoff, then `failed` (sync health shows it); the
  reconcile poll heals it within its window.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dispatch.apply import apply_all
from dispatch.incoming import incoming_from_group_dispatch, incoming_from_meter_dispatch
from dispatch.models import (
    DispatchDelivery,
    DispatchTimeslot,
    DispatchTimeslotVersion,
    Level,
    Source,
)
from leap.client import LeapClient
from leap.schemas import GroupDispatch, MeterDispatch

log = logging.getLogger(__name__)

MARGIN = timedelta(days=1)  # Leap's search window semantics (start vs overlap) are unstated


def _window(ts: DispatchTimeslot) -> tuple[datetime, datetime]:
    """A search window that holds the stored start and the held body's start, with a margin."""
    starts = [ts.start_time]
    held = ts.versions.filter(kind=DispatchTimeslotVersion.Kind.HELD).order_by("-pk").first()
    if held is not None and (start := parse_datetime(str(held.snapshot.get("start_time", "")))):
        starts.append(start)
    return min(starts) - MARGIN, max(starts) + MARGIN


def _finish(ts_id: int, outcome: str, note: str) -> None:
    DispatchTimeslot.objects.filter(pk=ts_id, recheck="pending").update(
        recheck=outcome, recheck_note=note[:300], recheck_at=timezone.now()
    )


def recheck(timeslot_id: int, client: LeapClient) -> str:
    """Ask Leap's search about one held timeslot and apply its answer; returns the outcome.

    Leap errors (LeapError) propagate: the task retries them.
    """
    ts = DispatchTimeslot.objects.filter(pk=timeslot_id).first()
    if ts is None or ts.recheck != "pending":
        return ts.recheck if ts else "gone"
    start, end = _window(ts)
    bad: list[Any] = []
    found: Iterator[MeterDispatch] | Iterator[GroupDispatch]
    if ts.level == Level.METER:
        found = client.iter_meter_dispatches(
            start, end, meter_event_ids=[ts.event_id], exclude_real_time_events=False,
            on_bad=bad.append,
        )  # fmt: skip
        flatten = incoming_from_meter_dispatch
    else:
        found = client.iter_group_dispatches(
            start, end, market_group_event_ids=[ts.event_id], exclude_real_time_events=False,
            on_bad=bad.append,
        )  # fmt: skip
        flatten = incoming_from_group_dispatch
    polled_at = timezone.now()
    dispatches = list(found)
    incoming = [
        inc
        for d in dispatches
        for inc in flatten(d, integration_test=False)
        if inc.event_id == ts.event_id
    ]
    if not incoming:
        note = "Leap's dispatch search does not list it: it stays cancelled"
        if bad:
            note = f"Leap's answer did not validate ({bad[0]}): it stays cancelled"
        _finish(ts.pk, "not_listed", note)
        return "not_listed"
    key = "meter_dispatches" if ts.level == Level.METER else "group_dispatches"
    raw = [getattr(d, "raw", None) or d.model_dump(mode="json") for d in dispatches]
    body = json.dumps({key: raw}, default=str).encode()
    with transaction.atomic():
        delivery = DispatchDelivery.store_poll(
            ts.level,
            body,
            polled_at,
            status=DispatchDelivery.Status.PROCESSED,
            processed_at=polled_at,
        )
        result = apply_all(
            incoming[-1:], source=Source.POLL, received_at=polled_at, delivery=delivery
        )
        delivery.summary = result.summary()
        delivery.save(update_fields=["summary"])
        ts.refresh_from_db()
        if ts.recheck == "pending":  # Leap lists it cancelled (a reinstatement sets confirmed)
            DispatchTimeslotVersion.objects.create(
                timeslot=ts,
                version=ts.version,
                kind=DispatchTimeslotVersion.Kind.CHECKED,
                changed_at=polled_at,
                source=Source.POLL,
                delivery=delivery,
                snapshot=incoming[-1].snapshot,
            )
            _finish(ts.pk, "refused", "Leap's dispatch search lists it cancelled")
    ts.refresh_from_db()
    return ts.recheck


def give_up(timeslot_id: int, error: str) -> None:
    """Leap stayed unreachable: the event stays cancelled, shown on sync health."""
    _finish(timeslot_id, "failed", f"Leap unreachable ({error}); the reconcile poll retries")
