"""Who a timeslot addresses, each meter's share of it, and the kW it is told to deliver.

The first half of planning (dispatch/planning/__init__.py has the rules in full): a timeslot's
members, flagged; a group dispatch split over them (settings.DISPATCH_GROUP_SPLIT); the planned
kW of each and the limit that set it (BOUNDS), from Leap's award, the compensation cap and what the
meter's devices can do. How overlapping timeslots share a meter's time is intervals.py's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

from dispatch.models import DispatchAllocation, DispatchTimeslot, Level
from leapportal import bulk
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


def addressed(timeslot: DispatchTimeslot) -> list[uuid.UUID]:
    """The meters a timeslot names: its meter, or the group members Leap listed."""
    if timeslot.level == Level.METER:
        assert timeslot.meter_uuid is not None, "a meter-level timeslot names its meter"
        return [timeslot.meter_uuid]
    return [uuid.UUID(m) for m in timeslot.group_meter_ids]


def members_of(timeslot: DispatchTimeslot, meters: dict[uuid.UUID, Meter]) -> list[Member]:
    """The meters a timeslot addresses, flagged."""
    ours = None if timeslot.level == Level.METER else group_members_in_our_copy(timeslot)
    out = []
    for meter_uuid in addressed(timeslot):
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


def desired(
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
    ids: Iterable[uuid.UUID], known: Mapping[uuid.UUID, Meter] | None = None
) -> tuple[dict[uuid.UUID, Meter], dict[uuid.UUID, CapabilityOverride]]:
    """The meters (only what planning reads) and their capability overrides.

    `known`: meters the caller has already read with METER_PLAN_COLUMNS (the dispatch apply's
    batch), not read again.
    """
    ids = set(ids)
    if not ids:
        return {}, {}
    known = known or {}
    meters = {k: known[k] for k in ids if k in known}
    meters.update(bulk.in_bulk(Meter, ids - meters.keys(), METER_PLAN_COLUMNS))
    overrides = bulk.in_bulk(CapabilityOverride, meters)
    return meters, overrides
