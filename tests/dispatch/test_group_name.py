"""A timeslot's `market_group_name` (the timeline's "by group" order) is its group's present name
whatever writes either row: PostgreSQL's triggers keep it (dispatch 0012), and the timeline's
week view walks an index in that order instead of joining and sorting every timeslot of it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from django.db import connection

from dispatch import timeline
from dispatch.models import DispatchTimeslot
from meters.models import MarketGroup
from tests.dashboard.factories import make_group, make_meter, make_timeslot


def _name(slot: DispatchTimeslot) -> str | None:
    return DispatchTimeslot.objects.values_list("market_group_name", flat=True).get(pk=slot.pk)


def _group_slot(group: MarketGroup | None, **overrides) -> DispatchTimeslot:
    return make_timeslot(
        level="group",
        meter_uuid=None,
        market_group=group,
        market_group_uuid=group.pk if group else uuid.uuid4(),
        **overrides,
    )


def test_a_new_timeslot_takes_its_groups_name_whatever_it_was_given(db):
    group = make_group(name="PGSB_1")
    assert _name(_group_slot(group)) == "PGSB_1"
    assert _name(_group_slot(group, market_group_name="forged")) == "PGSB_1"
    assert _name(_group_slot(None)) is None  # a group we do not know
    assert _name(_group_slot(None, market_group_name="forged")) is None
    assert _name(make_timeslot(meter=make_meter())) is None  # meter level: no group


def test_the_groups_new_name_reaches_its_timeslots_by_every_path(db):
    group, other = make_group(name="old"), make_group(name="other")
    slots = [_group_slot(group) for _ in range(3)]
    untouched = _group_slot(other)

    group.name = "by-save"
    group.save()
    assert {_name(s) for s in slots} == {"by-save"}
    MarketGroup.objects.filter(pk=group.pk).update(name="by-update")
    assert {_name(s) for s in slots} == {"by-update"}
    with connection.cursor() as cur:  # as the sync writes groups: SQL, not the ORM
        cur.execute(
            "UPDATE meters_marketgroup SET name = '' WHERE market_group_id = %s", [group.pk]
        )
    assert {_name(s) for s in slots} == {""}
    assert _name(untouched) == "other"


def test_a_stale_timeslot_saved_whole_does_not_bring_back_the_old_name(db):
    group = make_group(name="before")
    slot = _group_slot(group)
    stale = DispatchTimeslot.objects.get(pk=slot.pk)  # read before the rename, saved after it
    MarketGroup.objects.filter(pk=group.pk).update(name="after")
    stale.energy_kw = 12.0
    stale.save()
    assert _name(slot) == "after"


def test_a_timeslot_moved_to_another_group_or_left_without_one_follows(db):
    group, other = make_group(name="first"), make_group(name="second")
    slot = _group_slot(group)
    DispatchTimeslot.objects.filter(pk=slot.pk).update(market_group=other)
    assert _name(slot) == "second"
    other.delete()  # SET_NULL: the timeslot stays, unlinked
    assert DispatchTimeslot.objects.get(pk=slot.pk).market_group_id is None
    assert _name(slot) is None


def test_an_update_of_a_timeslots_content_does_not_look_up_its_group(db):
    group = make_group(name="before")
    slot = _group_slot(group)
    with connection.cursor() as cur:
        # The groups' trigger off in this test's transaction, to see which writes look one up.
        cur.execute("ALTER TABLE meters_marketgroup DISABLE TRIGGER group_name_to_timeslots")
        cur.execute(
            "UPDATE meters_marketgroup SET name = 'after' WHERE market_group_id = %s", [group.pk]
        )
        # As the dispatch apply updates: content, and market_group_id set to the value it has.
        cur.execute(
            "UPDATE dispatch_dispatchtimeslot SET energy_kw = 3, cancelled = true, "
            "market_group_id = market_group_id WHERE id = %s",
            [slot.pk],
        )
        assert _name(slot) == "before"  # not looked up
        cur.execute("ALTER TABLE meters_marketgroup ENABLE TRIGGER group_name_to_timeslots")


def test_the_week_by_group_is_in_the_groups_present_names_and_read_in_index_order(db):
    now = datetime.now(UTC)
    day = now + timedelta(days=1)
    zeta, alpha = make_group(name="Zeta"), make_group(name="Alpha")
    z_slot = _group_slot(zeta, start_time=day)
    a_late = _group_slot(alpha, start_time=day + timedelta(hours=3))
    a_early = _group_slot(alpha, start_time=day + timedelta(hours=1))
    unknown = _group_slot(None, start_time=day)
    meter_slot = make_timeslot(meter=make_meter(), start_time=day)
    query = timeline.parse({"date": day.date().isoformat()}, mode="utc", now=now)
    assert query.by == "group" and query.view == "week"  # the page's default

    def order() -> list[int]:
        return list(timeline.timeslots(query).values_list("pk", flat=True))

    # Named groups by name, then a group we do not know, then the meter-level dispatches.
    assert order() == [a_early.pk, a_late.pk, z_slot.pk, unknown.pk, meter_slot.pk]
    MarketGroup.objects.filter(pk=zeta.pk).update(name="Aardvark")
    assert order() == [z_slot.pk, a_early.pk, a_late.pk, unknown.pk, meter_slot.pk]

    # The page's keys: from the timeslots alone (no join to the groups), in an index's order.
    keys = timeline.timeslots(query)[:51].values("pk")
    sql, params = keys.query.sql_with_params()
    assert "meters_marketgroup" not in sql
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "timeslot_live_by_group" in plan and "Sort" not in plan, plan
