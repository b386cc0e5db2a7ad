"""What a meter can deliver: Leap's device fields, or our admin's override of them.

The dispatch planner (dispatch/planning.py) plans with it; the meter page shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from meters.models import CapabilityOverride, Meter


@dataclass
class Capability:
    """What a meter can deliver, from Leap's device fields or an admin's override."""

    kw: float | None = None  # discharge rate + other devices' power
    usable_kwh: float | None = None  # battery energy between its state-of-charge limits
    site_load_kw: float | None = None  # ours only (override)
    source: str = "unknown"  # "leap", "override" or "unknown"


def capability_of(meter: Meter | None, override: CapabilityOverride | None) -> Capability:
    """The meter's capability; an override's figures win over Leap's, field by field."""
    if meter is None:
        return Capability()
    o = override

    def pick(mine: float | None, leap: float | None) -> float | None:
        return mine if mine is not None else leap

    leap_kw = None
    parts = [meter.battery_max_discharge_rate_kw, meter.other_devices_power_kw]
    if any(p is not None for p in parts):
        leap_kw = sum(p for p in parts if p is not None)
    kw = pick(o.max_discharge_kw if o else None, leap_kw)
    energy = pick(o.energy_capacity_kwh if o else None, meter.battery_energy_capacity_kwh)
    low = pick(o.min_soc_percent if o else None, meter.battery_min_soc_percent) or 0.0
    high = pick(o.max_soc_percent if o else None, meter.battery_max_soc_percent)
    high = 100.0 if high is None else high
    usable = None if energy is None else max(0.0, energy * (high - low) / 100)
    source = "override" if o is not None else ("leap" if kw is not None or energy else "unknown")
    return Capability(kw, usable, o.site_load_kw if o else None, source)
