"""The drain task: batches of waiting deliveries, and the wake-up flag that replaces a publish each."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from dispatch import inbox, tasks, wakeup
from dispatch.models import (
    DispatchAllocation,
    DispatchDelivery,
    DispatchTimeslot,
    DispatchTimeslotVersion,
)
from meters.models import Meter
from tests.dispatch.helpers import T0, meter_notification, post, slot

pytestmark = pytest.mark.django_db


def _mixed_notifications(meters, n=80, seed=7):
    """New events, updates, cancellations and exact redeliveries, overlapping in time."""
    rng = random.Random(seed)
    bodies: list[bytes] = []
    last: dict[str, tuple[uuid.UUID, dict]] = {}  # event id -> (meter, slot as last sent)
    for _ in range(n):
        roll = rng.random()
        if roll < 0.2 and bodies:
            bodies.append(rng.choice(bodies))  # Leap redelivers an earlier body
            continue
        if roll < 0.45 and last:
            picked = rng.sample(sorted(last), min(len(last), rng.randint(1, 3)))
            by_meter: dict[uuid.UUID, list[dict]] = {}
            for event_id in picked:
                meter, previous = last[event_id]
                changed = dict(previous)
                if roll < 0.3:
                    changed["cancelled"] = not previous["cancelled"]  # and reinstated
                else:
                    changed["energy_kw"] = round(rng.uniform(1, 20), 1)
                    changed["priority"] = rng.randint(1, 3)
                last[event_id] = (meter, changed)
                by_meter.setdefault(meter, []).append(changed)
            bodies.append(json.dumps(meter_notification(*by_meter.items())).encode())
            continue
        dispatches = []
        for meter in rng.sample(meters, rng.randint(1, 3)):
            slots = []
            for _ in range(rng.randint(1, 3)):
                start = T0 + timedelta(minutes=30 * rng.randrange(12))
                s = slot(start=start, hours=rng.choice([0.5, 1, 2]), priority=rng.randint(1, 3))
                last[s["meter_event_id"]] = (meter, s)
                slots.append(s)
            dispatches.append((meter, slots))
        bodies.append(json.dumps(meter_notification(*dispatches)).encode())
    return bodies


def _store_all(bodies):
    """Store the bodies as the receiver would, one second apart; returns the deliveries."""
    t0 = timezone.now()
    return [
        DispatchDelivery.objects.create(
            level="meter",
            body=body,
            body_sha256=DispatchDelivery.hash_body(body),
            size=len(body),
            received_at=t0 + timedelta(seconds=i),
        )
        for i, body in enumerate(bodies)
    ]


def _state(deliveries):
    """Everything processing decided, with deliveries named by their position."""
    index = {d.pk: i for i, d in enumerate(deliveries)}
    events = {ts.pk: str(ts.event_id) for ts in DispatchTimeslot.objects.all()}
    slots = {
        str(ts.event_id): (
            ts.meter_uuid,
            ts.start_time,
            ts.end_time,
            ts.cancelled,
            ts.energy_kw,
            ts.priority,
            ts.version,
            ts.content_hash,
            ts.raw,
            index[ts.first_delivery_id],
            index[ts.last_delivery_id],
        )
        for ts in DispatchTimeslot.objects.all()
    }
    versions = sorted(
        (events[v.timeslot_id], v.version, v.kind, index[v.delivery_id], v.changes, v.snapshot)
        for v in DispatchTimeslotVersion.objects.all()
    )
    allocations = sorted(
        (
            events[a.timeslot_id],
            str(a.meter_uuid),
            a.share_kw,
            a.followed,
            events.get(a.overruled_by_id),
            a.reason,
            sorted(a.flags),
        )
        for a in DispatchAllocation.objects.all()
    )
    outcomes = []
    for d in DispatchDelivery.objects.filter(pk__in=index).order_by("received_at"):
        duplicate_of = index.get(d.duplicate_of_id)
        outcomes.append((d.status, d.summary, d.error, duplicate_of))
    return slots, versions, allocations, outcomes


def _wipe():
    DispatchTimeslot.objects.all().delete()  # versions and allocations go with them
    DispatchDelivery.objects.all().delete()


def test_a_drain_in_batches_gives_exactly_the_state_of_one_by_one_processing(make_meter):
    meters = [make_meter().pk for _ in range(4)]
    bodies = _mixed_notifications(meters)

    one_by_one = _store_all(bodies)
    for d in one_by_one:
        inbox.process_delivery(d.pk, batch_size=1)
    expected = _state(one_by_one)
    _wipe()
    batched = _store_all(bodies)
    drained = inbox.process_waiting(batch_size=25)

    assert drained == (len(bodies), [], True)
    assert _state(batched) == expected
    slots, versions, allocations, outcomes = expected
    # The mix really covered every case.
    assert {o[0] for o in outcomes} == {"processed", "duplicate"}
    assert {v[2] for v in versions} >= {"created", "updated", "cancelled"}
    assert any(not a[3] and a[4] for a in allocations)  # some meter has a conflict


def test_the_drain_clears_the_flag_before_its_last_look(make_meter):
    """A receiver that found the flag set does not publish: the drain's last look must see it."""
    meter = make_meter()
    first = _store_all([json.dumps(meter_notification((meter.pk, [slot()]))).encode()])[0]
    late: list[DispatchDelivery] = []
    calls: list[str] = []

    def clear_pending():
        calls.append("clear")
        if not late:  # a notification stored while the drain thought it was done
            late.append(
                _store_all([json.dumps(meter_notification((meter.pk, [slot()]))).encode()])[0]
            )

    drained = inbox.process_waiting(
        keep_pending=lambda: calls.append("keep"), clear_pending=clear_pending
    )

    assert drained == (2, [], True)
    for d in (first, late[0]):
        d.refresh_from_db()
        assert d.status == "processed"
    # Cleared, found the late one, kept the flag while working, cleared again, looked: nothing.
    assert calls == ["keep", "keep", "clear", "keep", "clear"]


def test_a_failing_batch_is_handed_on_and_the_rest_drained(make_meter, monkeypatch):
    meter = make_meter()
    bad, good = _store_all(
        [json.dumps(meter_notification((meter.pk, [slot()]))).encode() for _ in range(2)]
    )
    real = inbox._apply_deliveries

    def flaky(batch):
        if any(d.pk == bad.pk for d in batch):
            raise RuntimeError("deadlock detected")
        return real(batch)

    monkeypatch.setattr(inbox, "_apply_deliveries", flaky)
    drained = inbox.process_waiting(batch_size=1)

    assert drained == (1, [bad.pk], True)
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, bad.status) == ("processed", "received")  # for process_delivery's retries


def test_a_long_drain_stops_between_batches_and_hands_over_with_the_flag_set(make_meter):
    meter = make_meter()
    first, second = _store_all(
        [json.dumps(meter_notification((meter.pk, [slot()]))).encode() for _ in range(2)]
    )
    calls: list[str] = []

    drained = inbox.process_waiting(
        batch_size=1,
        keep_pending=lambda: calls.append("keep"),
        clear_pending=lambda: calls.append("clear"),
        max_seconds=0,
    )

    assert drained == (1, [], False)
    assert calls == ["keep", "keep"]  # never cleared: receivers rely on the next drain
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("processed", "received")


def test_the_drain_task_starts_the_next_drain_when_it_stops_early(
    make_meter, monkeypatch, settings
):
    meter = make_meter()
    _store_all([json.dumps(meter_notification((meter.pk, [slot()]))).encode() for _ in range(3)])
    monkeypatch.setattr(tasks, "DRAIN_SECONDS", 0)
    settings.DISPATCH_PROCESS_BATCH = 1

    tasks.drain_deliveries.apply()  # eager: each hand-over runs at once

    assert not DispatchDelivery.objects.filter(status="received").exists()


@pytest.fixture
def published(monkeypatch, celery_eager_off):
    """Counts drain tasks published, with the flag in the test broker's Redis (eager off)."""
    calls: list[None] = []
    monkeypatch.setattr(tasks.drain_deliveries, "delay", lambda: calls.append(None))
    wakeup.forget()
    yield calls
    wakeup.forget()


def test_receivers_publish_once_while_a_drain_is_pending(published, client, make_meter):
    if wakeup._redis() is None:
        pytest.skip("the wake-up flag needs a Redis broker")
    meter = make_meter()
    for _ in range(5):
        assert post(client, meter_notification((meter.pk, [slot()]))).status_code == 202
        wakeup.request_drain()  # what the receiver does on commit (the test holds a transaction)
    assert len(published) == 1 and wakeup.is_pending()

    wakeup.clear_pending()  # the drain's last look begins: the next receiver must publish
    wakeup.request_drain()
    assert len(published) == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_burst_of_notifications_is_all_processed_by_the_real_worker(celery_worker, client):
    """Concurrent receivers and real drain tasks: nothing is left waiting."""
    meters = [
        Meter.objects.create(meter_id=uuid.uuid4(), global_enrollment_status="ACTIVE").pk
        for _ in range(3)
    ]
    bodies = _mixed_notifications(meters, n=120, seed=11)
    answers: list[int] = []

    def send(chunk):
        own = Client()
        try:
            for body in chunk:
                answers.append(post(own, None, raw=body).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(bodies[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert answers.count(202) == len(bodies)
    celery_worker.wait_for(lambda: not DispatchDelivery.objects.filter(status="received").exists())
    statuses = set(DispatchDelivery.objects.values_list("status", flat=True))
    assert statuses <= {"processed", "duplicate"}
    # Once the drain has ended, the next notification wakes a new one.
    celery_worker.wait_for(lambda: not wakeup.is_pending())
    late = post(client, meter_notification((meters[0], [slot()]))).json()["delivery_id"]
    celery_worker.wait_for(lambda: DispatchDelivery.objects.get(pk=late).status == "processed")


def test_after_a_batch_that_emptied_the_queue_the_drain_lingers_for_what_arrives(
    make_meter, monkeypatch
):
    meter = make_meter()

    def body() -> bytes:
        return json.dumps(meter_notification((meter.pk, [slot()]))).encode()

    _store_all([body()])
    batches: list[int] = []
    real = inbox._apply_deliveries

    def counted(batch):
        batches.append(len(batch))
        real(batch)

    monkeypatch.setattr(inbox, "_apply_deliveries", counted)
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # notifications arrive while the drain waits
        waits.append(seconds)
        if len(waits) == 1:
            _store_all([body() for _ in range(3)])

    drained = inbox.process_waiting(batch_size=10, linger=0.25, sleep=sleep)

    assert drained == (4, [], True)
    assert batches == [1, 3]  # what arrived meanwhile went in one transaction
    assert len(waits) == 2 and all(0 < w <= 0.25 for w in waits)
    assert not DispatchDelivery.objects.filter(status="received").exists()


def test_a_backlog_is_drained_without_lingering(make_meter):
    meter = make_meter()
    _store_all([json.dumps(meter_notification((meter.pk, [slot()]))).encode() for _ in range(3)])
    waits: list[float] = []

    drained = inbox.process_waiting(batch_size=2, linger=5, sleep=waits.append)

    assert drained == (3, [], True)
    assert len(waits) == 1  # only after the last, short batch; not between full ones


def test_the_drain_task_run_eagerly_never_lingers(make_meter, settings):
    """Eager, the drain runs inside the receiver's request: Leap must not wait for it."""
    settings.DISPATCH_DRAIN_LINGER_SECONDS = 30
    meter = make_meter()
    _store_all([json.dumps(meter_notification((meter.pk, [slot()]))).encode()])
    started = time.monotonic()

    tasks.drain_deliveries.apply()

    assert time.monotonic() - started < 10
    assert not DispatchDelivery.objects.filter(status="received").exists()
