"""Turn Leap dispatch notifications (webhook, poll or test) into DispatchTimeslot rows.

One code path for every source: a parsed MeterDispatch/GroupDispatch becomes `Incoming` timeslots,
and `apply_all` upserts them on Leap's event id (one transaction per notification).

Rules, in order, for a timeslot whose event id we already have:
1. Same content as the event's current state (hash of every stored Leap field) -> nothing changes
   but `last_seen_at`. Redeliveries are found per event, never by the whole body: a body that
   repeats an older version after a change (A -> B -> A) differs from the current state and is
   applied.
2. Older than what is applied -> not applied; a STALE version records what it said. "Older" means
   its notification was received (or polled) before the one whose content is applied. This catches
   our own workers processing deliveries out of order (retries, several workers) and a poll
   overtaken by a webhook.
3. Would bring a cancelled event back (a webhook body; Leap promises no order) -> held (a HELD
   version), and Leap's dispatch search decides (dispatch/recheck.py).
4. Otherwise the new content overwrites the row and a version records {field: [old, new]};
   `cancelled: true` keeps the row, marked cancelled.

Every timeslot is checked first (`problems`: parse, enums, ranges); one that fails is kept as a
RejectedTimeslot with its errors and the rest of the notification applies.
A meter-level event for a meter we do not have is stored with `meter` null (parked), a resync of
that meter is requested once, and `attach_parked` links it when the meter arrives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from dispatch import alerts, enqueue, outbound, planning
from dispatch.bulk import insert_rows, update_rows
from dispatch.comparable import comparable
from dispatch.models import (
    DispatchAllocation,
    DispatchDelivery,
    DispatchTimeslot,
    DispatchTimeslotVersion,
    Level,
    ReconcileRun,
    RejectedTimeslot,
    Source,
)
from meters.models import MarketGroup, Meter

log = logging.getLogger(__name__)

# The Leap fields of a timeslot that we store and compare (BaseDispatchEventTimeslot).
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
    # Where it came from; apply_all fills these from its arguments when not set.
    delivery: DispatchDelivery | None = None
    received_at: datetime | None = None
    source: str | None = None
    # Set when the timeslot did not even parse (values are then empty): kept, not applied.
    errors: list[str] = field(default_factory=list)

    # Computed once (values are not changed after flattening): hash and versions both use it.
    _snapshot: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _hash: str | None = field(default=None, repr=False, compare=False)

    @property
    def snapshot(self) -> dict[str, Any]:
        """The compared fields as JSON."""
        if self._snapshot is None:
            self._snapshot = _snapshot(self.values)
        return self._snapshot

    @property
    def content_hash(self) -> str:
        """Hash of the compared fields: equal hashes mean nothing changed."""
        if self._hash is None:
            self._hash = _hash_snapshot(self.snapshot)
        return self._hash


@dataclass
class IngestResult:
    """What applying one notification did."""

    counts: Counter[str] = field(default_factory=Counter)
    changed: list[DispatchTimeslot] = field(default_factory=list)
    unknown_meters: set[uuid.UUID] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    # The same, per delivery (several deliveries can be applied in one go).
    by_delivery: dict[int | None, IngestResult] = field(default_factory=dict)
    # The delivery whose content an unchanged timeslot repeats (for `duplicate_of`).
    same_as: int | None = None

    def note(self, inc: Incoming, outcome: str, error: str | None = None) -> None:
        """Count one timeslot's outcome, overall and for its delivery."""
        key = inc.delivery.pk if inc.delivery is not None else None
        for target in (self, self.by_delivery.setdefault(key, IngestResult())):
            target.counts[str(outcome)] += 1
            if error:
                target.errors.append(error)

    def for_delivery(self, delivery: DispatchDelivery) -> IngestResult:
        """What applying did for one delivery."""
        return self.by_delivery.get(delivery.pk) or IngestResult()

    def summary(self) -> dict[str, Any]:
        """A JSON-able account for the delivery row."""
        data: dict[str, Any] = dict(sorted(self.counts.items()))
        if self.unknown_meters:
            data["unknown_meters"] = sorted(str(m) for m in self.unknown_meters)
        if self.errors:
            data["errors"] = self.errors
        return data


def content_hash(values: dict[str, Any]) -> str:
    """SHA-256 over the compared fields."""
    return _hash_snapshot(_snapshot(values))


def _hash_snapshot(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True).encode()).hexdigest()


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


def _raw_slots(dispatch: Any) -> list[Any]:
    """The timeslots exactly as Leap sent them (from the dispatch's raw dict when it has one)."""
    raw = getattr(dispatch, "raw", None)
    slots = raw.get("timeslots") if isinstance(raw, dict) else None
    if isinstance(slots, list) and len(slots) == len(dispatch.timeslots):
        return slots
    return [s if isinstance(s, dict) else s.model_dump(mode="json") for s in dispatch.timeslots]


def _raw_event_id(raw: Any, level: str) -> uuid.UUID | None:
    """The event id of a timeslot that did not parse, if it has a readable one."""
    key = "meter_event_id" if level == Level.METER else "market_group_event_id"
    try:
        return uuid.UUID(str(raw.get(key))) if isinstance(raw, dict) and raw.get(key) else None
    except ValueError:
        return None


def _parsed_slots(dispatch: Any, level: str) -> Iterable[tuple[Any, Any, list[str]]]:
    """(parsed timeslot or None, raw, errors) for each timeslot of a dispatch.

    A lenient notification (leap.schemas.LenientNotification) leaves its timeslots raw, so
    each is validated here on its own: one that fails is kept with its errors, the rest apply.
    """
    from leap.schemas import DispatchTimeslot as LeapTimeslot

    for slot, raw in zip(dispatch.timeslots, _raw_slots(dispatch), strict=True):
        if isinstance(slot, LeapTimeslot):  # already parsed (a strict search result)
            yield slot, raw, []
            continue
        try:
            yield LeapTimeslot.model_validate(slot), raw, []
        except ValidationError as exc:
            yield None, raw, [_short(exc)]


def _flatten(
    dispatch: Any, level: str, recipient: dict[str, Any], communication_test: bool
) -> list[Incoming]:
    out = []
    for slot, raw, errors in _parsed_slots(dispatch, level):
        if slot is None:
            inc = Incoming(level, _raw_event_id(raw, level), dict(recipient), raw, errors=errors)
            out.append(inc)
            continue
        values = {**_slot_values(slot), **recipient}
        values["communication_test"] = values["communication_test"] or communication_test
        out.append(Incoming(level, slot.event_id, values, raw))
    return out


def incoming_from_meter_dispatch(
    dispatch: Any, *, integration_test: bool, communication_test: bool = False
) -> list[Incoming]:
    """Flatten a leap.schemas.MeterDispatch (or LenientMeterDispatch)."""
    recipient = {
        "meter_uuid": dispatch.meter_id,
        "partner_reference": dispatch.partner_reference,
        "market_group_uuid": None,
        "group_meter_ids": [],
        "group_partner_references": [],
        "integration_test": integration_test,
    }
    return _flatten(dispatch, Level.METER, recipient, communication_test)


def incoming_from_group_dispatch(
    dispatch: Any, *, integration_test: bool, communication_test: bool = False
) -> list[Incoming]:
    """Flatten a leap.schemas.GroupDispatch (or LenientGroupDispatch)."""
    recipient = {
        "meter_uuid": None,
        "partner_reference": None,
        "market_group_uuid": dispatch.market_group_id,
        "group_meter_ids": sorted(str(m) for m in dispatch.meter_ids),
        "group_partner_references": sorted(dispatch.partner_references or []),
        "integration_test": integration_test,
    }
    return _flatten(dispatch, Level.GROUP, recipient, communication_test)


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


def problems(inc: Incoming) -> list[str]:
    """Why this timeslot breaks Leap's rules (dispatching.yml): enums and ranges; empty when fine.

    Checked on every body processed, webhook or poll: such a timeslot is kept with its errors
    (RejectedTimeslot), never stored as the event's state nor planned.
    """
    from leap.schemas import DISPATCH_EVENT_TYPES, DISPATCH_PROGRAMS, PERFORMANCE_CAPS

    if inc.errors:
        return list(inc.errors)
    if inc.event_id is None:
        return ["timeslot without an event id"]
    v = inc.values
    out = []
    if v["end_time"] <= v["start_time"]:
        out.append(f"end_time {comparable(v['end_time'])} is not after start_time")
    for name in ("energy_kw", "nomination_kw"):
        if v[name] is not None and (v[name] < 0 or not math.isfinite(v[name])):
            out.append(f"{name} {v[name]} is negative")
    if not 1 <= v["priority"] <= 10:
        out.append(f"priority {v['priority']} is not between 1 and 10")
    if v["performance_compensation_cap"] not in PERFORMANCE_CAPS:
        out.append(f"unknown performance_compensation_cap {v['performance_compensation_cap']!r}")
    if not v["programs"]:
        out.append("no program")
    if unknown := sorted(set(v["programs"]) - DISPATCH_PROGRAMS):
        out.append(f"unknown program {', '.join(unknown)}")
    if not v["dispatch_event_types"]:
        out.append("no dispatch_event_types")
    if unknown := sorted(set(v["dispatch_event_types"]) - DISPATCH_EVENT_TYPES):
        out.append(f"unknown dispatch_event_types {', '.join(unknown)}")
    return out


def _version(
    ts: DispatchTimeslot, kind: str, inc: Incoming, ctx: dict[str, Any], **extra: Any
) -> Any:
    """A version row for the timeslot (not saved: the caller inserts them, insert_rows).

    A stand-in with the columns' attribute names, not a model instance: a notification makes
    a version per timeslot, and building model instances for them was a tenth of processing.
    """
    run = ctx["run"]
    return SimpleNamespace(
        timeslot_id=ts.pk,
        version=ts.version,
        kind=kind,
        changed_at=ctx["now"],
        source=inc.source,
        delivery_id=None if inc.delivery is None else inc.delivery.pk,
        reconcile_run_id=None if run is None else run.pk,
        changes=extra.pop("changes", {}),
        snapshot=extra.pop("snapshot", {}),
        **extra,
    )


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    """The compared fields as JSON."""
    out = {}
    for name in COMPARED_FIELDS:
        value = values.get(name)
        # Most are already JSON (str, bool, number, None): only the rest go through comparable.
        if value is None or type(value) in _PLAIN:
            out[name] = value
        elif type(value) is list and all(type(v) is str for v in value):
            out[name] = list(value)  # what comparable makes of a list of strings
        else:
            out[name] = comparable(value)
    return out


_PLAIN = frozenset({str, bool, int, float})


@dataclass
class _Batch:
    """One notification's context while it is applied."""

    ctx: dict[str, Any]
    meters: dict[uuid.UUID, Meter]
    groups: dict[uuid.UUID, MarketGroup]
    versions: list[Any] = field(default_factory=list)  # stand-ins (_version)
    seen_only: list[int] = field(default_factory=list)
    updated: dict[int, DispatchTimeslot] = field(default_factory=dict)
    rechecks: list[int] = field(default_factory=list)  # held: Leap's search decides

    def recipient(self, inc: Incoming) -> dict[str, Any]:
        """The FKs of the recipient, when we have it."""
        if inc.level == Level.METER:
            return {"meter": self.meters.get(inc.values["meter_uuid"])}
        return {"market_group": self.groups.get(inc.values["market_group_uuid"])}


def _new_timeslot(inc: Incoming, batch: _Batch) -> DispatchTimeslot:
    """An unsaved timeslot for a first sighting."""
    now = batch.ctx["now"]
    return DispatchTimeslot(
        event_id=inc.event_id,
        level=inc.level,
        raw=inc.raw,
        content_hash=inc.content_hash,
        first_source=inc.source,
        first_seen_at=now,
        last_seen_at=now,
        changed_at=now,
        applied_received_at=inc.received_at,
        first_delivery=inc.delivery,
        last_delivery=inc.delivery,
        **batch.recipient(inc),
        **inc.values,
    )


def _apply_existing(ts: DispatchTimeslot, inc: Incoming, batch: _Batch) -> str:
    """Apply a sighting of an event we already have (its row is locked); returns the outcome."""
    if ts.level != inc.level:
        log.warning("event %s came at level %s, stored as %s", ts.event_id, inc.level, ts.level)
        return "refused"
    # An integration test may reuse a real event's id; it must never overwrite a real event.
    if inc.values["integration_test"] and not ts.integration_test:
        return "refused"
    recipient = {k: v for k, v in batch.recipient(inc).items() if v is not None}
    if ts.content_hash == inc.content_hash:
        missing = {k: v for k, v in recipient.items() if getattr(ts, f"{k}_id") is None}
        if missing:  # the meter (or group) arrived meanwhile
            DispatchTimeslot.objects.filter(pk=ts.pk).update(
                last_seen_at=batch.ctx["now"], **missing
            )
            for name, value in missing.items():  # so a batched write of ts keeps them
                setattr(ts, name, value)
        else:
            batch.seen_only.append(ts.pk)
        return "unchanged"

    old = {name: comparable(getattr(ts, name)) for name in COMPARED_FIELDS}
    new = inc.snapshot
    changes = {name: [old[name], new[name]] for name in COMPARED_FIELDS if old[name] != new[name]}
    Kind = DispatchTimeslotVersion.Kind
    if inc.received_at < ts.applied_received_at:
        batch.versions.append(
            _version(ts, Kind.STALE, inc, batch.ctx, changes=changes, snapshot=new)
        )
        return Kind.STALE
    comes_back = ts.cancelled and not inc.values["cancelled"]
    if comes_back and inc.source != Source.POLL and not ts.integration_test:
        # Leap promises no order: a body that would bring a cancelled event back (Leap
        # reinstating it, or an original arriving after its cancellation) is held, and Leap's
        # dispatch search for its window decides, at once (dispatch/recheck.py). Poll results
        # are Leap's search and apply.
        batch.versions.append(
            _version(ts, Kind.HELD, inc, batch.ctx, changes=changes, snapshot=new)
        )
        ts.recheck, ts.recheck_at = "pending", batch.ctx["now"]
        ts.recheck_note = "a body would bring it back; asking Leap's dispatch search"
        batch.updated[ts.pk] = ts
        batch.rechecks.append(ts.pk)
        return Kind.HELD
    if comes_back and ts.recheck:  # Leap's search (a check or the reconcile poll): it is active
        ts.recheck, ts.recheck_at = "confirmed", batch.ctx["now"]
        ts.recheck_note = "Leap's dispatch search lists it active"
    if inc.values["cancelled"] and not ts.cancelled:
        kind = Kind.CANCELLED
    elif ts.cancelled and not inc.values["cancelled"]:
        kind = Kind.REINSTATED
    else:
        kind = Kind.UPDATED
    for name, value in {**inc.values, **recipient}.items():
        setattr(ts, name, value)
    ts.raw = inc.raw
    ts.content_hash = inc.content_hash
    ts.version += 1
    ts.changed_at = ts.last_seen_at = batch.ctx["now"]
    ts.applied_received_at = inc.received_at
    ts.last_delivery = inc.delivery
    batch.updated[ts.pk] = ts  # written together, after the last sighting of the batch
    batch.versions.append(_version(ts, kind, inc, batch.ctx, changes=changes, snapshot=new))
    return kind


def _create_all(new: list[Incoming], batch: _Batch) -> dict[uuid.UUID, DispatchTimeslot]:
    """Insert first sightings in one statement; one another worker inserted meanwhile is left out.

    The caller applies those left out as sightings of an existing event.
    """
    origin = {inc.event_id: inc for inc in new}
    created = insert_rows([_new_timeslot(inc, batch) for inc in new], conflict_key="event_id")
    for ts in created:
        batch.versions.append(
            _version(
                ts,
                DispatchTimeslotVersion.Kind.CREATED,
                origin[ts.event_id],
                batch.ctx,
                snapshot=origin[ts.event_id].snapshot,  # ts was built from these values
            )
        )
    return {ts.event_id: ts for ts in created}


# What applying a newer sighting rewrites (_apply_existing); pk, event id and firsts stay.
_UPDATED_FIELDS = [
    *SLOT_FIELDS,
    *METER_RECIPIENT_FIELDS,
    *GROUP_RECIPIENT_FIELDS,
    "integration_test",
    "meter",
    "market_group",
    "raw",
    "content_hash",
    "version",
    "changed_at",
    "last_seen_at",
    "applied_received_at",
    "last_delivery",
    "recheck",
    "recheck_at",
    "recheck_note",
]

_REFUSED = "event {}: refused (a test may not overwrite a real event, and an event keeps its level)"


def apply_all(
    incoming: Iterable[Incoming],
    *,
    source: str,
    received_at: datetime,
    delivery: DispatchDelivery | None = None,
    run: ReconcileRun | None = None,
) -> IngestResult:
    """Apply many timeslots in one transaction, then re-plan and hand on what changed.

    Rows are locked in event-id order (one SELECT ... FOR UPDATE), new events inserted in one
    statement, versions in one more: a notification costs a dozen queries, not a dozen per slot.
    """
    result = IngestResult()
    valid: list[Incoming] = []
    rejected: list[RejectedTimeslot] = []
    for inc in incoming:
        inc.delivery = inc.delivery or delivery
        inc.received_at = inc.received_at or received_at
        inc.source = inc.source or source
        if found := problems(inc):
            label = f"event {inc.event_id}" if inc.event_id else "a timeslot"
            result.note(inc, "invalid", f"{label}: {'; '.join(found)}")
            rejected.append(_rejected(inc, found))
        else:
            valid.append(inc)
    # In receipt order, so that several sightings of one event apply oldest first.
    valid.sort(key=lambda i: (i.received_at, i.delivery.pk if i.delivery else 0))
    meter_ids = {i.values["meter_uuid"] for i in valid if i.level == Level.METER}
    group_ids = {i.values["market_group_uuid"] for i in valid if i.level == Level.GROUP}
    now = timezone.now()
    with transaction.atomic():
        batch = _Batch(
            ctx={"now": now, "run": run},
            # Only what planning reads: a meter has some 60 columns, JSON among them.
            meters=Meter.objects.only("global_enrollment_status").in_bulk(list(meter_ids))
            if meter_ids
            else {},
            groups=MarketGroup.objects.in_bulk(list(group_ids)) if group_ids else {},
        )
        # Lock in a fixed order so two workers on overlapping notifications cannot deadlock.
        existing = {
            ts.event_id: ts
            for ts in DispatchTimeslot.objects.select_for_update()
            .filter(event_id__in=[i.event_id for i in valid])
            .order_by("event_id")
        }
        first_seen: dict[uuid.UUID, Incoming] = {}
        later: list[Incoming] = []
        for inc in valid:
            if inc.event_id in existing or inc.event_id in first_seen:
                later.append(inc)  # known, or repeated within this notification
            else:
                first_seen[inc.event_id] = inc
        if first_seen:
            created = _create_all(list(first_seen.values()), batch)
            for event_id, inc in first_seen.items():
                if event_id in created:
                    result.note(inc, DispatchTimeslotVersion.Kind.CREATED)
                    result.changed.append(created[event_id])
                else:  # lost the race: it exists now, apply as an update
                    later.insert(0, inc)
            existing.update(created)
        missing = [i.event_id for i in later if i.event_id not in existing]
        if missing:
            existing.update(
                DispatchTimeslot.objects.select_for_update().in_bulk(missing, field_name="event_id")
            )
        for inc in later:
            ts = existing[inc.event_id]
            outcome = _apply_existing(ts, inc, batch)
            refused = outcome == "refused"
            result.note(inc, outcome, _REFUSED.format(inc.event_id) if refused else None)
            if outcome == "unchanged" and inc.delivery is not None:
                result.by_delivery[inc.delivery.pk].same_as = ts.last_delivery_id
            if not refused and outcome not in ("unchanged", DispatchTimeslotVersion.Kind.STALE):
                result.changed.append(ts)
        update_rows(list(batch.updated.values()), _UPDATED_FIELDS)
        insert_rows(batch.versions, model=DispatchTimeslotVersion)
        if rejected:
            RejectedTimeslot.objects.bulk_create(rejected)
        if batch.seen_only:
            DispatchTimeslot.objects.filter(pk__in=batch.seen_only).update(last_seen_at=now)
        for inc in valid:
            # A test names whatever meter the tester typed; only real events start a resync.
            if (
                inc.level == Level.METER
                and inc.values["meter_uuid"] not in batch.meters
                and not inc.values["integration_test"]
            ):
                result.unknown_meters.add(inc.values["meter_uuid"])
                key = inc.delivery.pk if inc.delivery is not None else None
                mine = result.by_delivery.setdefault(key, IngestResult())
                mine.unknown_meters.add(inc.values["meter_uuid"])
        if result.changed:
            changed = {ts.pk: ts for ts in result.changed}
            touched = planning.replan_timeslots(list(changed.values()))
            outbound.hand_on(touched | set(changed))
            alerts.raise_unknown_meters(result.changed, batch.meters)
        if result.unknown_meters:
            _request_resync(result.unknown_meters)
        if batch.rechecks:
            for pk in batch.rechecks:
                enqueue.recheck_timeslot_on_commit(pk)
    return result


def _rejected(inc: Incoming, errors: list[str]) -> RejectedTimeslot:
    """The kept record of a timeslot that broke Leap's rules."""
    values = inc.values
    recipient = (
        values.get("meter_uuid") if inc.level == Level.METER else values.get("market_group_uuid")
    )
    return RejectedTimeslot(
        delivery=inc.delivery,
        level=inc.level,
        event_id=inc.event_id,
        recipient_uuid=recipient,
        raw=inc.raw if isinstance(inc.raw, dict) else {"value": inc.raw},
        errors=errors,
        received_at=inc.received_at,
    )


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


# Saved after processing; never the body, which is large and must stay as received.
_OUTCOME_FIELDS = ["status", "error", "processed_at", "attempts"]


def process_delivery(delivery_id: int, *, batch_size: int | None = None) -> DispatchDelivery | None:
    """Parse and apply a stored delivery; a no-op when it was already handled.

    Under load the task takes up to `batch_size` (settings.DISPATCH_PROCESS_BATCH) other waiting
    deliveries along, oldest first and skipping any another worker holds, and applies them in one
    transaction: a dozen queries for the lot instead of a dozen each. If that fails, it processes
    its own delivery alone, so that one bad neighbour cannot hold the others up.
    """
    size = batch_size or settings.DISPATCH_PROCESS_BATCH
    try:
        return _process(delivery_id, size)
    except Exception:
        if size == 1:
            raise
        log.exception("batch around delivery %s failed; processing it alone", delivery_id)
        return _process(delivery_id, 1)


def _process(delivery_id: int, size: int) -> DispatchDelivery | None:
    """process_delivery's work, in one transaction."""
    with transaction.atomic():
        own = DispatchDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if own is None or own.status != DispatchDelivery.Status.RECEIVED:
            return own
        batch = [own]
        if size > 1:
            batch += _waiting(size - 1, exclude=[own.pk])
        _apply_deliveries(batch)
        return own


def _waiting(limit: int, *, exclude: Iterable[int] = ()) -> list[DispatchDelivery]:
    """Up to `limit` waiting deliveries, oldest first, locked; skips those another worker holds."""
    waiting = DispatchDelivery.objects.select_for_update(skip_locked=True).filter(
        status=DispatchDelivery.Status.RECEIVED
    )
    if exclude:
        waiting = waiting.exclude(pk__in=list(exclude))
    return list(waiting.order_by("received_at", "pk")[:limit])


class Drained(NamedTuple):
    """What one drain did: deliveries handled, those whose batch failed, and whether it ended."""

    done: int
    failed: list[int]
    finished: bool  # False: stopped at max_seconds with the flag still set; drain again


def process_waiting(
    *,
    batch_size: int | None = None,
    keep_pending: Callable[[], None] = lambda: None,
    clear_pending: Callable[[], None] = lambda: None,
    max_seconds: float | None = None,
) -> Drained:
    """Process every waiting delivery, a batch per transaction, until a look finds none.

    The drain task's body (dispatch.wakeup explains the flag): `keep_pending` is called before each
    batch, `clear_pending` once the waiting deliveries seem gone, and then one more look is taken;
    only a look after the clearing that finds nothing ends the drain. A batch that fails is not
    retried here: its deliveries are returned for the caller to hand to process_delivery, which
    retries one delivery at a time with backoff. After `max_seconds` (under sustained load a
    drain would otherwise never end, and run into the task time limit) it stops between batches
    without clearing the flag, and the caller must start another drain.
    """
    size = batch_size or settings.DISPATCH_PROCESS_BATCH
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    done = 0
    failed: list[int] = []
    cleared = False
    while True:
        if not cleared:
            keep_pending()
        batch: list[DispatchDelivery] = []
        try:
            with transaction.atomic():
                batch = _waiting(size, exclude=failed)
                if batch:
                    _apply_deliveries(batch)
        except Exception:
            if not batch:
                # Nothing was even read: the database itself failed (restarting, say). Looping
                # would spin; the task retries with backoff instead.
                raise
            log.exception("batch of %d deliveries failed; handing them on one by one", len(batch))
            failed += [d.pk for d in batch]
            continue
        done += len(batch)
        if batch:
            cleared = False
            if deadline is not None and time.monotonic() >= deadline:
                keep_pending()  # receivers keep relying on the next drain
                return Drained(done, failed, finished=False)
        elif cleared:
            return Drained(done, failed, finished=True)
        else:
            clear_pending()
            cleared = True


def _apply_deliveries(batch: list[DispatchDelivery]) -> None:
    """Apply these locked, waiting deliveries in the caller's transaction, each keeping its outcome.

    Redeliveries are found per event, not per body: a timeslot whose content equals the event's
    current state changes nothing, and one that differs is applied, whatever older version it
    repeats (Leap reverting a change, A -> B -> A). A delivery whose every timeslot was unchanged
    is marked `duplicate`.
    """
    from leap.schemas import LenientNotification

    batch.sort(key=lambda d: (d.received_at, d.pk))
    now = timezone.now()
    incoming: list[Incoming] = []
    applied: list[DispatchDelivery] = []
    for delivery in batch:
        delivery.attempts += 1
        delivery.processed_at = now
        try:
            notification = LenientNotification.model_validate_json(bytes(delivery.body))
        except ValidationError as exc:
            delivery.status = DispatchDelivery.Status.REJECTED
            delivery.error = f"not a valid dispatch notification: {_short(exc)}"
            continue
        for inc in incoming_from_notification(notification):
            inc.delivery = delivery
            inc.received_at = delivery.received_at
            inc.source = delivery.source
            incoming.append(inc)
        applied.append(delivery)
    first = batch[0]
    result = apply_all(incoming, source=first.source, received_at=first.received_at)
    for delivery in applied:
        mine = result.for_delivery(delivery)
        counts = mine.counts
        if counts and set(counts) == {"unchanged"}:
            delivery.status = DispatchDelivery.Status.DUPLICATE
            if mine.same_as != delivery.pk:
                delivery.duplicate_of_id = mine.same_as
        else:
            delivery.status = DispatchDelivery.Status.PROCESSED
        delivery.summary = mine.summary()
        delivery.error = "; ".join(mine.errors)
    update_rows(batch, [*_OUTCOME_FIELDS, "summary", "duplicate_of"])


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
