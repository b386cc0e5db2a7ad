"""Group assignment by trade day, in the market's time zone, and its changes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
import time_machine

from meters.models import GroupAssignment, MeterChange, MeterEvent, ProgramEnrollment

# NYISO-SCR's delivery periods turn over at midnight of 1 May, New York time.
MONDAY = datetime(2026, 4, 27, 18, 0, tzinfo=UTC)
WEDNESDAY = datetime(2026, 4, 29, 18, 0, tzinfo=UTC)
TURNOVER = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT


def scr_meter(sim):
    """A NYISO meter grouped in both SCR periods (the current one and May-October)."""
    for meter_id in sim.meter_ids():
        state = sim.meter(meter_id)
        rows = [r for r in state.programs if r["program_identifier"] == "NYISO-SCR"]
        if (
            state.region == "NYISO"
            and len(rows) == 2
            and all(r.get("market_group_id") for r in rows)
        ):
            return meter_id, rows
    raise AssertionError("the seeded portfolio has no grouped NYISO-SCR meter")


@pytest.mark.leap_sim(meters=40, changes_per_hour=0, now=MONDAY)
def test_assignments_roll_forward_and_a_coming_change_is_announced(leap_sim, run_sync):
    meter_id, (april, may) = scr_meter(leap_sim)
    with time_machine.travel(MONDAY, tick=True):
        run_sync("full")
    days = list(
        GroupAssignment.objects.filter(meter_id=meter_id)
        .order_by("trade_date")
        .values_list("trade_date", "market_group_id", "source")
    )
    april_group = uuid.UUID(april["market_group_id"])
    assert days == [
        (date(2026, 4, 27), april_group, "enrollment"),
        (date(2026, 4, 28), april_group, "enrollment"),
        (date(2026, 4, 29), april_group, "enrollment"),
    ]
    assert not MeterEvent.objects.filter(kind=MeterEvent.Kind.GROUP_CHANGING).exists()

    # Two days later nothing changed at Leap, but the horizon now reaches 1 May.
    with time_machine.travel(WEDNESDAY, tick=True):
        run_sync("incremental")
    may_group = uuid.UUID(may["market_group_id"])
    assert (
        GroupAssignment.objects.get(meter_id=meter_id, trade_date=date(2026, 5, 1)).market_group_id
        == may_group
    )
    event = MeterEvent.objects.get(meter_id=meter_id, kind=MeterEvent.Kind.GROUP_CHANGING)
    assert event.deadline == TURNOVER
    assert event.details == {
        "trade_date": "2026-05-01",
        "from": [str(april_group)],
        "to": [str(may_group)],
    }
    # Deriving the same future again announces nothing twice.
    with time_machine.travel(WEDNESDAY.replace(hour=20), tick=True):
        run_sync("full")
    assert (
        MeterEvent.objects.filter(meter_id=meter_id, kind=MeterEvent.Kind.GROUP_CHANGING).count()
        == 1
    )


@pytest.mark.leap_sim(meters=40, changes_per_hour=0, now=MONDAY)
def test_a_group_reassignment_moves_the_meter_for_today(leap_sim, run_sync):
    meter_id, (april, may) = scr_meter(leap_sim)
    with time_machine.travel(MONDAY, tick=True):
        run_sync("full")
        # Leap moves the meter's current SCR row into another group. (A small portfolio has one
        # group per program and period, so the simulator's reassign_group has no other to offer.)
        state = leap_sim.portfolio.materialise(meter_id)
        row = next(r for r in state.programs if r["delivery_period"] == april["delivery_period"])
        row["market_group_id"], row["market_group_name"] = (
            may["market_group_id"],
            may["market_group_name"],
        )
        leap_sim.archive(meter_id, archived=False)  # bumps last-modified, as Leap would
        run = run_sync("incremental")

    assert run.updated >= 1
    key = f"NYISO-SCR/{april['delivery_period']}"
    stored = ProgramEnrollment.objects.get(
        meter_id=meter_id, program_identifier="NYISO-SCR", delivery_period=april["delivery_period"]
    )
    assert str(stored.market_group_id) == may["market_group_id"]
    assert stored.market_group.name == may["market_group_name"]
    assert stored.market_group.region == "NYISO"
    change = MeterChange.objects.get(meter_id=meter_id, field=f"program.{key}.market_group")
    assert (change.old, change.new) == (april["market_group_id"], may["market_group_id"])
    for day in (date(2026, 4, 27), date(2026, 4, 28), date(2026, 4, 29)):
        groups = GroupAssignment.objects.filter(meter_id=meter_id, trade_date=day)
        assert [str(a.market_group_id) for a in groups] == [may["market_group_id"]]
