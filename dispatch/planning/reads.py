"""What re-planning reads: the allocations a change can reach, as light stand-ins (raw SQL).

`reachable` finds, for the affected meters, the groups of overlapping allocations that a changed
timeslot touches (now, or where it held intervals before), and loads them as `_Plan` stand-ins
with their timeslots as `_Slot`s (times as epoch seconds): a meter's whole history grows without
bound, and model instances for hundreds of rows per notification were most of re-planning's cost.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from django.db import connection

from dispatch.models import DispatchAllocation, DispatchTimeslot
from meters.models import Meter


class _Values:
    """A stand-in filled positionally, in the order of its __slots__."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *values: Any) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)


class _Slot(_Values):
    """What resolve() reads of a timeslot, loaded as plain values (times as epoch seconds)."""

    __slots__ = (
        "pk",
        "event_id",
        "start_time",
        "end_time",
        "priority",
        "is_voluntary",
        "cancelled",
        "integration_test",
        "plan_from",
    )
    # Declared for the type checker; set by _Values.__init__ (times as epoch seconds).
    pk: int
    event_id: str
    start_time: float
    end_time: float
    priority: int
    is_voluntary: bool
    cancelled: bool
    integration_test: bool
    plan_from: float


# The allocation columns re-planning reads: the stand-in's first fields, and the first ones of
# _REACHABLE_SQL (then come the timeslot's).
ALLOCATION_COLUMNS = (
    "id",
    "timeslot_id",
    "meter_id",
    "meter_uuid",
    "share_kw",
    "planned_kw",
    "bound_by",
    "flags",
    "segments",
    "followed",
    "overruled_by_id",
    "reason",
)
_N = len(ALLOCATION_COLUMNS)


class _Plan(_Values):
    """A DispatchAllocation as resolve() and save_plans() use it, without a model instance.

    Re-planning loads every allocation of the affected meters that the change can reach, often
    hundreds per notification; building model instances (with their timeslots) for them was the
    largest cost of processing after the inserts.
    """

    __slots__ = (*ALLOCATION_COLUMNS, "planned_at", "timeslot")
    # Declared for the type checker; set by _Values.__init__ in ALLOCATION_COLUMNS' order.
    id: int
    timeslot_id: int
    meter_id: uuid.UUID | None
    meter_uuid: uuid.UUID
    share_kw: float | None
    planned_kw: float | None
    bound_by: str
    flags: list[str]
    segments: Any  # PostgreSQL's text of the stored jsonb, then the list resolve() sets
    followed: bool
    overruled_by_id: int | None
    reason: str
    planned_at: datetime | None
    timeslot: _Slot

    @property
    def pk(self) -> int:
        return self.id

    @property
    def meter(self) -> Any:
        return self.meter_id

    @meter.setter
    def meter(self, meter: Meter | None) -> None:
        self.meter_id = None if meter is None else meter.pk

    @property
    def overruled_by(self) -> _Slot | None:
        raise AttributeError("set-only on a stand-in: read overruled_by_id")

    @overruled_by.setter
    def overruled_by(self, timeslot: _Slot | None) -> None:
        self.overruled_by_id = None if timeslot is None else timeslot.pk


# reachable's reads. First the extent of the affected meters' allocations in a window (light:
# no JSON, times as epoch seconds), then what resolve() reads of the chosen ones. Raw SQL: Django's
# timestamptz loader (Python, per value) and its per-row converters were most of re-planning's
# CPU when meters have long histories.
_EXTENT_SQL = """
SELECT a.id, a.meter_uuid, extract(epoch FROM t.start_time)::float8,
       extract(epoch FROM t.end_time)::float8, a.overruled_by_id
FROM {allocations} a JOIN {timeslots} t ON t.id = a.timeslot_id
WHERE a.meter_uuid = ANY(%s) AND {where}
"""
_OVERLAPS = "(t.start_time < %s AND t.end_time > %s)"
# What a _Slot holds after its id, read the same way wherever a slot is loaded (resolve() compares
# these floats across slots: two ways of computing them could break a tie differently).
_SLOT_COLUMNS = """
       t.event_id::text,
       extract(epoch FROM t.start_time)::float8, extract(epoch FROM t.end_time)::float8,
       t.priority, t.is_voluntary, t.cancelled, t.integration_test,
       extract(epoch FROM greatest(t.start_time, t.first_seen_at))::float8
"""
_REACHABLE_SQL = (
    """
SELECT a.id, a.timeslot_id, a.meter_id, a.meter_uuid, a.share_kw, a.planned_kw, a.bound_by,
       a.flags::text, a.segments::text, a.followed, a.overruled_by_id, a.reason,"""
    + _SLOT_COLUMNS
    + """FROM {allocations} a JOIN {timeslots} t ON t.id = a.timeslot_id
WHERE a.id = ANY(%s)
"""
)
# The slots of allocations not yet written (unsaved_plans).
_SLOTS_SQL = "SELECT t.id," + _SLOT_COLUMNS + "FROM {timeslots} t WHERE t.id = ANY(%s)"


@cache
def _flags(text: str) -> list[str]:
    """A flags column's JSON (a handful of distinct values), parsed once. Never mutated."""
    return json.loads(text)


def segments_text(segments: Any) -> str:
    """Segments as PostgreSQL prints a jsonb array of string pairs.

    Re-planning reads the stored segments as that text and compares it with the new ones in
    the same form: parsing every loaded row's JSON cost more than the rest of resolving it.
    """
    if isinstance(segments, str):
        return segments
    return "[" + ", ".join(f'["{a}", "{b}"]' for a, b in segments) + "]"


@lru_cache(maxsize=65536)
def parse_iso(text: str) -> datetime:
    """A segment boundary (Leap's UTC form, as iso() writes it) as a datetime."""
    return datetime.fromisoformat(text)


def reachable(
    meters: set[uuid.UUID],
    changed: list[DispatchTimeslot],
    windows: list[tuple[uuid.UUID, datetime, datetime]] | None = None,
) -> list[_Plan]:
    """The allocations of these meters whose plan the changed timeslots can affect, per meter.

    `windows` are (meter, start, end): where a changed timeslot is, or held pieces before the
    change, for a meter it addresses or addressed (default: every changed timeslot's window for
    every meter). Loaded: the groups of overlapping allocations of a meter (found on light rows
    in a window closed under overlap) that overlap one of its windows or hold one overruled by
    a changed timeslot (it may have moved away). Each meter's loaded set is closed under
    overlap, so resolving it alone gives the same answer as resolving the meter's whole
    history, which grows without bound; and the parts of a history that nothing changed
    reaches are not loaded at all (they would resolve as they are stored).
    Times in the stand-ins are epoch seconds (resolve() only compares them).
    """
    if not meters or not changed:
        return []
    if windows is None:
        windows = [(m, ts.start_time, ts.end_time) for ts in changed for m in meters]
    seeds = {ts.pk for ts in changed}
    extent = _extent(list(meters), windows, seeds)
    chosen = _chosen(extent, windows, seeds)
    if not chosen:
        return []
    return _load(chosen)


def _tables() -> dict[str, str]:
    return {
        "allocations": DispatchAllocation._meta.db_table,
        "timeslots": DispatchTimeslot._meta.db_table,
    }


def _extent(
    meter_ids: list[uuid.UUID],
    windows: list[tuple[uuid.UUID, datetime, datetime]],
    seeds: set[int],
) -> dict[int, tuple[Any, ...]]:
    """Light rows (id, meter, start, end, overruled_by) of these meters' allocations in a window
    closed under overlap over all of them (widened until nothing new overlaps it)."""
    tables = _tables()
    lo = min(w[1] for w in windows).timestamp()
    hi = max(w[2] for w in windows).timestamp()
    where = f"({_OVERLAPS} OR a.overruled_by_id = ANY(%s))"
    params: list[Any] = [meter_ids, _utc(hi), _utc(lo), list(seeds)]
    extent: dict[int, tuple[Any, ...]] = {}
    with connection.cursor() as cursor:
        while True:
            cursor.execute(_EXTENT_SQL.format(where=where, **tables), params)
            for row in cursor.fetchall():
                extent[row[0]] = row
            new_lo = min([lo, *(r[2] for r in extent.values())])
            new_hi = max([hi, *(r[3] for r in extent.values())])
            if (new_lo, new_hi) == (lo, hi):
                break
            where = f"{_OVERLAPS} AND NOT {_OVERLAPS}"  # only what the widening adds
            params = [meter_ids, _utc(new_hi), _utc(new_lo), _utc(hi), _utc(lo)]
            lo, hi = new_lo, new_hi
    return extent


def _chosen(
    extent: dict[int, tuple[Any, ...]],
    windows: list[tuple[uuid.UUID, datetime, datetime]],
    seeds: set[int],
) -> list[int]:
    """Per meter, its groups of overlapping allocations (a sweep by start); chosen: those
    overlapping one of its windows or holding an allocation overruled by a changed timeslot."""
    by_meter: dict[uuid.UUID, list[tuple[Any, ...]]] = defaultdict(list)
    for row in extent.values():
        by_meter[row[1]].append(row)
    spans: dict[uuid.UUID, list[tuple[float, float]]] = defaultdict(list)
    for meter_uuid, start, end in windows:
        spans[meter_uuid].append((start.timestamp(), end.timestamp()))
    chosen: list[int] = []
    for meter_uuid, rows in by_meter.items():
        rows.sort(key=lambda r: r[2])
        mine = spans.get(meter_uuid, ())
        group: list[tuple[Any, ...]] = []
        top = -math.inf
        for item in [*rows, None]:
            if item is None or item[2] >= top:  # a new group starts (or the last one ends)
                if group and (
                    any(r[4] in seeds for r in group)
                    or any(a < top and b > group[0][2] for a, b in mine)
                ):
                    chosen += [r[0] for r in group]
                if item is None:
                    break
                group, top = [], -math.inf
            group.append(item)
            top = max(top, item[3])
    return chosen


def _load(chosen: list[int]) -> list[_Plan]:
    """The chosen allocations as stand-ins, each timeslot loaded once."""
    with connection.cursor() as cursor:
        cursor.execute(_REACHABLE_SQL.format(**_tables()), [chosen])
        rows = cursor.fetchall()
    slots: dict[int, _Slot] = {}
    loaded = []
    for row in rows:
        slot = slots.get(row[1])
        if slot is None:
            slot = slots[row[1]] = _Slot(row[1], *row[_N:])
        loaded.append(_Plan(*row[:7], _flags(row[7]), *row[8:_N], None, slot))
    return loaded


def unsaved_plans(rows: list[Any]) -> list[_Plan]:
    """New allocations (stand-ins with the columns' attribute names, no id yet) as `_Plan`s with
    their timeslots read as _load reads them, so that they resolve alongside the loaded ones."""
    if not rows:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_SLOTS_SQL.format(**_tables()), [sorted({r.timeslot_id for r in rows})])
        slots = {row[0]: _Slot(*row) for row in cursor.fetchall()}
    return [
        _Plan(
            None, r.timeslot_id, r.meter_id, r.meter_uuid, r.share_kw, r.planned_kw, r.bound_by,
            r.flags, r.segments, r.followed, r.overruled_by_id, r.reason, r.planned_at,
            slots[r.timeslot_id],
        )
        for r in rows
    ]  # fmt: skip


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
