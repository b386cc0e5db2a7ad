"""Planning: which overlapping timeslot each meter follows, and how group dispatches are split."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from dispatch import planning
from dispatch.models import DispatchAllocation, DispatchTimeslot
from dispatch.planning import reads
from leapportal.timezones import trade_date
from meters.models import GroupAssignment, MarketGroup
from tests.dispatch.helpers import T0, group_notification, iso, meter_notification, slot

pytestmark = pytest.mark.django_db


def _plan(meter):
    """{event_id: (followed, overruled_by event id or None)} for one meter."""
    return {
        a.timeslot.event_id: (a.followed, a.overruled_by.event_id if a.overruled_by else None)
        for a in DispatchAllocation.objects.filter(meter_uuid=meter.pk).select_related(
            "timeslot", "overruled_by"
        )
    }


def test_overlapping_events_of_different_priority_the_lower_number_wins(deliver, make_meter):
    meter = make_meter()
    low, high = uuid.uuid4(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(low, priority=4, energy_kw=50.0)])))
    deliver(
        meter_notification((meter.pk, [slot(high, priority=1, start=T0 + timedelta(minutes=30))]))
    )

    # Per interval: `high` takes 17:30-18:00 of `low`, which still runs 17:00-17:30.
    assert _plan(meter) == {high: (True, None), low: (True, high)}
    loser = DispatchAllocation.objects.get(timeslot__event_id=low)
    assert "priority 1" in loser.reason and "loses 0.5 h" in loser.reason
    assert loser.segments == [[iso(T0), iso(T0 + timedelta(minutes=30))]]
    winner = DispatchAllocation.objects.get(timeslot__event_id=high)
    assert winner.segments == [[iso(T0 + timedelta(minutes=30)), iso(T0 + timedelta(minutes=90))]]


def test_an_event_inside_a_higher_ranked_one_loses_everything(deliver, make_meter):
    meter = make_meter()
    low, high = uuid.uuid4(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(low, priority=4, start=T0, hours=1)])))
    deliver(meter_notification((meter.pk, [slot(high, priority=1, start=T0, hours=2)])))

    assert _plan(meter) == {high: (True, None), low: (False, high)}
    loser = DispatchAllocation.objects.get(timeslot__event_id=low)
    assert loser.is_conflict and loser.segments == [] and "priority 1" in loser.reason


def test_events_that_do_not_overlap_are_all_followed(deliver, make_meter):
    meter = make_meter()
    a, b = uuid.uuid4(), uuid.uuid4()
    # Back to back: [17:00, 18:00) and [18:00, 19:00) do not overlap.
    deliver(
        meter_notification(
            (meter.pk, [slot(a, priority=1), slot(b, priority=5, start=T0 + timedelta(hours=1))])
        )
    )

    assert _plan(meter) == {a: (True, None), b: (True, None)}


@pytest.mark.parametrize(
    ("winner_fields", "loser_fields", "rule"),
    [
        ({"is_voluntary": False}, {"is_voluntary": True}, "mandatory"),
        ({"energy_kw": 9.0}, {"energy_kw": 3.0}, "more energy"),
        ({"energy_kw": None}, {"energy_kw": 99999.0}, "more energy"),  # null = as much as it can
        ({"start": T0}, {"start": T0 + timedelta(minutes=15)}, "earlier"),
    ],
)
def test_ties_on_priority_are_broken_in_the_documented_order(
    deliver, make_meter, winner_fields, loser_fields, rule
):
    meter = make_meter()
    win, lose = uuid.uuid4(), uuid.uuid4()
    # The loser is delivered first, so arrival order cannot be what decides.
    deliver(meter_notification((meter.pk, [slot(lose, priority=2, **loser_fields)])))
    deliver(meter_notification((meter.pk, [slot(win, priority=2, **winner_fields)])))

    loser = DispatchAllocation.objects.get(timeslot__event_id=lose)
    assert _plan(meter)[win] == (True, None)
    assert loser.overruled_by.event_id == win and rule in loser.reason
    # The loser keeps only what the winner does not hold: nothing, or its last 15 minutes.
    assert loser.segments == (
        [[iso(T0 + timedelta(hours=1)), iso(T0 + timedelta(minutes=75))]]
        if rule == "earlier"
        else []
    )


def test_a_cancelled_winner_frees_the_event_it_overruled(deliver, make_meter):
    meter = make_meter()
    high, low = uuid.uuid4(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(high, priority=1), slot(low, priority=3)])))
    assert _plan(meter)[low] == (False, high)

    deliver(meter_notification((meter.pk, [slot(high, priority=1, cancelled=True)])))

    assert _plan(meter) == {high: (False, None), low: (True, None)}


def test_a_group_dispatch_is_split_equally_over_its_active_members(deliver, make_meter):
    group = MarketGroup.objects.create(market_group_id=uuid.uuid4())
    a, b = make_meter(), make_meter()
    idle = make_meter(status="NOT_PARTICIPATING")
    unknown = uuid.uuid4()
    deliver(
        group_notification(
            group.pk, [a.pk, b.pk, idle.pk, unknown], [slot(level="group", energy_kw=10.0)]
        ),
        level="group",
    )

    shares = {x.meter_uuid: (x.share_kw, sorted(x.flags)) for x in DispatchAllocation.objects.all()}
    assert shares[a.pk][0] == 5.0 and shares[b.pk][0] == 5.0
    assert shares[idle.pk] == (0.0, ["not_active", "not_in_group"])
    assert shares[unknown] == (0.0, ["not_in_group", "unknown_meter"])


def test_members_not_in_our_copy_of_the_group_are_flagged(deliver, make_meter):
    group = MarketGroup.objects.create(market_group_id=uuid.uuid4(), region="CAISO")
    inside, outside = make_meter(), make_meter()
    GroupAssignment.objects.create(
        meter=inside, market_group=group, trade_date=trade_date("CAISO", T0), source="enrollment"
    )
    deliver(
        group_notification(group.pk, [inside.pk, outside.pk], [slot(level="group")]), level="group"
    )

    flags = dict(DispatchAllocation.objects.values_list("meter_uuid", "flags"))
    assert flags == {inside.pk: [], outside.pk: ["not_in_group"]}


def by_weight(timeslot, members):
    """A pluggable split for the test: the first member takes everything."""
    return {m.meter_uuid: (timeslot.energy_kw if i == 0 else 0.0) for i, m in enumerate(members)}


def test_the_group_split_rule_is_pluggable(deliver, make_meter):
    group = MarketGroup.objects.create(market_group_id=uuid.uuid4())
    a, b = sorted([make_meter().pk, make_meter().pk], key=str)
    with override_settings(DISPATCH_GROUP_SPLIT="tests.dispatch.test_planning.by_weight"):
        deliver(
            group_notification(group.pk, [a, b], [slot(level="group", energy_kw=12.0)]),
            level="group",
        )

    assert dict(DispatchAllocation.objects.values_list("meter_uuid", "share_kw")) == {
        a: 12.0,
        b: 0.0,
    }


def test_a_group_event_and_a_meter_event_compete_for_the_same_meter(deliver, make_meter):
    group = MarketGroup.objects.create(market_group_id=uuid.uuid4())
    meter, other = make_meter(), make_meter()
    g, m = uuid.uuid4(), uuid.uuid4()
    deliver(
        group_notification(group.pk, [meter.pk, other.pk], [slot(g, level="group", priority=1)]),
        level="group",
    )
    deliver(meter_notification((meter.pk, [slot(m, priority=3)])))

    assert _plan(meter) == {g: (True, None), m: (False, g)}
    assert _plan(other) == {g: (True, None)}


def test_test_events_do_not_overrule_real_ones(deliver, make_meter):
    meter = make_meter()
    real, test = uuid.uuid4(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(real, priority=5)])))
    deliver(meter_notification((meter.pk, [slot(test, priority=1)]), integration_test=True))

    assert _plan(meter) == {real: (True, None), test: (True, None)}
    assert DispatchTimeslot.objects.live().get().event_id == real


def test_moving_a_winner_away_frees_the_event_it_overruled(deliver, make_meter):
    meter = make_meter()
    high, low, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    deliver(
        meter_notification(
            (
                meter.pk,
                [
                    slot(high, priority=1),
                    slot(low, priority=3),
                    slot(later, priority=2, start=T0 + timedelta(hours=5)),
                ],
            )
        )
    )
    assert _plan(meter)[low] == (False, high)

    # The winner moves five hours later: it frees `low` and now overrules `later` instead.
    deliver(meter_notification((meter.pk, [slot(high, priority=1, start=T0 + timedelta(hours=5))])))

    assert _plan(meter) == {high: (True, None), low: (True, None), later: (False, high)}


def test_a_chain_of_overlaps_is_resolved_as_a_whole(deliver, make_meter):
    # a [17-19) p1 overrules b [18-20) p2, which therefore does not overrule c [19:30-21) p3.
    meter = make_meter()
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    deliver(
        meter_notification(
            (
                meter.pk,
                [
                    slot(b, priority=2, start=T0 + timedelta(hours=1), hours=2),
                    slot(c, priority=3, start=T0 + timedelta(hours=2.5), hours=1.5),
                ],
            )
        )
    )
    # Per interval: c loses 19:30-20:00 to b and runs 20:00-21:00.
    assert _plan(meter) == {b: (True, None), c: (True, b)}

    deliver(meter_notification((meter.pk, [slot(a, priority=1, hours=2)])))

    # a takes 18-19 of b; b keeps 19-20 and still holds 19:30-20 against c.
    assert _plan(meter) == {a: (True, None), b: (True, a), c: (True, b)}
    segments = {
        x.timeslot.event_id: x.segments
        for x in DispatchAllocation.objects.filter(meter_uuid=meter.pk).select_related("timeslot")
    }
    h = [iso(T0 + timedelta(hours=n / 2)) for n in range(9)]  # 17:00, 17:30 ... 21:00
    assert segments == {a: [[h[0], h[4]]], b: [[h[4], h[6]]], c: [[h[6], h[8]]]}


def test_save_plans_writes_every_plan_field_of_many_allocations(
    deliver, make_meter, django_assert_num_queries
):

    meters = [make_meter() for _ in range(6)]
    events = [uuid.uuid4() for _ in meters]
    deliver(meter_notification(*((m.pk, [slot(e)]) for m, e in zip(meters, events, strict=True))))
    allocs = list(DispatchAllocation.objects.order_by("pk"))
    assert len(allocs) == 6 and all(a.followed and a.meter_id for a in allocs)
    untouched = allocs.pop()
    winner = DispatchTimeslot.objects.get(event_id=events[0])
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for i, a in enumerate(allocs):
        a.meter = None
        a.share_kw = None if i % 2 else 1.5 * i
        a.flags = ["not_active", f"x{i}"]
        a.followed = False
        a.overruled_by = winner
        a.reason = f"it's 'quoted' {i}"
        a.planned_at = when

    planning.save_plans(allocs)  # COPY into a staging table + one UPDATE .. FROM it

    for i, a in enumerate(allocs):
        stored = DispatchAllocation.objects.get(pk=a.pk)
        assert (stored.meter_id, stored.share_kw, stored.flags) == (
            None,
            None if i % 2 else 1.5 * i,
            ["not_active", f"x{i}"],
        )
        assert (stored.followed, stored.overruled_by_id, stored.reason, stored.planned_at) == (
            False,
            winner.pk,
            f"it's 'quoted' {i}",
            when,
        )
    same = DispatchAllocation.objects.get(pk=untouched.pk)
    assert (same.followed, same.meter_id, same.overruled_by_id) == (True, untouched.meter_id, None)
    with django_assert_num_queries(0):
        planning.save_plans([])


def test_a_group_members_plan_is_capped_by_its_part_of_the_nomination(deliver, make_meter):
    group = MarketGroup.objects.create(market_group_id=uuid.uuid4(), name="G", region="CAISO")
    a, b = make_meter(), make_meter(battery_max_discharge_rate_kw=3.0)
    event = uuid.uuid4()
    deliver(
        group_notification(
            group.pk,
            [a.pk, b.pk],
            [slot(event, level="group", energy_kw=12.0, nomination_kw=10.0,
                  performance_compensation_cap="up-to-nomination")],
        ),
        level="group",
    )  # fmt: skip

    plans = {
        x.meter_uuid: (x.share_kw, x.planned_kw, x.bound_by)
        for x in DispatchAllocation.objects.filter(timeslot__event_id=event)
    }
    # 6 kW each of the award; half the 10 kW nomination each; b's battery gives 3 kW.
    assert plans == {a.pk: (6.0, 5.0, "nomination"), b.pk: (6.0, 3.0, "capability")}


def test_re_planning_an_unchanged_meter_writes_nothing(deliver, make_meter):
    """The stored segments are compared as PostgreSQL prints them: nothing differs, nothing saved."""
    meter = make_meter()
    a, b = uuid.uuid4(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(a, priority=3, hours=4)])))
    deliver(meter_notification((meter.pk, [slot(b, priority=1, start=T0 + timedelta(hours=1))])))
    assert len(DispatchAllocation.objects.get(timeslot__event_id=a).segments) == 2

    assert planning.replan_timeslots(DispatchTimeslot.objects.all()) == set()


def test_the_reachable_read_loads_what_overlaps_the_changed_timeslots_and_nothing_else(
    deliver, make_meter
):
    """reachable's raw SQL: the changed timeslots' allocations and what overlaps them."""
    meters = [make_meter(), make_meter()]
    events = [uuid.uuid4() for _ in range(4)]
    deliver(
        meter_notification(
            (meters[0].pk, [slot(events[0], priority=3), slot(events[1], priority=1)]),
            (meters[1].pk, [slot(events[2], start=T0 + timedelta(minutes=45))]),
        )
    )
    deliver(meter_notification((meters[1].pk, [slot(events[3], start=T0 + timedelta(hours=2))])))
    changed = list(DispatchTimeslot.objects.filter(event_id__in=events[:3]))
    by_event = {str(ts.event_id): ts.pk for ts in changed}

    plans = reads.reachable({m.pk for m in meters}, changed)

    loaded = sorted(
        (str(p.timeslot.event_id), p.timeslot_id, p.meter_uuid, p.timeslot.start_time,
         p.timeslot.priority)
        for p in plans
    )  # fmt: skip
    later = (T0 + timedelta(minutes=45)).timestamp()
    # The fourth timeslot, two hours on, overlaps none of the changed ones: not loaded.
    assert loaded == sorted([
        (str(events[0]), by_event[str(events[0])], meters[0].pk, T0.timestamp(), 3),
        (str(events[1]), by_event[str(events[1])], meters[0].pk, T0.timestamp(), 1),
        (str(events[2]), by_event[str(events[2])], meters[1].pk, later, 2),  # default priority
    ])  # fmt: skip


def test_a_new_allocation_is_written_once_already_resolved(deliver, make_meter):
    """Inserted with its plan, not inserted blank and then updated (each row written twice)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    meter = make_meter()
    winner, loser = uuid.uuid4(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(winner, priority=1, hours=2)])))
    with CaptureQueriesContext(connection) as queries:
        deliver(meter_notification((meter.pk, [slot(loser, priority=3, hours=4)])))

    table = DispatchAllocation._meta.db_table
    assert not [q for q in queries if q["sql"].startswith(f'UPDATE "{table}"')]
    stored = DispatchAllocation.objects.get(timeslot__event_id=loser)
    assert stored.followed and stored.overruled_by.event_id == winner
    assert stored.segments == [[iso(T0 + timedelta(hours=2)), iso(T0 + timedelta(hours=4))]]
    assert planning.replan_timeslots(DispatchTimeslot.objects.all()) == set()


def test_plans_built_one_notification_at_a_time_equal_a_re_planning_of_everything(
    deliver, make_meter
):
    """Random overlapping events, moves and cancellations on three meters, delivered one by one
    (each re-planning only what it reaches): re-planning every timeslot from scratch then finds
    nothing to change."""
    import random

    rng = random.Random(15)
    meters = [make_meter() for _ in range(3)]
    sent: dict[uuid.UUID, uuid.UUID] = {}  # event -> meter
    for _ in range(40):
        if sent and rng.random() < 0.3:
            event = rng.choice(list(sent))
            meter_id = sent[event]
        else:
            event, meter_id = uuid.uuid4(), rng.choice(meters).pk
            sent[event] = meter_id
        start = T0 + timedelta(minutes=15 * rng.randrange(0, 24))
        body = slot(
            event,
            start=start,
            hours=rng.choice([0.5, 1, 2, 3]),
            priority=rng.randrange(1, 4),
            energy_kw=float(rng.choice([4, 8, 12])),
            is_voluntary=rng.random() < 0.3,
            cancelled=rng.random() < 0.1,
        )
        deliver(meter_notification((meter_id, [body])))

    assert DispatchAllocation.objects.count() == len(sent)
    assert DispatchAllocation.objects.filter(followed=False).exists()  # conflicts were resolved
    assert planning.replan_timeslots(DispatchTimeslot.objects.all()) == set()
