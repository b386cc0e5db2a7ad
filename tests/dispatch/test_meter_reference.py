"""A timeslot's `meter_reference` (the timeline's "by meter" order) is its meter's present
partner_reference whatever writes either row: PostgreSQL's triggers keep it (dispatch 0009,
narrowed by 0010)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection

from dispatch.models import DispatchTimeslot
from dispatch.parked import attach_parked
from meters.models import Meter
from tests.dashboard.factories import make_meter, make_timeslot


def _reference(slot: DispatchTimeslot) -> str | None:
    return DispatchTimeslot.objects.values_list("meter_reference", flat=True).get(pk=slot.pk)


def test_a_new_timeslot_takes_its_meters_reference_whatever_it_was_given(db):
    meter = make_meter(partner_reference="site-7")
    assert _reference(make_timeslot(meter=meter)) == "site-7"
    assert _reference(make_timeslot(meter=meter, meter_reference="forged")) == "site-7"
    assert _reference(make_timeslot()) is None  # parked: no meter yet


def test_the_meters_new_reference_reaches_its_timeslots_by_every_path(db):
    meter, other = make_meter(partner_reference="old"), make_meter(partner_reference="other")
    slots = [make_timeslot(meter=meter) for _ in range(3)]
    untouched = make_timeslot(meter=other)

    meter.partner_reference = "by-save"
    meter.save()
    assert {_reference(s) for s in slots} == {"by-save"}
    Meter.objects.filter(pk=meter.pk).update(partner_reference="by-update")
    assert {_reference(s) for s in slots} == {"by-update"}
    with connection.cursor() as cur:  # as the sync writes meters: SQL, not the ORM
        cur.execute(
            "UPDATE meters_meter SET partner_reference = NULL WHERE meter_id = %s", [meter.pk]
        )
    assert {_reference(s) for s in slots} == {None}
    assert _reference(untouched) == "other"


def test_a_stale_timeslot_saved_whole_does_not_bring_back_the_old_reference(db):
    meter = make_meter(partner_reference="before")
    slot = make_timeslot(meter=meter)
    stale = DispatchTimeslot.objects.get(pk=slot.pk)  # read before the change, saved after it
    Meter.objects.filter(pk=meter.pk).update(partner_reference="after")
    stale.energy_kw = 12.0
    stale.save()
    assert _reference(slot) == "after"


def test_a_parked_timeslot_gets_the_reference_when_its_meter_arrives_and_loses_it_with_it(db):
    slot = make_timeslot(start_time=datetime.now(UTC) + timedelta(hours=3))
    assert _reference(slot) is None
    meter = make_meter(meter_id=slot.meter_uuid, partner_reference="arrived-1")
    assert attach_parked([meter.pk]) == 1
    assert _reference(slot) == "arrived-1"
    meter.delete()  # SET_NULL: the timeslot stays, unlinked
    assert DispatchTimeslot.objects.get(pk=slot.pk).meter_id is None
    assert _reference(slot) is None


def test_an_update_of_a_timeslots_content_does_not_look_up_its_meter(db):
    """0010: only an update that changes meter_id or meter_reference pays the meter lookup."""
    meter = make_meter(partner_reference="before")
    other = make_meter(partner_reference="other")
    slot = make_timeslot(meter=meter)
    with connection.cursor() as cur:
        # The meters' trigger off in this test's transaction, to see which writes look one up.
        cur.execute("ALTER TABLE meters_meter DISABLE TRIGGER meter_reference_to_timeslots")
        cur.execute(
            "UPDATE meters_meter SET partner_reference = 'after' WHERE meter_id = %s", [meter.pk]
        )
        # As the dispatch apply updates: content, and meter_id set to the value it has.
        cur.execute(
            "UPDATE dispatch_dispatchtimeslot SET energy_kw = 3, cancelled = true, "
            "meter_id = meter_id WHERE id = %s",
            [slot.pk],
        )
        assert _reference(slot) == "before"  # not looked up
        cur.execute(
            "UPDATE dispatch_dispatchtimeslot SET meter_id = %s WHERE id = %s", [other.pk, slot.pk]
        )
        assert _reference(slot) == "other"
        cur.execute("ALTER TABLE meters_meter ENABLE TRIGGER meter_reference_to_timeslots")
