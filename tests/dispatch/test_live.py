"""End to end over HTTP: the simulator POSTs to our receiver served by live_server."""

from __future__ import annotations

import uuid

import pytest

import leap
from dispatch.models import DispatchDelivery, DispatchTimeslot
from dispatch.receiver_registration import register_receivers
from meters.models import Meter


@pytest.mark.django_db(transaction=True)
def test_leap_delivers_over_http_and_updates_and_cancels_arrive(leap_sim, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    meter_ids = leap_sim.meter_ids(2)
    for meter_id in meter_ids:
        Meter.objects.create(meter_id=uuid.UUID(meter_id), global_enrollment_status="ACTIVE")
    with leap.get_client() as client:
        results = register_receivers(client, send_test=False)
    assert all(r.ok for r in results)

    first, second = leap_sim.create_dispatch(meter_ids=meter_ids, program="CCA", energy_kw=4.0)
    outcomes = leap_sim.deliver_due()
    leap_sim.update_dispatch(first, energy_kw=2.5)
    leap_sim.cancel_dispatch(second)
    outcomes += leap_sim.deliver_due()

    assert [o.status for _, o in outcomes] == [202, 202, 202]
    assert DispatchDelivery.objects.filter(status="processed").count() == 3
    assert DispatchTimeslot.objects.get(event_id=first).energy_kw == 2.5
    assert DispatchTimeslot.objects.get(event_id=second).cancelled
