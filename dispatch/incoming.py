"""Leap's dispatch notifications as `Incoming` timeslots: flattened, hashed and checked.

One form for every source (webhook, poll, recheck, test): a parsed MeterDispatch/GroupDispatch
becomes `Incoming` timeslots with their recipient, which the apply step (dispatch/apply.py) upserts.
`problems` checks each against Leap's rules (parse, enums, ranges) before anything is applied.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from dispatch.comparable import comparable
from dispatch.models import DispatchDelivery, Level
from leap.schemas import DISPATCH_EVENT_TYPES, DISPATCH_PROGRAMS, PERFORMANCE_CAPS
from leap.schemas import DispatchTimeslot as LeapTimeslot

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
    event_id: uuid.UUID | None  # None: a timeslot that did not parse and had no readable id
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

    # Once apply_all has checked a timeslot (problems() refuses one without an event id) and
    # filled in where it came from, these are set; the apply step reads them through here.
    @property
    def checked_id(self) -> uuid.UUID:
        """The event id of a checked timeslot."""
        assert self.event_id is not None, "checked timeslots have an event id"
        return self.event_id

    @property
    def checked_received_at(self) -> datetime:
        """When the notification of a checked timeslot was received (or polled)."""
        assert self.received_at is not None, "apply_all sets received_at"
        return self.received_at

    @property
    def checked_source(self) -> str:
        """Where a checked timeslot came from (Source)."""
        assert self.source is not None, "apply_all sets source"
        return self.source

    @property
    def content_hash(self) -> str:
        """Hash of the compared fields: equal hashes mean nothing changed."""
        if self._hash is None:
            self._hash = _hash_snapshot(self.snapshot)
        return self._hash


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
    for slot, raw in zip(dispatch.timeslots, _raw_slots(dispatch), strict=True):
        if isinstance(slot, LeapTimeslot):  # already parsed (a strict search result)
            yield slot, raw, []
            continue
        try:
            yield LeapTimeslot.model_validate(slot), raw, []
        except ValidationError as exc:
            yield None, raw, [short_errors(exc)]


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


def short_errors(exc: ValidationError) -> str:
    """The first few pydantic errors, readable."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
