"""Turn Leap dispatch notifications (webhook, poll or test) into DispatchTimeslot rows.

One code path for every source: a parsed MeterDispatch/GroupDispatch becomes `Incoming` timeslots,
and `apply_incoming` upserts each on Leap's event id.

Rules, in order, for a timeslot whose event id we already have:
1. Same content (hash of every stored Leap field) -> nothing changes but `last_seen_at`.
2. Older than what is applied -> not applied; a STALE version records what it said. "Older" means
   its notification was received (or polled) before the one whose content is applied. This catches
   our own workers processing deliveries out of order (retries, several workers) and a poll
   overtaken by a webhook. Leap's notifications carry no version or timestamp, so a body Leap
   itself retried late is caught by the body hash instead: `process_delivery` marks a body we have
   already processed as a duplicate and applies nothing, whatever came in between.
3. Otherwise the new content overwrites the row and a version records {field: [old, new]};
   `cancelled: true` keeps the row, marked cancelled.

A meter-level event for a meter we do not have is stored with `meter` null (parked), a resync of
that meter is requested once, and `attach_parked` links it when the meter arrives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import ValidationError

from dispatch.models import (
    DispatchDelivery,
    DispatchTimeslot,
    DispatchTimeslotVersion,
    Level,
    ReconcileRun,
)
from meters.models import MarketGroup, Meter

log = logging.getLogger(__name__)

# The Leap fields of a timeslot that we store and compare (DIGEST §6.3).
SLOT_FIELDS = (
    "start_time",
    "end_time",
    "cancelled",
    "energy_kw",
    "nomination_kw",
    "performance_compensation_cap",
    "priority",
    "is_voluntary",
    "dispatch_event_types",
    "programs",
    "communication_test",
)
METER_RECIPIENT_FIELDS = ("meter_uuid", "partner_reference")
GROUP_RECIPIENT_FIELDS = ("market_group_uuid", "group_meter_ids", "group_partner_references")
COMPARED_FIELDS = (
    SLOT_FIELDS + METER_RECIPIENT_FIELDS + GROUP_RECIPIENT_FIELDS + ("integration_test",)
)


@dataclass
class Incoming:
    """One timeslot as Leap sent it, flattened with its recipient."""

    level: str
    event_id: uuid.UUID
    values: dict[str, Any]
    raw: dict[str, Any]

    @property
    def content_hash(self) -> str:
        """Hash of the compared fields: equal hashes mean nothing changed."""
        return content_hash(self.values)


@dataclass
class IngestResult:
    """What applying one notification did."""

    counts: Counter[str] = field(default_factory=Counter)
    changed_ids: set[int] = field(default_factory=set)
    unknown_meters: set[uuid.UUID] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-able account for the delivery row."""
        data: dict[str, Any] = dict(sorted(self.counts.items()))
        if self.unknown_meters:
            data["unknown_meters"] = sorted(str(m) for m in self.unknown_meters)
        if self.errors:
            data["errors"] = self.errors
        return data


def comparable(value: Any) -> Any:
    """A JSON-able form of a stored value, stable for hashing and for `changes`."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [comparable(v) for v in value]
    return value


def content_hash(values: dict[str, Any]) -> str:
    """SHA-256 over the compared fields."""
    data = {name: comparable(values.get(name)) for name in COMPARED_FIELDS}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _slot_values(slot: Any) -> dict[str, Any]:
    """The stored fields of a parsed leap.schemas.DispatchTimeslot."""
    return {
        "start_time": slot.start_time,
        "end_time": slot.end_time,
        "cancelled": bool(slot.cancelled),
        "energy_kw": None if slot.energy_kw is None else float(slot.energy_kw),
        "nomination_kw": None if slot.nomination_kw is None else float(slot.nomination_kw),
        "performance_compensation_cap": slot.performance_compensation_cap or "",
        "priority": int(slot.priority),
        "is_voluntary": bool(slot.is_voluntary),
        # Sets in Leap's model: sorted, so a different order is not a change.
        "dispatch_event_types": sorted(slot.dispatch_event_types or []),
        "programs": sorted(slot.programs or []),
        "communication_test": bool(getattr(slot, "communication_test", False)),
    }


def _raw_slots(dispatch: Any) -> list[dict[str, Any]]:
    """The timeslots exactly as Leap sent them (from the dispatch's raw dict when it has one)."""
    raw = getattr(dispatch, "raw", None)
    slots = raw.get("timeslots") if isinstance(raw, dict) else None
    if isinstance(slots, list) and len(slots) == len(dispatch.timeslots):
        return slots
    return [slot.model_dump(mode="json") for slot in dispatch.timeslots]


def incoming_from_meter_dispatch(
    dispatch: Any, *, integration_test: bool, communication_test: bool = False
) -> list[Incoming]:
    """Flatten a leap.schemas.MeterDispatch."""
    recipient = {
        "meter_uuid": dispatch.meter_id,
        "partner_reference": dispatch.partner_reference,
        "market_group_uuid": None,
        "group_meter_ids": [],
        "group_partner_references": [],
        "integration_test": integration_test,
    }
    out = []
    for slot, raw in zip(dispatch.timeslots, _raw_slots(dispatch), strict=True):
        values = {**_slot_values(slot), **recipient}
        values["communication_test"] = values["communication_test"] or communication_test
        out.append(Incoming(Level.METER, slot.meter_event_id, values, raw))
    return out


def incoming_from_group_dispatch(
    dispatch: Any, *, integration_test: bool, communication_test: bool = False
) -> list[Incoming]:
    """Flatten a leap.schemas.GroupDispatch."""
    recipient = {
        "meter_uuid": None,
        "partner_reference": None,
        "market_group_uuid": dispatch.market_group_id,
        "group_meter_ids": sorted(str(m) for m in dispatch.meter_ids),
        "group_partner_references": sorted(dispatch.partner_references or []),
        "integration_test": integration_test,
    }
    out = []
    for slot, raw in zip(dispatch.timeslots, _raw_slots(dispatch), strict=True):
        values = {**_slot_values(slot), **recipient}
        values["communication_test"] = values["communication_test"] or communication_test
        out.append(Incoming(Level.GROUP, slot.market_group_event_id, values, raw))
    return out


def incoming_from_notification(notification: Any) -> list[Incoming]:
    """Every timeslot of a leap.schemas.DispatchNotification, meter and group level."""
    flags = {
        "integration_test": bool(notification.integration_test_notification),
        "communication_test": bool(notification.communication_test),
    }
    out: list[Incoming] = []
    for md in notification.meter_dispatches or []:
        out += incoming_from_meter_dispatch(md, **flags)
    for gd in notification.group_dispatches or []:
        out += incoming_from_group_dispatch(gd, **flags)
    return out


def _problem(inc: Incoming) -> str | None:
    """Why this timeslot cannot be stored, or None."""
    if inc.event_id is None:
        return "timeslot without an event id"
    v = inc.values
    if v["end_time"] <= v["start_time"]:
        return f"event {inc.event_id}: end_time {v['end_time']} is not after start_time"
    if not 0 <= v["priority"] <= 32767:
        return f"event {inc.event_id}: priority {v['priority']} out of range"
    return None


def _version(ts: DispatchTimeslot, kind: str, ctx: dict[str, Any], **extra: Any) -> None:
    """Record a version row for the timeslot."""
    DispatchTimeslotVersion.objects.create(
        timeslot=ts,
        version=ts.version,
        kind=kind,
        changed_at=ctx["now"],
        source=ctx["source"],
        delivery=ctx["delivery"],
        reconcile_run=ctx["run"],
        **extra,
    )


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    """The compared fields as JSON."""
    return {name: comparable(values.get(name)) for name in COMPARED_FIELDS}


def apply_incoming(
    inc: Incoming,
    *,
    source: str,
    received_at: datetime,
    delivery: DispatchDelivery | None = None,
    run: ReconcileRun | None = None,
    meters: dict[uuid.UUID, Meter] | None = None,
    groups: dict[uuid.UUID, MarketGroup] | None = None,
    now: datetime | None = None,
) -> tuple[DispatchTimeslot | None, str]:
    """Upsert one timeslot; returns it and the outcome (a DispatchTimeslotVersion kind,
    "unchanged", "refused" or "invalid"). Call inside a transaction."""
    if _problem(inc):
        return None, "invalid"
    now = now or timezone.now()
    ctx = {"now": now, "source": source, "delivery": delivery, "run": run}
    meter = (meters or {}).get(inc.values["meter_uuid"]) if inc.level == Level.METER else None
    group = (
        (groups or {}).get(inc.values["market_group_uuid"]) if inc.level == Level.GROUP else None
    )
    new_hash = inc.content_hash

    ts = DispatchTimeslot.objects.select_for_update().filter(event_id=inc.event_id).first()
    if ts is None:
        try:
            with transaction.atomic():  # a concurrent worker may create the same event
                ts = DispatchTimeslot.objects.create(
                    event_id=inc.event_id,
                    level=inc.level,
                    meter=meter,
                    market_group=group,
                    raw=inc.raw,
                    content_hash=new_hash,
                    first_source=source,
                    first_seen_at=now,
                    last_seen_at=now,
                    changed_at=now,
                    applied_received_at=received_at,
                    first_delivery=delivery,
                    last_delivery=delivery,
                    **inc.values,
                )
        except IntegrityError:
            ts = DispatchTimeslot.objects.select_for_update().get(event_id=inc.event_id)
        else:
            _version(ts, DispatchTimeslotVersion.Kind.CREATED, ctx, snapshot=_snapshot(inc.values))
            return ts, DispatchTimeslotVersion.Kind.CREATED

    if ts.level != inc.level:
        log.warning(
            "event %s arrived at level %s but is stored as %s", ts.event_id, inc.level, ts.level
        )
        return ts, "refused"
    # An integration test may reuse a real event's id; it must never overwrite a real event.
    if inc.values["integration_test"] and not ts.integration_test:
        return ts, "refused"

    if ts.content_hash == new_hash:
        updates = {"last_seen_at": now}
        if inc.level == Level.METER and ts.meter_id is None and meter is not None:
            updates["meter"] = meter  # the meter arrived meanwhile
        if inc.level == Level.GROUP and ts.market_group_id is None and group is not None:
            updates["market_group"] = group
        DispatchTimeslot.objects.filter(pk=ts.pk).update(**updates)
        return ts, "unchanged"

    old = {name: getattr(ts, name) for name in COMPARED_FIELDS}
    changes = {
        name: [comparable(old[name]), comparable(inc.values[name])]
        for name in COMPARED_FIELDS
        if comparable(old[name]) != comparable(inc.values[name])
    }
    if received_at < ts.applied_received_at:
        _version(
            ts,
            DispatchTimeslotVersion.Kind.STALE,
            ctx,
            changes=changes,
            snapshot=_snapshot(inc.values),
        )
        return ts, DispatchTimeslotVersion.Kind.STALE

    if inc.values["cancelled"] and not ts.cancelled:
        kind = DispatchTimeslotVersion.Kind.CANCELLED
    elif ts.cancelled and not inc.values["cancelled"]:
        kind = DispatchTimeslotVersion.Kind.REINSTATED
    else:
        kind = DispatchTimeslotVersion.Kind.UPDATED
    for name, value in inc.values.items():
        setattr(ts, name, value)
    if meter is not None:
        ts.meter = meter
    if group is not None:
        ts.market_group = group
    ts.raw = inc.raw
    ts.content_hash = new_hash
    ts.version += 1
    ts.changed_at = ts.last_seen_at = now
    ts.applied_received_at = received_at
    ts.last_delivery = delivery
    ts.save()
    _version(ts, kind, ctx, changes=changes, snapshot=_snapshot(inc.values))
    return ts, kind


def apply_all(
    incoming: Iterable[Incoming],
    *,
    source: str,
    received_at: datetime,
    delivery: DispatchDelivery | None = None,
    run: ReconcileRun | None = None,
) -> IngestResult:
    """Apply many timeslots in one transaction, then re-plan and hand on what changed."""
    from dispatch import outbound, planning  # planning imports this module's helpers

    incoming = list(incoming)
    result = IngestResult()
    meter_ids = {i.values["meter_uuid"] for i in incoming if i.level == Level.METER}
    group_ids = {i.values["market_group_uuid"] for i in incoming if i.level == Level.GROUP}
    now = timezone.now()
    with transaction.atomic():
        meters = Meter.objects.in_bulk(list(meter_ids))
        groups = MarketGroup.objects.in_bulk(list(group_ids))
        # Lock rows in a fixed order so two workers on overlapping notifications cannot deadlock.
        for inc in sorted(incoming, key=lambda i: str(i.event_id)):
            ts, outcome = apply_incoming(
                inc,
                source=source,
                received_at=received_at,
                delivery=delivery,
                run=run,
                meters=meters,
                groups=groups,
                now=now,
            )
            result.counts[outcome] += 1
            if outcome == "invalid":
                result.errors.append(_problem(inc) or "invalid timeslot")
            elif outcome == "refused":
                result.errors.append(
                    f"event {inc.event_id}: refused (a test may not overwrite a real event, "
                    "and an event keeps its level)"
                )
            elif ts is not None and outcome not in (
                "unchanged",
                DispatchTimeslotVersion.Kind.STALE,
            ):
                result.changed_ids.add(ts.pk)
            # A test names whatever meter the tester typed; only real events start a resync.
            unknown = inc.values["meter_uuid"] not in meters
            if inc.level == Level.METER and unknown and not inc.values["integration_test"]:
                result.unknown_meters.add(inc.values["meter_uuid"])
        if result.changed_ids:
            touched = planning.replan_timeslots(result.changed_ids)
            outbound.hand_on(touched | result.changed_ids)
        if result.unknown_meters:
            _request_resync(result.unknown_meters)
    return result


def _request_resync(meter_ids: set[uuid.UUID]) -> None:
    """Ask the meter sync for meters that Leap dispatches but we do not have (after commit)."""

    def request() -> None:
        for meter_id in sorted(meter_ids, key=str):
            try:
                # The meter-sync app's entry point (docs/contracts.md §3).
                from meters.actions import request_sync

                request_sync("meter", requested_by=None, meter_id=meter_id)
            except Exception:  # the parked event is stored and shown; a failed request is logged
                log.exception("could not request a resync of meter %s", meter_id)

    transaction.on_commit(request)


def attach_parked(meter_ids: Iterable[uuid.UUID] | None = None) -> int:
    """Link parked meter-level events to their meters once we have them; returns how many."""
    from dispatch import outbound, planning

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
    return len(attached)


def meter_arrived(meter_ids: Iterable[uuid.UUID | str]) -> int:
    """Attach parked events of newly arrived meters and re-plan group events that named them."""
    from dispatch import outbound, planning
    from dispatch.models import DispatchAllocation

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


def process_delivery(delivery_id: int) -> DispatchDelivery | None:
    """Parse and apply one stored delivery; a no-op when it was already handled."""
    from leap.schemas import DispatchNotification

    with transaction.atomic():
        delivery = DispatchDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != DispatchDelivery.Status.RECEIVED:
            return delivery
        delivery.attempts += 1
        # Deduplicated at processing, not at receipt: every body Leap sent is stored, but a body
        # already processed (an exact redelivery, or an older notification retried late) is not
        # applied again.
        earlier = (
            DispatchDelivery.objects.filter(
                body_sha256=delivery.body_sha256,
                level=delivery.level,
                status=DispatchDelivery.Status.PROCESSED,
            )
            .exclude(pk=delivery.pk)
            .order_by("received_at", "pk")
            .first()
        )
        if earlier is not None:
            delivery.status = DispatchDelivery.Status.DUPLICATE
            delivery.duplicate_of = earlier
            delivery.processed_at = timezone.now()
            delivery.save()
            return delivery
        try:
            notification = DispatchNotification.model_validate_json(bytes(delivery.body))
        except ValidationError as exc:
            delivery.status = DispatchDelivery.Status.REJECTED
            delivery.error = f"not a valid dispatch notification: {_short(exc)}"
            delivery.processed_at = timezone.now()
            delivery.save()
            return delivery
        result = apply_all(
            incoming_from_notification(notification),
            source=delivery.source,
            received_at=delivery.received_at,
            delivery=delivery,
        )
        delivery.status = DispatchDelivery.Status.PROCESSED
        delivery.summary = result.summary()
        delivery.error = "; ".join(result.errors)
        delivery.processed_at = timezone.now()
        delivery.save()
        return delivery


def mark_failed(delivery_id: int, error: str) -> None:
    """Record that processing kept failing (shown; a human can requeue it)."""
    DispatchDelivery.objects.filter(pk=delivery_id, status=DispatchDelivery.Status.RECEIVED).update(
        status=DispatchDelivery.Status.FAILED, error=error[:5000], processed_at=timezone.now()
    )


def _short(exc: ValidationError) -> str:
    """The first few pydantic errors, readable."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
