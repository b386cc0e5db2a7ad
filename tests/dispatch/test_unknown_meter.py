"""An event for a meter we do not have: parked, shown, resync requested, attached on arrival."""

from __future__ import annotations

import uuid

import pytest

from dispatch import apply, parked
from dispatch.models import DispatchAllocation, DispatchDelivery, DispatchTimeslot
from meters import models as meter_models
from meters.models import MarketGroup, Meter, SyncRun
from tests.dispatch.helpers import group_notification, meter_notification, slot

pytestmark = pytest.mark.django_db


def test_an_unknown_meter_is_parked_resynced_through_leap_and_attached(
    leap_sim, deliver, django_capture_on_commit_callbacks
):
    meter_id = uuid.UUID(leap_sim.meter_ids(1)[0])  # Leap has it; we do not (yet)
    event = uuid.uuid4()
    deliver(meter_notification((meter_id, [slot(event)])))

    delivery = DispatchDelivery.objects.get()
    assert delivery.status == "processed"
    assert delivery.summary["unknown_meters"] == [str(meter_id)]
    # The resync was requested from the meter sync, which fetched the meter from Leap.
    run = SyncRun.objects.get(kind="meter", meter_id=meter_id)
    assert run.requested_by is None
    assert Meter.objects.filter(pk=meter_id).exists()
    with django_capture_on_commit_callbacks(execute=True):
        parked.attach_parked()  # the beat sweep, for meters a sync inserted without signals

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.meter_id == meter_id and not DispatchTimeslot.objects.parked().exists()
    assert ts.versions.filter(kind__in=["attached", "created"]).count() >= 1


def test_a_parked_event_is_shown_and_attached_when_the_meter_is_created(
    deliver, django_capture_on_commit_callbacks, monkeypatch
):
    # The meter sync would fetch it from Leap; here the meter is created directly afterwards.
    monkeypatch.setattr(apply, "_request_resync", lambda ids: None)
    meter_id, event = uuid.uuid4(), uuid.uuid4()
    deliver(meter_notification((meter_id, [slot(event)])))
    parked = DispatchTimeslot.objects.parked().get()
    assert parked.event_id == event and parked.is_parked and parked.meter_uuid == meter_id
    assert parked.allocations.get().flags == ["unknown_meter"]

    with django_capture_on_commit_callbacks(execute=True):
        meter_models.Meter.objects.create(meter_id=meter_id, global_enrollment_status="ACTIVE")

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.meter_id == meter_id
    assert ts.versions.filter(kind="attached").exists()
    alloc = ts.allocations.get()
    assert alloc.meter_id == meter_id and alloc.flags == []


def test_a_group_member_we_did_not_have_is_replanned_when_it_arrives(
    deliver, django_capture_on_commit_callbacks, make_meter
):
    group = MarketGroup.objects.create(market_group_id=uuid.uuid4())
    known, later = make_meter(), uuid.uuid4()
    deliver(
        group_notification(group.pk, [known.pk, later], [slot(level="group", energy_kw=10.0)]),
        level="group",
    )
    assert DispatchAllocation.objects.get(meter_uuid=later).share_kw == 0.0

    with django_capture_on_commit_callbacks(execute=True):
        Meter.objects.create(meter_id=later, global_enrollment_status="ACTIVE")

    shares = dict(DispatchAllocation.objects.values_list("meter_uuid", "share_kw"))
    assert shares == {known.pk: 5.0, later: 5.0}
