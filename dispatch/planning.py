"""The plan: what each meter is told to do for each timeslot, interval by interval.

Each (meter, timeslot) gets a DispatchAllocation:
- its share of the timeslot (a meter-level timeslot's whole `energy_kw`; a group-level one split
  over the `meter_ids` Leap listed by settings.DISPATCH_GROUP_SPLIT, default `equal_share`: the
  same share for every member that can take part, ACTIVE and ours; if none can, every member);
- the kW it will deliver (`planned_kw`) and the limit that set it (`bound_by`, BOUNDS): Leap's
  award, capped by the compensation cap (`up-to-nomination` never beyond the nomination;
  `up-to-site-load` not beyond our figure of the site load, never exporting; `grid-exports-allowed`
  may export) and by what the meter's devices can do (discharge rate, usable battery energy over
  the event). A null `energy_kw` ("as much as you can") is planned as the meter's capability;
  with no capability known, as the nomination;
- the intervals it runs (`segments`). A timeslot is planned from its start, or from when it
  reached us if it had already started; one that had ended is stored and never planned.

Where a meter's live, uncancelled timeslots overlap, each interval goes to the best-ranked one:
1. the lower `priority` number (1 is the highest);
2. mandatory (`is_voluntary` false) before voluntary;
3. the larger award for this meter (its share of `energy_kw`; null, "as much as you can",
   counts as the largest);
4. the earlier `start_time`;
5. the event id, only so that the order is total.
The other timeslot keeps the rest of its window; one that loses every interval is not followed.
Integration-test timeslots are planned only among themselves; cancelled ones are never followed.
"""

from __future__ import annotations

import bisect
import json
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import import_string

from dispatch.bulk import insert_rows, update_rows
from dispatch.models import DispatchAllocation, DispatchTimeslot, Level
from leapportal.timezones import trade_date
from meters.capability import Capability, capability_of
from meters.models import CapabilityOverride, GroupAssignment, Meter

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


# Why a planned kW is what it is (DispatchAllocation.bound_by).
BOUNDS = {
    "award": "Leap's award (energy_kw)",
    "nomination": "the nomination (up-to-nomination: never beyond it)",
    "capability": "what the devices can do (discharge rate)",
    "state_of_charge": "the battery's usable energy over the event (state-of-charge limits)",
    "site_load": "the site's load (up-to-site-load: never below 0 kW, no export)",
    "nomination_default": "no award and no known capability: the nomination",
    "unknown": "no figure: no award, capability or nomination known",
}
# The meter columns the planner reads: a meter has some 60 columns, JSON among them.
METER_PLAN_COLUMNS = (
    "global_enrollment_status",
    "battery_max_discharge_rate_kw",
    "battery_energy_capacity_kwh",
    "battery_min_soc_percent",
    "battery_max_soc_percent",
    "other_devices_power_kw",
)


def plan_kw(
    timeslot: DispatchTimeslot, share: float | None, cap: Capability, fraction: float, hours: float
) -> tuple[float | None, str]:
    """The kW a meter is told to deliver for a timeslot, and the limit that set it (BOUNDS).

    `share` is its part of Leap's award (None: as much as it can), `fraction` its part of the
    timeslot's nomination, `hours` how long it is planned for.
    """
    candidates: list[tuple[float, str]] = []
    if share is not None:
        candidates.append((share, "award"))
    nomination = None if timeslot.nomination_kw is None else timeslot.nomination_kw * fraction
    compensation = timeslot.performance_compensation_cap
    if compensation == "up-to-nomination" and nomination is not None:
        candidates.append((nomination, "nomination"))
    if cap.kw is not None:
        candidates.append((cap.kw, "capability"))
    if cap.usable_kwh is not None and hours > 0:
        candidates.append((cap.usable_kwh / hours, "state_of_charge"))
    if compensation == "up-to-site-load" and cap.site_load_kw is not None:
        candidates.append((cap.site_load_kw, "site_load"))
    if not candidates:
        if nomination is not None:
            return round(nomination, 3), "nomination_default"
        return None, "unknown"
    kw, bound = min(candidates, key=lambda c: c[0])  # min() keeps the first of equals: the award
    return round(max(kw, 0.0), 3), bound


def _desired(
    timeslot: DispatchTimeslot,
    meters: dict[uuid.UUID, Meter],
    overrides: dict[uuid.UUID, CapabilityOverride],
) -> dict[uuid.UUID, dict]:
    """The allocation rows a timeslot should have: {meter_uuid: fields}."""
    members = members_of(timeslot, meters)
    if timeslot.level == Level.METER:
        shares = {m.meter_uuid: timeslot.energy_kw for m in members}
    else:
        shares = split_rule()(timeslot, members)
    takers = [m for m in members if m.eligible] or members
    hours = (timeslot.end_time - timeslot.plan_from).total_seconds() / 3600
    out = {}
    for m in members:
        share = shares.get(m.meter_uuid)
        if timeslot.level == Level.METER:
            fraction = 1.0
        elif share is not None and timeslot.energy_kw:
            fraction = share / timeslot.energy_kw
        else:
            fraction = 1 / len(takers) if m in takers else 0.0
        cap = capability_of(m.meter, overrides.get(m.meter_uuid))
        kw, bound = plan_kw(timeslot, share, cap, fraction, hours)
        out[m.meter_uuid] = {
            "meter": m.meter,
            "share_kw": share,
            "planned_kw": kw,
            "bound_by": bound,
            "flags": m.flags,
        }
    return out


def load_meters(
    ids: Iterable[uuid.UUID],
) -> tuple[dict[uuid.UUID, Meter], dict[uuid.UUID, CapabilityOverride]]:
    """The meters (only what planning reads) and their capability overrides."""
    ids = list(ids)
    if not ids:
        return {}, {}
    meters = Meter.objects.only(*METER_PLAN_COLUMNS).in_bulk(ids)
    overrides = CapabilityOverride.objects.in_bulk(list(meters)) if meters else {}
    return meters, overrides


def rank(alloc: Any) -> tuple[Any, ...]:
    """Sort key of the module docstring's order (smaller is better)."""
    ts = alloc.timeslot
    energy = math.inf if alloc.share_kw is None else alloc.share_kw
    return (ts.priority, ts.is_voluntary, -energy, ts.start_time, str(ts.event_id))


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


@lru_cache(maxsize=65536)  # the same boundaries come back on every re-plan of a meter
def iso(epoch: float) -> str:
    """An epoch second as Leap's UTC form (what segments hold)."""
    return datetime.fromtimestamp(round(epoch, 6), UTC).isoformat().replace("+00:00", "Z")


def _hm(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M")


def resolve(allocations: list[Any]) -> None:
    """Set segments / followed / overruled_by / reason on one meter's allocations (in memory).

    Best-ranked first, each timeslot takes what is still free of its window [plan_from, end);
    what an earlier (better) one holds is lost to that one.
    """
    partitions: dict[bool, list[Any]] = defaultdict(list)
    for alloc in allocations:
        ts = alloc.timeslot
        if ts.cancelled:
            alloc.followed, alloc.overruled_by, alloc.reason = False, None, "cancelled"
            alloc.segments = []
        elif _epoch(ts.end_time) <= _epoch(ts.plan_from):
            alloc.followed, alloc.overruled_by = False, None
            alloc.reason, alloc.segments = "ended before it reached us: not planned", []
        else:
            partitions[ts.integration_test].append(alloc)
    for group in partitions.values():
        starts: list[float] = []  # taken pieces, disjoint, sorted by start
        pieces: list[tuple[float, float, Any]] = []
        for alloc in sorted(group, key=rank):
            ts = alloc.timeslot
            lo, hi = _epoch(ts.plan_from), _epoch(ts.end_time)
            free, lost = [], []
            cur = lo
            i = max(0, bisect.bisect_right(starts, lo) - 1)
            while i < len(pieces) and pieces[i][0] < hi:
                s0, e0, owner = pieces[i]
                if e0 > lo:
                    if s0 > cur:
                        free.append((cur, s0))
                    lost.append((max(s0, lo), min(e0, hi), owner))
                    cur = max(cur, e0)
                i += 1
            if cur < hi:
                free.append((cur, hi))
            for s0, e0 in free:
                at = bisect.bisect_left(starts, s0)
                starts.insert(at, s0)
                pieces.insert(at, (s0, e0, alloc))
            alloc.segments = [[iso(a), iso(b)] for a, b in free]
            alloc.followed = bool(free)
            if not lost:
                alloc.overruled_by, alloc.reason = None, ""
                continue
            winner = lost[0][2]
            alloc.overruled_by = winner.timeslot
            why = _why(winner.timeslot, ts, winner, alloc)
            if not free:
                alloc.reason = why[:200]
            else:
                hours = sum(e - s for s, e, _ in lost) / 3600
                first = f"{_hm(lost[0][0])}–{_hm(lost[0][1])} UTC"
                more = f" and {len(lost) - 1} more" if len(lost) > 1 else ""
                alloc.reason = f"loses {hours:g} h ({first}{more}): {why}"[:200]


def _why(win: Any, lose: Any, wa: Any, la: Any) -> str:
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
        _segments_text(alloc.segments),
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
    meters, overrides = load_meters(needed)
    for ts in timeslots:
        wanted[ts.pk] = _desired(ts, meters, overrides)

    existing = defaultdict(dict)
    for alloc in DispatchAllocation.objects.filter(timeslot_id__in=list(wanted)):
        existing[alloc.timeslot_id][alloc.meter_uuid] = alloc
    affected: set[uuid.UUID] = set()
    changed: set[int] = set()
    stale_ids = []
    new_rows = []
    # Where each affected meter's plan can change: a changed timeslot's window now, and the
    # pieces it held before (whatever lost a piece to it overlaps those; it may have moved).
    windows: list[tuple[uuid.UUID, datetime, datetime]] = []
    for ts in timeslots:
        have, want = existing[ts.pk], wanted[ts.pk]
        affected |= set(have) | set(want)
        for meter_uuid in set(have) | set(want):
            windows.append((meter_uuid, ts.start_time, ts.end_time))
        for meter_uuid, alloc in have.items():
            for a, b in alloc.segments or ():
                windows.append((meter_uuid, _parse_iso(a), _parse_iso(b)))
        for meter_uuid, alloc in have.items():
            if meter_uuid not in want:
                stale_ids.append(alloc.pk)
                changed.add(ts.pk)
        for meter_uuid, fields in want.items():
            if meter_uuid not in have:
                # A stand-in with the columns' attribute names, not a model instance (their
                # __init__ was a tenth of processing): resolve() below sets the plan fields.
                meter = fields["meter"]
                new_rows.append(
                    SimpleNamespace(
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
                )
                changed.add(ts.pk)
    if stale_ids:
        DispatchAllocation.objects.filter(pk__in=stale_ids).delete()
    insert_rows(new_rows, model=DispatchAllocation)

    # Re-resolve the affected meters over the part of their plan the change can reach.
    by_meter: dict[uuid.UUID, list[DispatchAllocation]] = defaultdict(list)
    for alloc in _reachable(affected, timeslots, windows):
        by_meter[alloc.meter_uuid].append(alloc)
    to_save = []
    for allocs in by_meter.values():
        before = {a.pk: _state(a) for a in allocs}
        for a in allocs:
            fields = wanted.get(a.timeslot_id, {}).get(a.meter_uuid)
            if fields is not None:
                a.meter, a.share_kw, a.flags = fields["meter"], fields["share_kw"], fields["flags"]
                a.planned_kw, a.bound_by = fields["planned_kw"], fields["bound_by"]
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
        "plan_from",
    )


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


# _reachable's reads. First the extent of the affected meters' allocations in a window (light:
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
_REACHABLE_SQL = """
SELECT a.id, a.timeslot_id, a.meter_id, a.meter_uuid, a.share_kw, a.planned_kw, a.bound_by,
       a.flags::text, a.segments::text, a.followed, a.overruled_by_id, a.reason,
       t.event_id::text,
       extract(epoch FROM t.start_time)::float8, extract(epoch FROM t.end_time)::float8,
       t.priority, t.is_voluntary, t.cancelled, t.integration_test,
       extract(epoch FROM greatest(t.start_time, t.first_seen_at))::float8
FROM {allocations} a JOIN {timeslots} t ON t.id = a.timeslot_id
WHERE a.id = ANY(%s)
"""


@cache
def _flags(text: str) -> list[str]:
    """A flags column's JSON (a handful of distinct values), parsed once. Never mutated."""
    return json.loads(text)


def _segments_text(segments: Any) -> str:
    """Segments as PostgreSQL prints a jsonb array of string pairs.

    Re-planning reads the stored segments as that text and compares it with the new ones in
    the same form: parsing every loaded row's JSON cost more than the rest of resolving it.
    """
    if isinstance(segments, str):
        return segments
    return "[" + ", ".join(f'["{a}", "{b}"]' for a, b in segments) + "]"


@lru_cache(maxsize=65536)
def _parse_iso(text: str) -> datetime:
    """A segment boundary (Leap's UTC form, as iso() writes it) as a datetime."""
    return datetime.fromisoformat(text)


def _reachable(
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
    tables = {
        "allocations": DispatchAllocation._meta.db_table,
        "timeslots": DispatchTimeslot._meta.db_table,
    }
    seeds = {ts.pk for ts in changed}
    meter_ids = list(meters)
    # 1. A window closed under overlap over all these meters (widened until nothing new
    # overlaps it), as before: light rows, (id, meter, start, end, overruled_by).
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
    # 2. Per meter, its groups of overlapping allocations (a sweep by start); chosen: those
    # overlapping one of its windows or holding an allocation overruled by a changed timeslot.
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
        for row in [*rows, None]:
            if row is None or row[2] >= top:  # a new group starts (or the last one ends)
                if group and (
                    any(r[4] in seeds for r in group)
                    or any(a < top and b > group[0][2] for a, b in mine)
                ):
                    chosen += [r[0] for r in group]
                if row is None:
                    break
                group, top = [], -math.inf
            group.append(row)
            top = max(top, row[3])
    if not chosen:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_REACHABLE_SQL.format(**tables), [chosen])
        rows = cursor.fetchall()
    slots: dict[int, _Slot] = {}
    loaded = []
    for row in rows:
        slot = slots.get(row[1])
        if slot is None:
            slot = slots[row[1]] = _Slot(row[1], *row[_N:])
        loaded.append(_Plan(*row[:7], _flags(row[7]), *row[8:_N], None, slot))
    return loaded


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def replan_meters(meter_uuids: Iterable[uuid.UUID], *, upcoming_only: bool = True) -> set[int]:
    """Re-plan the timeslots that address these meters (their status or capability changed).

    Only those not yet ended by default: an ended event's plan is kept as it was.
    """
    allocs = DispatchAllocation.objects.filter(meter_uuid__in=list(meter_uuids))
    if upcoming_only:
        allocs = allocs.filter(timeslot__end_time__gt=timezone.now())
    ids = set(allocs.values_list("timeslot_id", flat=True))
    return replan_timeslots(ids) if ids else set()


def conflicts() -> Any:
    """Allocations overruled by another overlapping timeslot of the same meter (for the pages)."""
    return DispatchAllocation.objects.filter(
        followed=False, overruled_by__isnull=False
    ).select_related("timeslot", "overruled_by", "meter")
