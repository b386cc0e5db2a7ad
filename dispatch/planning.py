"""The plan: each meter's share of its timeslots, and which overlapping timeslot it follows.

A meter-level timeslot gives its meter the whole `energy_kw`. A group-level timeslot is split over
the `meter_ids` Leap listed, by the function named in settings.DISPATCH_GROUP_SPLIT (default
`equal_share`: the same share for every member that can take part, that is every member we have and
that is ACTIVE; if none can, every listed member). Members are flagged when they are not ACTIVE,
not in our portfolio, or not in our copy of the group.

When a meter's live, uncancelled timeslots overlap in time, it follows them in this order (its
"rank"), best first, and never two that overlap:
1. the lower `priority` number (1 is the highest);
2. mandatory (`is_voluntary` false) before voluntary;
3. the larger energy for this meter (its share; null, "as much as you can", counts as largest);
4. the earlier `start_time`;
5. the event id, only so that the order is total.
Going down that list, a timeslot is followed unless it overlaps one already followed; then it is
overruled by that one, which is a conflict (shown on the dispatch pages and in the feed).
Integration-test timeslots are planned only among themselves; cancelled ones are never followed.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import import_string

from dispatch.bulk import insert_rows, update_rows
from dispatch.models import DispatchAllocation, DispatchTimeslot, Level
from leapportal.timezones import trade_date
from meters.models import GroupAssignment, Meter

Flag = DispatchAllocation.Flag
# Members with these flags cannot take a share of a group dispatch by default.
NOT_ELIGIBLE = {Flag.NOT_ACTIVE, Flag.UNKNOWN_METER}


@dataclass
class Member:
    """A meter addressed by a timeslot, with what we know about it."""

    meter_uuid: uuid.UUID
    meter: Meter | None
    flags: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        """Can take a share of a group dispatch."""
        return not NOT_ELIGIBLE.intersection(self.flags)


SplitRule = Callable[[DispatchTimeslot, list[Member]], dict[uuid.UUID, float | None]]


def equal_share(timeslot: DispatchTimeslot, members: list[Member]) -> dict[uuid.UUID, float | None]:
    """Split energy_kw equally over the eligible members (all of them if none is eligible)."""
    takers = [m for m in members if m.eligible] or members
    shares: dict[uuid.UUID, float | None] = {m.meter_uuid: 0.0 for m in members}
    for m in takers:
        energy = timeslot.energy_kw
        shares[m.meter_uuid] = None if energy is None else round(energy / len(takers), 6)
    return shares


def split_rule() -> SplitRule:
    """The configured group split function."""
    return import_string(settings.DISPATCH_GROUP_SPLIT)


def meter_is_active(meter: Meter) -> bool | None:
    """True/False from the meter's global enrollment status; None when we do not know it."""
    status = getattr(meter, "global_enrollment_status", None)
    if not status:
        return None
    return status == "ACTIVE"


def group_members_in_our_copy(timeslot: DispatchTimeslot) -> set[uuid.UUID] | None:
    """The meters our copy of the group holds for the timeslot's start; None if we have no copy."""
    group = timeslot.market_group
    if group is None:
        return None
    # Our copy is kept per trade day in the market's time zone (meters.GroupAssignment).
    day = trade_date(group.region or None, timeslot.start_time)
    members = set(
        GroupAssignment.objects.filter(market_group=group, trade_date=day).values_list(
            "meter_id", flat=True
        )
    )
    return members or None


def members_of(timeslot: DispatchTimeslot, meters: dict[uuid.UUID, Meter]) -> list[Member]:
    """The meters a timeslot addresses, flagged."""
    if timeslot.level == Level.METER:
        uuids = [timeslot.meter_uuid]
        ours = None
    else:
        uuids = [uuid.UUID(m) for m in timeslot.group_meter_ids]
        ours = group_members_in_our_copy(timeslot)
    out = []
    for meter_uuid in uuids:
        meter = meters.get(meter_uuid)
        flags = []
        if meter is None:
            flags.append(Flag.UNKNOWN_METER.value)
        elif meter_is_active(meter) is False:
            flags.append(Flag.NOT_ACTIVE.value)
        if timeslot.level == Level.GROUP and (ours is None or meter_uuid not in ours):
            flags.append(Flag.NOT_IN_GROUP.value)
        out.append(Member(meter_uuid, meter, flags))
    return out


def _desired(timeslot: DispatchTimeslot, meters: dict[uuid.UUID, Meter]) -> dict[uuid.UUID, dict]:
    """The allocation rows a timeslot should have: {meter_uuid: fields}."""
    members = members_of(timeslot, meters)
    if timeslot.level == Level.METER:
        shares = {m.meter_uuid: timeslot.energy_kw for m in members}
    else:
        shares = split_rule()(timeslot, members)
    return {
        m.meter_uuid: {"meter": m.meter, "share_kw": shares.get(m.meter_uuid), "flags": m.flags}
        for m in members
    }


def rank(alloc: DispatchAllocation) -> tuple[Any, ...]:
    """Sort key of the module docstring's order (smaller is better)."""
    ts = alloc.timeslot
    energy = math.inf if alloc.share_kw is None else alloc.share_kw
    return (ts.priority, ts.is_voluntary, -energy, ts.start_time, str(ts.event_id))


def resolve(allocations: list[DispatchAllocation]) -> None:
    """Set followed / overruled_by / reason on one meter's allocations (in memory)."""
    partitions: dict[bool, list[DispatchAllocation]] = defaultdict(list)
    for alloc in allocations:
        if alloc.timeslot.cancelled:
            alloc.followed, alloc.overruled_by, alloc.reason = False, None, "cancelled"
        else:
            partitions[alloc.timeslot.integration_test].append(alloc)
    for group in partitions.values():
        followed: list[DispatchAllocation] = []
        for alloc in sorted(group, key=rank):
            ts = alloc.timeslot
            winner = next(
                (
                    f
                    for f in followed
                    if f.timeslot.start_time < ts.end_time and ts.start_time < f.timeslot.end_time
                ),
                None,
            )
            if winner is None:
                alloc.followed, alloc.overruled_by, alloc.reason = True, None, ""
                followed.append(alloc)
            else:
                alloc.followed, alloc.overruled_by = False, winner.timeslot
                alloc.reason = _why(winner.timeslot, ts, winner, alloc)


def _why(win: DispatchTimeslot, lose: DispatchTimeslot, wa: Any, la: Any) -> str:
    """Which rule decided the conflict, in words."""
    if win.priority != lose.priority:
        return f"overlaps priority {win.priority} event (this one is priority {lose.priority})"
    if win.is_voluntary != lose.is_voluntary:
        return "overlaps a mandatory event of the same priority"
    if wa.share_kw != la.share_kw:
        return "overlaps an event of the same priority with more energy"
    if win.start_time != lose.start_time:
        return "overlaps an earlier event of the same priority and energy"
    return "overlaps an identical-rank event (event id decides)"


_PLAN_FIELDS = ("meter", "share_kw", "flags", "followed", "overruled_by", "reason")


def _state(alloc: DispatchAllocation) -> tuple[Any, ...]:
    """What a change of the plan is measured on."""
    return (
        alloc.meter_id,
        alloc.share_kw,
        sorted(alloc.flags),
        alloc.followed,
        alloc.overruled_by_id,
        alloc.reason,
    )


def replan_timeslots(timeslots: Iterable[int | DispatchTimeslot]) -> set[int]:
    """Rebuild the allocations of these timeslots (ids or rows) and re-resolve their meters.

    Returns the ids of every timeslot whose plan changed (including ones merely overruled or
    freed by the change). Call inside a transaction.
    """
    now = timezone.now()
    given = list(timeslots)
    rows = [t for t in given if isinstance(t, DispatchTimeslot)]
    ids = [t for t in given if not isinstance(t, DispatchTimeslot)]
    if ids:
        rows += DispatchTimeslot.objects.filter(pk__in=ids).select_related("market_group")
    timeslots = rows
    wanted: dict[int, dict[uuid.UUID, dict]] = {}
    needed: set[uuid.UUID] = set()
    for ts in timeslots:
        needed |= (
            {ts.meter_uuid}
            if ts.level == Level.METER
            else {uuid.UUID(m) for m in ts.group_meter_ids}
        )
    # Only the status (meter_is_active): a meter has some 60 columns, JSON among them.
    meters = Meter.objects.only("global_enrollment_status").in_bulk(list(needed))
    for ts in timeslots:
        wanted[ts.pk] = _desired(ts, meters)

    existing = defaultdict(dict)
    for alloc in DispatchAllocation.objects.filter(timeslot_id__in=list(wanted)):
        existing[alloc.timeslot_id][alloc.meter_uuid] = alloc
    affected: set[uuid.UUID] = set()
    changed: set[int] = set()
    stale_ids = []
    new_rows = []
    for ts in timeslots:
        have, want = existing[ts.pk], wanted[ts.pk]
        affected |= set(have) | set(want)
        for meter_uuid, alloc in have.items():
            if meter_uuid not in want:
                stale_ids.append(alloc.pk)
                changed.add(ts.pk)
        for meter_uuid, fields in want.items():
            if meter_uuid not in have:
                new_rows.append(
                    DispatchAllocation(timeslot=ts, meter_uuid=meter_uuid, planned_at=now, **fields)
                )
                changed.add(ts.pk)
    if stale_ids:
        DispatchAllocation.objects.filter(pk__in=stale_ids).delete()
    insert_rows(new_rows)

    # Re-resolve the affected meters over the part of their plan the change can reach.
    by_meter: dict[uuid.UUID, list[DispatchAllocation]] = defaultdict(list)
    for alloc in _reachable(affected, timeslots):
        by_meter[alloc.meter_uuid].append(alloc)
    to_save = []
    for allocs in by_meter.values():
        before = {a.pk: _state(a) for a in allocs}
        for a in allocs:
            fields = wanted.get(a.timeslot_id, {}).get(a.meter_uuid)
            if fields is not None:
                a.meter, a.share_kw, a.flags = fields["meter"], fields["share_kw"], fields["flags"]
        resolve(allocs)
        for a in allocs:
            if _state(a) != before[a.pk]:
                a.planned_at = now
                to_save.append(a)
                changed.add(a.timeslot_id)
    save_plans(to_save)
    return changed


def save_plans(allocs: list[Any]) -> None:
    """Write the plan fields of these allocations in one statement (dispatch.bulk.update_rows)."""
    update_rows(allocs, [*_PLAN_FIELDS, "planned_at"], model=DispatchAllocation)


class _Values:
    """A stand-in filled positionally, in the order of its __slots__."""

    __slots__ = ()

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
    )


# The allocation columns re-planning reads: the stand-in's first fields, and the first nine of
# _REACHABLE_SQL (then come the timeslot's).
ALLOCATION_COLUMNS = (
    "id",
    "timeslot_id",
    "meter_id",
    "meter_uuid",
    "share_kw",
    "flags",
    "followed",
    "overruled_by_id",
    "reason",
)


class _Plan(_Values):
    """A DispatchAllocation as resolve() and save_plans() use it, without a model instance.

    Re-planning loads every allocation of the affected meters that the change can reach, often
    hundreds per notification; building model instances (with their timeslots) for them was the
    largest cost of processing after the inserts.
    """

    __slots__ = (*ALLOCATION_COLUMNS, "planned_at", "timeslot")

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


# One round of _reachable: the allocations of some meters with what resolve() reads of their
# timeslots. Raw SQL, and times as epoch seconds: Django's timestamptz loader (Python, per value)
# and its per-row converters were most of re-planning's CPU when meters have long histories.
_REACHABLE_SQL = """
SELECT a.id, a.timeslot_id, a.meter_id, a.meter_uuid, a.share_kw, a.flags::text, a.followed,
       a.overruled_by_id, a.reason, t.event_id::text,
       extract(epoch FROM t.start_time)::float8, extract(epoch FROM t.end_time)::float8,
       t.priority, t.is_voluntary, t.cancelled, t.integration_test
FROM {allocations} a JOIN {timeslots} t ON t.id = a.timeslot_id
WHERE a.meter_uuid = ANY(%s) AND {where}
"""
_OVERLAPS = "(t.start_time < %s AND t.end_time > %s)"


@cache
def _flags(text: str) -> list[str]:
    """A flags column's JSON (a handful of distinct values), parsed once. Never mutated."""
    return json.loads(text)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _reachable(meters: set[uuid.UUID], changed: list[DispatchTimeslot]) -> list[_Plan]:
    """The allocations of these meters whose plan the changed timeslots can affect.

    Those overlapping a changed timeslot or overruled by one (it may have moved away), then,
    repeatedly, those overlapping what was loaded: the loaded set is closed under overlap, so
    resolving it alone gives the same answer as resolving the meters' whole history, which
    grows without bound. Each round loads only what the widened window adds. Times in the
    stand-ins are epoch seconds (resolve() only compares them).
    """
    if not meters or not changed:
        return []
    lo = min(ts.start_time for ts in changed).timestamp()
    hi = max(ts.end_time for ts in changed).timestamp()
    meter_ids = list(meters)
    rows = _fetch(meter_ids, hi, lo, overruled_by=[ts.pk for ts in changed])
    loaded: dict[int, _Plan] = {}
    slots: dict[int, _Slot] = {}
    while True:
        for row in rows:
            if row[0] in loaded:
                continue
            slot = slots.get(row[1])
            if slot is None:
                slot = slots[row[1]] = _Slot(row[1], *row[9:])
            loaded[row[0]] = _Plan(*row[:9], None, slot)
        new_lo = min([lo, *(s.start_time for s in slots.values())])
        new_hi = max([hi, *(s.end_time for s in slots.values())])
        if (new_lo, new_hi) == (lo, hi):
            return list(loaded.values())
        # Only what overlaps the widened window and did not overlap the last one.
        rows = _fetch(meter_ids, new_hi, new_lo, outside=(hi, lo))
        lo, hi = new_lo, new_hi


# A row of one round: id, timeslot_id, meter_id, meter_uuid, share_kw, flags (parsed), followed,
# overruled_by_id, reason, then the timeslot's event_id (text), start and end (epoch seconds),
# priority, is_voluntary, cancelled, integration_test.
_ROW = tuple[Any, ...]


def _fetch(
    meter_ids: list[uuid.UUID],
    hi: float,
    lo: float,
    *,
    overruled_by: list[int] | None = None,
    outside: tuple[float, float] | None = None,
) -> list[_ROW]:
    """One round of _reachable: raw SQL, times as epoch seconds."""
    tables = {
        "allocations": DispatchAllocation._meta.db_table,
        "timeslots": DispatchTimeslot._meta.db_table,
    }
    if outside is None:
        where = f"({_OVERLAPS} OR a.overruled_by_id = ANY(%s))"
        params: list[Any] = [meter_ids, _utc(hi), _utc(lo), overruled_by or []]
    else:
        where = f"{_OVERLAPS} AND NOT {_OVERLAPS}"
        params = [meter_ids, _utc(hi), _utc(lo), _utc(outside[0]), _utc(outside[1])]
    with connection.cursor() as cursor:
        cursor.execute(_REACHABLE_SQL.format(where=where, **tables), params)
        return [(*row[:5], _flags(row[5]), *row[6:]) for row in cursor.fetchall()]


def replan_meters(meter_uuids: Iterable[uuid.UUID]) -> set[int]:
    """Re-plan every timeslot that addresses these meters (e.g. after their status changed)."""
    ids = set(
        DispatchAllocation.objects.filter(meter_uuid__in=list(meter_uuids)).values_list(
            "timeslot_id", flat=True
        )
    )
    return replan_timeslots(ids) if ids else set()


def conflicts() -> Any:
    """Allocations overruled by another overlapping timeslot of the same meter (for the pages)."""
    return DispatchAllocation.objects.filter(
        followed=False, overruled_by__isnull=False
    ).select_related("timeslot", "overruled_by", "meter")
