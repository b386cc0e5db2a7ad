"""Parked events: meter-level events that name a meter we do not have yet.

The apply step stores them with `meter` null and asks the meter sync for the meter; when it
arrives (a `post_save` signal, the reconcile sweep for bulk inserts), `attach_parked` links them,
and `meter_arrived` also re-plans the group events that named it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from dispatch import alerts, outbound, planning
from dispatch.models import DispatchAllocation, DispatchTimeslot, DispatchTimeslotVersion
from meters.models import Meter


def attach_parked(meter_ids: Iterable[uuid.UUID] | None = None) -> int:
    """Link parked meter-level events to their meters once we have them; returns how many.

    Also closes the unknown-meter alerts of meters that have arrived.
    """
    parked = DispatchTimeslot.objects.parked().filter(meter_uuid__in=Meter.objects.values("pk"))
    if meter_ids is not None:
        parked = parked.filter(meter_uuid__in=list(meter_ids))
    attached: set[int] = set()
    now = timezone.now()
    with transaction.atomic():
        candidates = list(parked.select_for_update().values_list("pk", "meter_uuid"))
        known = Meter.objects.in_bulk([m for _, m in candidates])
        for pk, meter_uuid in candidates:
            meter = known.get(meter_uuid)
            if meter is None:
                continue
            ts = DispatchTimeslot.objects.get(pk=pk)
            ts.meter = meter
            ts.save(update_fields=["meter"])
            DispatchTimeslotVersion.objects.create(
                timeslot=ts,
                version=ts.version,
                kind=DispatchTimeslotVersion.Kind.ATTACHED,
                changed_at=now,
                source=ts.first_source,
                changes={"meter": [None, str(meter_uuid)]},
            )
            attached.add(pk)
        if attached:
            touched = planning.replan_timeslots(attached)
            outbound.hand_on(touched | attached)
        alerts.resolve_arrived(meter_ids)
    return len(attached)


def meter_arrived(meter_ids: Iterable[uuid.UUID | str]) -> int:
    """Attach parked events of newly arrived meters and re-plan group events that named them."""

    uuids = [uuid.UUID(str(m)) for m in meter_ids]
    attached = attach_parked(uuids)
    with transaction.atomic():
        ids = set(
            DispatchAllocation.objects.filter(meter_uuid__in=uuids, meter__isnull=True).values_list(
                "timeslot_id", flat=True
            )
        )
        if ids:
            outbound.hand_on(planning.replan_timeslots(ids) | ids)
    return attached
