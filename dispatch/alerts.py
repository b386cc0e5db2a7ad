"""Alerts of the dispatch app: Leap dispatches a meter we do not have.

A small model (dispatch.models.UnknownMeterAlert), raised here when an event names an unknown meter
(meter level, or a member of a group dispatch), resolved when the meter arrives or when someone
dismisses it. `UnknownMeterAlert.open()` is what the overview and sync health show; a general
alerts app can raise its own notification from the same rows (`raised` is the hook: a signal
sent with the new or reopened alerts' meter ids).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.dispatch import Signal
from django.utils import timezone

from dispatch.models import DispatchTimeslot, Level, UnknownMeterAlert
from meters.models import Meter

# Sent inside the transaction that raised (or reopened) alerts, with their `meter_uuids`.
raised = Signal()

_UPSERT = """
INSERT INTO {table} (meter_uuid, first_event_id, events, first_seen_at, last_seen_at,
                     resolved_at, resolution, dismissed_by_id)
SELECT m, e, n, %(now)s, %(now)s, NULL, '', NULL
FROM unnest(%(meters)s::uuid[], %(events)s::bigint[], %(counts)s::int[]) AS v(m, e, n)
ON CONFLICT (meter_uuid) DO UPDATE SET
    events = {table}.events + EXCLUDED.events,
    last_seen_at = EXCLUDED.last_seen_at,
    resolved_at = NULL, resolution = '', dismissed_by_id = NULL
RETURNING meter_uuid
"""


def raise_unknown_meters(changed: Iterable[DispatchTimeslot], known: dict[Any, Meter]) -> int:
    """Open (or reopen) an alert for each unknown meter these new or changed timeslots name.

    Integration-test timeslots name whatever the tester typed and raise nothing. Returns how
    many alerts were raised.
    """
    counts: Counter[uuid.UUID] = Counter()
    first: dict[uuid.UUID, int] = {}
    group_members: set[uuid.UUID] = set()
    for ts in changed:
        if ts.integration_test:
            continue
        if ts.level == Level.METER:
            meter_uuid = ts.meter_uuid  # always set on a meter-level timeslot
            if meter_uuid is not None and meter_uuid not in known:
                counts[meter_uuid] += 1
                first.setdefault(meter_uuid, ts.pk)
        else:
            for m in ts.group_meter_ids:
                member = uuid.UUID(str(m))
                group_members.add(member)
                counts[member] += 1
                first.setdefault(member, ts.pk)
    if group_members:
        have = set(Meter.objects.filter(pk__in=list(group_members)).values_list("pk", flat=True))
        for member in group_members & have:
            del counts[member]
    if not counts:
        return 0
    meters = sorted(counts, key=str)
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT.format(table=UnknownMeterAlert._meta.db_table),
            {
                "now": timezone.now(),
                "meters": meters,
                "events": [first[m] for m in meters],
                "counts": [counts[m] for m in meters],
            },
        )
        rows = cursor.fetchall()
    raised.send(sender=UnknownMeterAlert, meter_uuids=[r[0] for r in rows])
    return len(rows)


def resolve_arrived(meter_uuids: Iterable[uuid.UUID] | None = None) -> int:
    """Close the open alerts of meters we now have (these ones, or all); returns how many."""
    alerts = UnknownMeterAlert.objects.filter(
        resolved_at__isnull=True, meter_uuid__in=Meter.objects.values("pk")
    )
    if meter_uuids is not None:
        alerts = alerts.filter(meter_uuid__in=list(meter_uuids))
    return alerts.update(resolved_at=timezone.now(), resolution="arrived")


def dismiss(alert_id: int, user: Any) -> bool:
    """Someone has dealt with it; returns False when it was not open."""
    return bool(
        UnknownMeterAlert.objects.filter(pk=alert_id, resolved_at__isnull=True).update(
            resolved_at=timezone.now(), resolution="dismissed", dismissed_by=user
        )
    )
