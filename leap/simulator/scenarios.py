"""Scripted dispatch scenarios: what Leap sends in each case the portal must handle.

Each scenario drives a Simulator through its public verbs and queues the notifications Leap would
send to the registered dispatch webhooks; `sim.deliver_due()` (or `advance`) sends them. The demo
runs them through POST /_sim/scenarios/{name}; tests call `run(sim, name)`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .simulator import Simulator


def _start(sim: Simulator, hours: float = 3) -> datetime:
    return sim.now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)


def _meters(sim: Simulator, count: int, program: str | None = None) -> list[str]:
    def enrolled(state: Any) -> bool:
        return not state.is_archived and (
            program is None or any(r["program_identifier"] == program for r in state.programs)
        )

    found = [m.meter_id for m in sim.find_meters(enrolled, count)]
    if len(found) < count:
        found += [m for m in sim.meter_ids(count * 3) if m not in found][: count - len(found)]
    return found


def new_event(sim: Simulator) -> dict[str, Any]:
    """One meter, one new day-ahead CCA award."""
    ids = sim.create_dispatch(meter_ids=_meters(sim, 1, "CCA"), program="CCA", start=_start(sim))
    return {"event_ids": ids}


def several_meters_and_timeslots(sim: Simulator) -> dict[str, Any]:
    """Three meters, two consecutive timeslots each, in one notification per timeslot."""
    meters = _meters(sim, 3)
    start = _start(sim, 20)
    first = sim.create_dispatch(meter_ids=meters, start=start, end=start + timedelta(hours=1))
    second = sim.create_dispatch(
        meter_ids=meters, start=start + timedelta(hours=1), end=start + timedelta(hours=2)
    )
    return {"event_ids": first + second}


def exact_redelivery(sim: Simulator) -> dict[str, Any]:
    """The same notification arrives twice, byte for byte (a retry after a lost 2xx)."""
    ids = sim.create_dispatch(meter_ids=_meters(sim, 1), start=_start(sim))
    sim.redeliver_last()
    return {"event_ids": ids}


def update_kw_and_window(sim: Simulator) -> dict[str, Any]:
    """An award changes: same event id, new energy_kw, then a later end time."""
    start = _start(sim, 6)
    [event_id] = sim.create_dispatch(meter_ids=_meters(sim, 1), start=start)
    sim.update_dispatch(event_id, energy_kw=4.25)
    sim.update_dispatch(event_id, end_time=start + timedelta(hours=3))
    return {"event_ids": [event_id]}


def cancellation(sim: Simulator) -> dict[str, Any]:
    """An event is withdrawn: same id, cancelled=true."""
    [event_id] = sim.create_dispatch(meter_ids=_meters(sim, 1), start=_start(sim, 8))
    sim.cancel_dispatch(event_id)
    return {"event_ids": [event_id]}


def null_energy(sim: Simulator) -> dict[str, Any]:
    """ELRP: energy_kw is null, meaning 'deliver the maximum you can'."""
    ids = sim.create_dispatch(meter_ids=_meters(sim, 2, "ELRP"), program="ELRP", start=_start(sim))
    return {"event_ids": ids}


def overlapping_priorities(sim: Simulator) -> dict[str, Any]:
    """Two overlapping events on one meter: a voluntary priority-3 and a committed priority-1."""
    meter = _meters(sim, 1)
    start = _start(sim, 4)
    low = sim.create_dispatch(
        meter_ids=meter, program="ELRP", start=start, end=start + timedelta(hours=4)
    )
    high = sim.create_dispatch(
        meter_ids=meter,
        program="CCA",
        start=start + timedelta(hours=1),
        end=start + timedelta(hours=2),
        priority=1,
        is_voluntary=False,
        performance_compensation_cap="up-to-nomination",
        dispatch_event_types=["day-ahead", "capacity-test"],
    )
    return {"event_ids": low + high}


def group_dispatch(sim: Simulator) -> dict[str, Any]:
    """A market group is dispatched: group_dispatches with its meter_ids and partner references."""
    groups = sorted(sim.market_groups.values(), key=lambda g: (g.period.start, g.name))
    current = [g for g in groups if g.period.start <= sim.now < g.period.end] or groups
    for group in current:
        if sim.portfolio.group_members(group):
            ids = sim.create_dispatch(market_group_id=group.market_group_id, start=_start(sim))
            return {"event_ids": ids, "market_group_id": group.market_group_id}
    raise ValueError("no market group has members in this portfolio")


def day_ahead_changed_hour_ahead(sim: Simulator) -> dict[str, Any]:
    """CAISO: a day-ahead award is changed in the hour-ahead market and a new hour-ahead slot appears."""
    meter = _meters(sim, 1, "CCA")
    start = _start(sim, 18)
    [award] = sim.create_dispatch(meter_ids=meter, program="CCA", start=start)
    sim.update_dispatch(award, energy_kw=2.0, dispatch_event_types=["hour-ahead"])
    extra = sim.create_dispatch(
        meter_ids=meter,
        program="CCA",
        start=start + timedelta(hours=2),
        end=start + timedelta(hours=3),
        dispatch_event_types=["hour-ahead"],
    )
    return {"event_ids": [award, *extra]}


def real_time_event(sim: Simulator) -> dict[str, Any]:
    """A CAISO 5-minute real-time event (excluded from searches by default)."""
    start = sim.now.replace(second=0, microsecond=0) + timedelta(minutes=10)
    ids = sim.create_dispatch(
        meter_ids=_meters(sim, 1, "CCA"),
        program="CCA",
        start=start,
        end=start + timedelta(minutes=5),
        dispatch_event_types=["5m"],
    )
    return {"event_ids": ids}


def communication_test(sim: Simulator) -> dict[str, Any]:
    """A Leap communication test: the notification's communication_test flag is true."""
    ids = sim.create_dispatch(meter_ids=_meters(sim, 2), start=_start(sim), communication_test=True)
    return {"event_ids": ids}


def late_cancellation(sim: Simulator) -> dict[str, Any]:
    """An event that already ended is cancelled afterwards."""
    start = sim.now - timedelta(hours=3)
    [event_id] = sim.create_dispatch(
        meter_ids=_meters(sim, 1), start=start, end=start + timedelta(hours=1)
    )
    sim.cancel_dispatch(event_id)
    return {"event_ids": [event_id]}


def out_of_order_update(sim: Simulator) -> dict[str, Any]:
    """The update arrives before the creation it updates (a retried older delivery)."""
    before = sim.out_of_order
    sim.out_of_order = True
    try:
        [event_id] = sim.create_dispatch(meter_ids=_meters(sim, 1), start=_start(sim, 10))
        sim.update_dispatch(event_id, energy_kw=1.5)
        sim.deliver_due()
    finally:
        sim.out_of_order = before
    return {"event_ids": [event_id]}


def bad_secret(sim: Simulator) -> dict[str, Any]:
    """A notification that does not carry the registered secret (someone else posting)."""
    ids = sim.create_dispatch(meter_ids=_meters(sim, 1), start=_start(sim), notify=False)
    sim.send_forged(ids)
    return {"event_ids": ids}


SCENARIOS: dict[str, Callable[[Simulator], dict[str, Any]]] = {
    "new_event": new_event,
    "several_meters_and_timeslots": several_meters_and_timeslots,
    "exact_redelivery": exact_redelivery,
    "update_kw_and_window": update_kw_and_window,
    "cancellation": cancellation,
    "null_energy": null_energy,
    "overlapping_priorities": overlapping_priorities,
    "group_dispatch": group_dispatch,
    "day_ahead_changed_hour_ahead": day_ahead_changed_hour_ahead,
    "real_time_event": real_time_event,
    "communication_test": communication_test,
    "late_cancellation": late_cancellation,
    "out_of_order_update": out_of_order_update,
    "bad_secret": bad_secret,
}


def run(sim: Simulator, name: str) -> dict[str, Any]:
    """Run one named scenario; KeyError for an unknown name."""
    return SCENARIOS[name](sim)
