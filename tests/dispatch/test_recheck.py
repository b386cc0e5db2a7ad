"""A cancelled event that a body would bring back, when Leap's search cannot be reached."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from celery.exceptions import Retry

from dispatch import tasks
from dispatch.models import DispatchTimeslot
from tests.dispatch.helpers import T0

pytestmark = pytest.mark.django_db


@pytest.mark.leap_sim(meters=5, changes_per_hour=0)
def test_leap_unreachable_keeps_the_event_cancelled_until_the_reconcile_poll_hears_leap(
    leap_sim, deliver, make_meter, viewer_client
):
    meter = make_meter(uuid.UUID(leap_sim.meter_ids()[0]))
    start = T0 - timedelta(days=2)  # within the reconcile poll's 48 hours ahead
    (event_id,) = leap_sim.create_dispatch(
        meter_ids=[str(meter.pk)], start=start, end=start + timedelta(hours=1), notify=False
    )
    original = leap_sim.notification([leap_sim.dispatches[event_id]])
    leap_sim.cancel_dispatch(event_id)
    deliver(leap_sim.notification([leap_sim.dispatches[event_id]]))  # a tombstone

    leap_sim.faults.add("500", times=1000, path="/v2/dispatch/meter/search")
    # Held; the check meets a Leap 500 and asks to be retried (an eager task raises Celery's
    # Retry; a worker schedules it with its countdown).
    with pytest.raises(Retry):
        deliver(original)
    ts = DispatchTimeslot.objects.get(event_id=event_id)
    assert (ts.recheck, ts.cancelled) == ("pending", True)
    # The last retry meets Leap down as well: the task gives up.
    assert tasks.recheck_timeslot.apply(args=[ts.pk], retries=5).get() == "failed"

    ts.refresh_from_db()
    assert (ts.recheck, ts.cancelled) == ("failed", True)
    assert "Leap unreachable" in ts.recheck_note
    assert not ts.allocations.get().followed
    page = viewer_client.get("/meters/sync/").content.decode()
    assert str(event_id)[:8] in page and "Leap unreachable" in page

    # Leap answers again and lists the event active: the reconcile poll brings it back.
    leap_sim.faults.clear()
    leap_sim.update_dispatch(event_id, cancelled=False)
    tasks.reconcile_dispatches.apply()
    ts.refresh_from_db()
    assert (ts.cancelled, ts.recheck) == (False, "confirmed")
    assert ts.allocations.get().followed
