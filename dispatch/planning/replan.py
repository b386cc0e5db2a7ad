"""Re-planning: rebuild the allocations of changed timeslots and re-resolve what they reach.

`replan_timeslots` is the entry point (the apply step, parked events, a capability change): it
works out the allocation rows each timeslot should have (shares.py), adds and removes rows, then
re-resolves each affected meter over the part of its plan the change can reach (reads.py,
intervals.py) and writes the plans that changed in one statement.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from dispatch.bulk import insert_rows, update_rows
from dispatch.models import DispatchAllocation, DispatchTimeslot
from dispatch.planning.intervals import resolve
from dispatch.planning.reads import parse_iso, reachable, segments_text, unsaved_plans
from dispatch.planning.shares import addressed, desired, load_meters
from meters.models import Meter

_PLAN_FIELDS = (
    "meter",
    "share_kw",
    "planned_kw",
    "bound_by",
    "flags",
    "segments",
    "followed",
    "overruled_by",
    "reason",
)


def _state(alloc: Any) -> tuple[Any, ...]:
    """What a change of the plan is measured on."""
    return (
        alloc.meter_id,
        alloc.share_kw,
        alloc.planned_kw,
        alloc.bound_by,
        sorted(alloc.flags),
        segments_text(alloc.segments),
        alloc.followed,
        alloc.overruled_by_id,
        alloc.reason,
    )


# {meter_uuid: the fields of the allocation it should have}, per timeslot id (shares.desired).
Wanted = dict[int, dict[uuid.UUID, dict[str, Any]]]


@dataclass
class _Rows:
    """How a change alters the allocation rows, and where the plan of each meter can change."""

    affected: set[uuid.UUID] = field(default_factory=set)
    changed: set[int] = field(default_factory=set)
    stale_ids: list[int] = field(default_factory=list)
    new_rows: list[Any] = field(default_factory=list)  # stand-ins (_new_row)
    # A changed timeslot's window now, and the pieces it held before, per meter (whatever lost
    # a piece to it overlaps those; it may have moved).
    windows: list[tuple[uuid.UUID, datetime, datetime]] = field(default_factory=list)


def replan_timeslots(
    timeslots: Iterable[int | DispatchTimeslot], meters: Mapping[uuid.UUID, Meter] | None = None
) -> set[int]:
    """Rebuild the allocations of these timeslots (ids or rows) and re-resolve their meters.

    `meters`: meters the caller has read with METER_PLAN_COLUMNS (shares.load_meters reads the
    rest). Returns the ids of every timeslot whose plan changed (including ones merely overruled
    or freed by the change). Call inside a transaction.
    """
    now = timezone.now()
    rows = _timeslot_rows(timeslots)
    wanted = _wanted(rows, meters)
    existing: dict[int, dict[uuid.UUID, DispatchAllocation]] = defaultdict(dict)
    for alloc in DispatchAllocation.objects.filter(timeslot_id__in=list(wanted)):
        existing[alloc.timeslot_id][alloc.meter_uuid] = alloc
    diff = _diff_rows(rows, existing, wanted, now)
    if diff.stale_ids:
        DispatchAllocation.objects.filter(pk__in=diff.stale_ids).delete()
    return diff.changed | _re_resolve(diff, rows, wanted, now)


def _timeslot_rows(timeslots: Iterable[int | DispatchTimeslot]) -> list[DispatchTimeslot]:
    """The given rows, and the rows of the given ids (with their market group)."""
    given = list(timeslots)
    rows = [t for t in given if isinstance(t, DispatchTimeslot)]
    ids = [t for t in given if not isinstance(t, DispatchTimeslot)]
    if ids:
        rows += DispatchTimeslot.objects.filter(pk__in=ids).select_related("market_group")
    return rows


def _wanted(
    timeslots: list[DispatchTimeslot], known: Mapping[uuid.UUID, Meter] | None = None
) -> Wanted:
    """The allocation rows each timeslot should have, with the meters they address loaded once."""
    needed: set[uuid.UUID] = set()
    for ts in timeslots:
        needed.update(addressed(ts))
    meters, overrides = load_meters(needed, known)
    return {ts.pk: desired(ts, meters, overrides) for ts in timeslots}


def _diff_rows(
    timeslots: list[DispatchTimeslot],
    existing: dict[int, dict[uuid.UUID, DispatchAllocation]],
    wanted: Wanted,
    now: datetime,
) -> _Rows:
    """Which allocation rows go, which are new, and which meters and windows the change reaches."""
    diff = _Rows()
    for ts in timeslots:
        have, want = existing[ts.pk], wanted[ts.pk]
        diff.affected |= set(have) | set(want)
        for meter_uuid in set(have) | set(want):
            diff.windows.append((meter_uuid, ts.start_time, ts.end_time))
        for meter_uuid, alloc in have.items():
            for a, b in alloc.segments or ():
                diff.windows.append((meter_uuid, parse_iso(a), parse_iso(b)))
        for meter_uuid, alloc in have.items():
            if meter_uuid not in want:
                diff.stale_ids.append(alloc.pk)
                diff.changed.add(ts.pk)
        for meter_uuid, fields in want.items():
            if meter_uuid not in have:
                diff.new_rows.append(_new_row(ts, meter_uuid, fields, now))
                diff.changed.add(ts.pk)
    return diff


def _new_row(
    ts: DispatchTimeslot, meter_uuid: uuid.UUID, fields: dict[str, Any], now: datetime
) -> SimpleNamespace:
    """A stand-in with the columns' attribute names, not a model instance (their __init__ was a
    tenth of processing): _re_resolve makes it a reads._Plan, and resolve() sets the plan fields."""
    meter = fields["meter"]
    return SimpleNamespace(
        timeslot_id=ts.pk,
        meter_id=None if meter is None else meter.pk,
        meter_uuid=meter_uuid,
        share_kw=fields["share_kw"],
        planned_kw=fields["planned_kw"],
        bound_by=fields["bound_by"],
        flags=fields["flags"],
        segments=[],
        followed=True,
        overruled_by_id=None,
        reason="",
        planned_at=now,
    )


def _re_resolve(
    diff: _Rows, timeslots: list[DispatchTimeslot], wanted: Wanted, now: datetime
) -> set[int]:
    """Re-resolve the affected meters over the part of their plan the change can reach; write
    the new allocations and the plans that changed, and return the changed timeslots' ids.

    The new allocations are resolved in memory with what is read, and written once, resolved:
    inserted blank and then updated (until 2026-12), each was written twice and staged twice
    (bench/webhook_load.py at 200/s: 24,180 allocation rows updated, now 2,091). Reading before
    they are written loads the same groups: every group a new row would join overlaps its
    timeslot's window, which is one of the meter's windows (diff.windows).
    """
    by_meter: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for alloc in reachable(diff.affected, timeslots, diff.windows):
        by_meter[alloc.meter_uuid].append(alloc)
    new = unsaved_plans(diff.new_rows)
    for alloc in new:
        by_meter[alloc.meter_uuid].append(alloc)
    to_save = []
    changed: set[int] = set()
    for allocs in by_meter.values():
        before = {a.pk: _state(a) for a in allocs if a.pk is not None}
        for a in allocs:
            fields = wanted.get(a.timeslot_id, {}).get(a.meter_uuid)
            if fields is not None:
                a.meter, a.share_kw, a.flags = fields["meter"], fields["share_kw"], fields["flags"]
                a.planned_kw, a.bound_by = fields["planned_kw"], fields["bound_by"]
        resolve(allocs)
        for a in allocs:
            if a.pk is not None and _state(a) != before[a.pk]:
                a.planned_at = now
                to_save.append(a)
                changed.add(a.timeslot_id)
    insert_rows(new, model=DispatchAllocation)  # their timeslots are in diff.changed
    save_plans(to_save)
    return changed


def save_plans(allocs: list[Any]) -> None:
    """Write the plan fields of these allocations in one statement (dispatch.bulk.update_rows)."""
    update_rows(allocs, [*_PLAN_FIELDS, "planned_at"], model=DispatchAllocation)


def replan_meters(meter_uuids: Iterable[uuid.UUID], *, upcoming_only: bool = True) -> set[int]:
    """Re-plan the timeslots that address these meters (their status or capability changed).

    Only those not yet ended by default: an ended event's plan is kept as it was.
    """
    allocs = DispatchAllocation.objects.filter(meter_uuid__in=list(meter_uuids))
    if upcoming_only:
        allocs = allocs.filter(timeslot__end_time__gt=timezone.now())
    ids = set(allocs.values_list("timeslot_id", flat=True))
    return replan_timeslots(ids) if ids else set()


def conflicts() -> QuerySet[DispatchAllocation]:
    """Allocations overruled by another overlapping timeslot of the same meter (for the pages)."""
    return DispatchAllocation.objects.filter(
        followed=False, overruled_by__isnull=False
    ).select_related("timeslot", "overruled_by", "meter")
