"""Reconciling with Leap's dispatch searches, through the simulator and the real client."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

import leap
from dispatch import reconcile, tasks
from dispatch.models import (
    DispatchDelivery,
    DispatchTimeslot,
    ReconcileFinding,
    ReconcileRun,
    RejectedTimeslot,
)
from dispatch.receiver_registration import receiver_url
from leap.simulator.testing import django_sender

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(leap_sim, make_meter):
    """The simulator with its first three meters in our portfolio too."""
    for meter_id in leap_sim.meter_ids(3):
        make_meter(uuid.UUID(meter_id))
    return leap_sim


@pytest.fixture
def webhooks_on(sim, client, leap_sim_django_sender, settings, django_capture_on_commit_callbacks):
    """Leap's dispatch webhooks registered at our receivers, delivered through the test client."""
    sim.deliver_to = leap_sim_django_sender(client)
    secret = settings.LEAP_DISPATCH_WEBHOOK_SECRETS[0]
    for level in ("meter", "group"):
        sim.set_dispatch_webhook(level, receiver_url(level), {settings.LEAP_WEBHOOK_HEADER: secret})

    def deliver():
        with django_capture_on_commit_callbacks(execute=True):
            return sim.deliver_due()

    return deliver


def run_reconcile():
    with leap.get_client() as client:
        return reconcile.reconcile(client)


def test_an_event_seen_only_by_polling_is_a_missed_webhook(sim):
    meter_id = sim.meter_ids(1)[0]
    (event,) = sim.create_dispatch(meter_ids=[meter_id], program="CCA")  # no webhook registered

    run = run_reconcile()

    assert run.status == "done"
    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.first_source == "poll" and str(ts.meter_id) == meter_id
    finding = ReconcileFinding.objects.get()
    assert finding.kind == "missed_webhook" and finding.timeslot == ts and finding.run == run
    poll = DispatchDelivery.objects.get()
    assert poll.source == "poll" and poll.status == "processed"
    assert ts.versions.get().delivery == poll and ts.versions.get().reconcile_run == run
    assert run.counts["missed_webhook"] == 1 and run.counts["applied"] == 1
    assert sim.requests.count("POST /v2/dispatch/meter/search") >= 1
    assert sim.requests.count("POST /v2/dispatch/group/search") >= 1


def test_a_value_that_differs_from_the_webhook_is_recorded_and_corrected(sim, webhooks_on):
    meter_id = sim.meter_ids(1)[0]
    (event,) = sim.create_dispatch(meter_ids=[meter_id], program="CCA", energy_kw=5.0)
    webhooks_on()
    assert DispatchTimeslot.objects.get(event_id=event).energy_kw == 5.0

    sim.dispatch_webhooks.clear()  # the update's webhook is lost
    sim.update_dispatch(event, energy_kw=3.5)
    run = run_reconcile()

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.energy_kw == 3.5 and ts.version == 2
    finding = ReconcileFinding.objects.get()
    assert finding.kind == "value_differs"
    assert finding.differences["energy_kw"] == [5.0, 3.5]
    assert ts.versions.get(version=2).source == "poll"
    assert run.counts == {"seen": 1, "value_differs": 1, "applied": 1}


def test_agreeing_with_the_webhooks_writes_nothing(sim, webhooks_on):
    sim.create_dispatch(meter_ids=sim.meter_ids(2), program="CCA")
    webhooks_on()
    deliveries = DispatchDelivery.objects.count()

    run = run_reconcile()

    assert run.counts == {"seen": 2}
    assert not ReconcileFinding.objects.exists()
    assert DispatchDelivery.objects.count() == deliveries


def test_group_dispatches_are_reconciled_too(sim):
    group_id = next(iter(sim.market_groups))
    (event,) = sim.create_dispatch(market_group_id=group_id)

    run_reconcile()

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.level == "group" and str(ts.market_group_uuid) == group_id
    assert ts.group_meter_ids and ts.allocations.count() == len(ts.group_meter_ids)
    assert ReconcileFinding.objects.get().kind == "missed_webhook"


def test_an_event_waiting_in_the_inbox_is_not_a_missed_webhook(sim, client, settings):
    meter_id = sim.meter_ids(1)[0]
    sim.deliver_to = django_sender(client)  # posted, but processing never ran (no on-commit)
    sim.set_dispatch_webhook(
        "meter",
        receiver_url("meter"),
        {settings.LEAP_WEBHOOK_HEADER: settings.LEAP_DISPATCH_WEBHOOK_SECRETS[0]},
    )
    sim.create_dispatch(meter_ids=[meter_id], program="CCA")
    sim.deliver_due()
    assert DispatchDelivery.objects.get().status == "received"

    run = run_reconcile()

    assert run.counts == {"seen": 1, "queued": 1}
    assert not ReconcileFinding.objects.exists()


def test_leap_unavailable_fails_the_run_visibly_and_the_next_one_works(sim):
    sim.create_dispatch(meter_ids=sim.meter_ids(1), program="CCA")
    sim.faults.add("500", times=20)

    failed = run_reconcile()

    assert failed.status == "failed" and "LeapUnavailable" in failed.error
    sim.faults.clear()
    assert run_reconcile().status == "done"
    assert DispatchTimeslot.objects.count() == 1


def test_only_one_run_at_a_time_and_an_abandoned_one_is_released(sim):
    stuck = ReconcileRun.objects.create(
        started_at=timezone.now() - timedelta(minutes=30),
        window_start=timezone.now(),
        window_end=timezone.now(),
    )
    assert run_reconcile().status == "done"
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "abandoned" in stuck.error

    ReconcileRun.objects.create(window_start=timezone.now(), window_end=timezone.now())
    assert run_reconcile() is None


def test_the_beat_task_polls_and_sweeps(sim):
    body = b'{"meter_dispatches": []}'
    old = DispatchDelivery.objects.create(
        level="meter",
        body=body,
        body_sha256=DispatchDelivery.hash_body(body),
        received_at=timezone.now() - timedelta(minutes=5),
    )
    sim.create_dispatch(meter_ids=sim.meter_ids(1), program="CCA")

    counts = tasks.reconcile_dispatches.apply().get()

    assert counts["missed_webhook"] == 1
    # The sweep is a beat entry of its own (it must run while Leap is down too).
    assert tasks.sweep_deliveries.apply().get() == {"dispatch": 1, "meter": 0}
    old.refresh_from_db()
    assert old.status == "processed"  # its lost task was queued again


@pytest.mark.leap_sim(meters=5, changes_per_hour=0, validate=False)  # Leap sends a bad program
def test_a_polled_timeslot_that_breaks_leaps_rules_is_kept_aside_not_applied(leap_sim):

    start = timezone.now().replace(microsecond=0) + timedelta(hours=3)
    good, bad = (
        leap_sim.create_dispatch(meter_ids=[m], start=start, notify=False, **fields)[0]
        for m, fields in zip(leap_sim.meter_ids(2), [{}, {"programs": ["NOT-A-PROGRAM"]}], strict=True)
    )  # fmt: skip

    run = run_reconcile()

    assert DispatchTimeslot.objects.filter(event_id=good).exists()
    assert not DispatchTimeslot.objects.filter(event_id=bad).exists()
    rejected = RejectedTimeslot.objects.get()
    assert str(rejected.event_id) == bad and "unknown program NOT-A-PROGRAM" in rejected.errors[0]
    assert rejected.delivery.source == "poll" and run.status == "done"
