"""Long work gives way to dispatch (leapportal/priority.py): a full sync waits while deliveries do.

The probe is dispatch's own (`dispatch.inbox.oldest_due`, registered by the app), on real
rows; the clock and the sleep are handed in where the test must not wait for real seconds.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from dispatch.models import DispatchDelivery, DispatchTimeslot
from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer
from leapportal import priority
from meters import actions
from meters.models import SyncRun
from tests.dashboard.factories import make_meter
from tests.hardening.services import queue_workers
from tests.hardening.test_faults import DISPATCH_HEADERS, dispatch_body


def _waiting(seconds_ago: float, n: int = 1) -> list[DispatchDelivery]:
    """Deliveries stored `seconds_ago` (one a millisecond apart), not processed yet."""
    t0 = timezone.now() - timedelta(seconds=seconds_ago)
    return [
        DispatchDelivery.objects.create(
            level="meter",
            body=b"{}",
            body_sha256=DispatchDelivery.hash_body(b"{}"),
            size=2,
            received_at=t0 + timedelta(milliseconds=i),
        )  # fmt: skip
        for i in range(n)
    ]


def _processed(delivery: DispatchDelivery) -> None:
    DispatchDelivery.objects.filter(pk=delivery.pk).update(
        status=DispatchDelivery.Status.PROCESSED, processed_at=timezone.now()
    )


class FakeTime:
    """A monotonic clock that a sleep moves on; `on_sleep` runs at each sleep (the worker's part)."""

    def __init__(self, on_sleep=lambda n: None) -> None:
        self.now, self.sleeps, self.on_sleep = 1000.0, 0, on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        self.on_sleep(self.sleeps)


@pytest.fixture(autouse=True)
def fresh_priority_state():
    """What priority learnt of stuck work in another test does not carry over."""
    priority._seen.clear()
    priority._stuck.clear()
    yield
    priority._seen.clear()
    priority._stuck.clear()


def test_dispatch_registers_its_waiting_deliveries_as_work_that_comes_first():
    from dispatch.inbox import oldest_due

    assert priority._probes["dispatch deliveries"] is oldest_due


@pytest.mark.django_db
def test_the_time_a_delivery_waits_for_the_drains_linger_is_not_dispatch_falling_behind(settings):
    """The drain looks again DISPATCH_DRAIN_LINGER_SECONDS after its last look on purpose: only
    the time a delivery waits beyond that makes the sync give way."""
    from dispatch.inbox import oldest_due, oldest_waiting

    settings.GIVE_WAY_AFTER_SECONDS, settings.DISPATCH_DRAIN_LINGER_SECONDS = 0.5, 0.3
    (delivery,) = _waiting(0.7)  # due 0.4 s ago: within GIVE_WAY_AFTER_SECONDS
    assert oldest_due() == oldest_waiting() + timedelta(seconds=0.3)
    t = FakeTime()
    assert priority.give_way(sleep=t.sleep, clock=t.clock) == 0.0

    # Without a linger the same delivery is 0.7 s behind: the sync waits until it is processed.
    settings.DISPATCH_DRAIN_LINGER_SECONDS = 0
    t = FakeTime(on_sleep=lambda n: _processed(delivery) if n == 2 else None)
    assert priority.give_way(sleep=t.sleep, clock=t.clock) == pytest.approx(
        2 * priority.STEP_SECONDS
    )
    assert oldest_due() is None


@pytest.mark.django_db
def test_nothing_waiting_or_only_fresh_deliveries_cost_no_wait():
    t = FakeTime()
    assert priority.give_way(sleep=t.sleep, clock=t.clock) == 0.0
    _waiting(0.1)  # younger than the linger plus GIVE_WAY_AFTER_SECONDS
    assert priority.give_way(sleep=t.sleep, clock=t.clock) == 0.0
    assert t.sleeps == 0


@pytest.mark.django_db
def test_the_sync_waits_until_the_waiting_delivery_is_processed():
    (delivery,) = _waiting(3.0)
    t = FakeTime(on_sleep=lambda n: _processed(delivery) if n == 4 else None)

    waited = priority.give_way(sleep=t.sleep, clock=t.clock)

    assert t.sleeps == 4
    assert waited == pytest.approx(4 * priority.STEP_SECONDS)
    assert priority.give_way(sleep=t.sleep, clock=t.clock) == 0.0


@pytest.mark.django_db
def test_processed_and_rejected_deliveries_are_not_waited_for():
    (done,) = _waiting(5.0)
    _processed(done)
    DispatchDelivery.objects.create(
        level="meter", body=b"x", body_sha256=DispatchDelivery.hash_body(b"x"), size=1,
        status=DispatchDelivery.Status.REJECTED, received_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    assert priority.give_way(sleep=FakeTime().sleep) == 0.0


@pytest.mark.django_db
def test_a_delivery_that_does_not_move_is_not_waited_for_again_until_it_does(settings):
    settings.GIVE_WAY_STUCK_SECONDS = 2.0
    settings.GIVE_WAY_MAX_SECONDS = 30.0
    first, second = _waiting(5.0, n=2)  # no worker takes them
    t = FakeTime()

    waited = priority.give_way(sleep=t.sleep, clock=t.clock)

    assert waited == pytest.approx(2.0)  # found stuck after GIVE_WAY_STUCK_SECONDS, not 30
    assert priority.give_way(sleep=t.sleep, clock=t.clock) == 0.0  # and not waited for again
    _processed(first)  # it moved: the next oldest is waited for again
    assert priority.give_way(sleep=t.sleep, clock=t.clock) == pytest.approx(2.0)
    assert priority.give_way(sleep=t.sleep, clock=t.clock) == 0.0


@pytest.mark.django_db
def test_work_that_moves_but_stays_behind_is_waited_for_at_most_the_limit(settings):
    settings.GIVE_WAY_MAX_SECONDS = 1.0
    deliveries = _waiting(5.0, n=50)  # a worker takes one per look: it moves, and stays behind
    t = FakeTime(on_sleep=lambda n: _processed(deliveries[n - 1]))

    waited = priority.give_way(sleep=t.sleep, clock=t.clock)

    assert waited == pytest.approx(1.0)
    assert 4 <= t.sleeps <= 6


@pytest.mark.django_db
def test_giving_way_off_and_a_failing_probe_never_hold_the_sync(settings):
    _waiting(5.0)
    settings.GIVE_WAY_AFTER_SECONDS = 0
    assert priority.give_way(sleep=FakeTime().sleep) == 0.0

    settings.GIVE_WAY_AFTER_SECONDS = 0.5
    probes = dict(priority._probes)

    def broken():
        raise ConnectionError("database restarting")

    priority._probes.clear()
    priority.register("broken", broken)
    try:
        assert priority.give_way(sleep=FakeTime().sleep) == 0.0
    finally:
        priority.unregister("broken")
        priority._probes.update(probes)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_full_sync_waits_for_waiting_dispatches_and_says_so_on_sync_health(
    celery_workers, celery_eager_off, client, viewer_client
):
    """Real workers: the sync worker starts a full sync while a delivery waits for the dispatch
    worker, which is not running yet; the sync writes nothing until the dispatch worker has
    processed it, then finishes, and sync health shows the time it gave way."""
    celery_workers.stop()
    celery_workers.purge()
    meter = make_meter()
    event_id = uuid.uuid4()
    response = client.generic(
        "POST", "/dispatch/webhooks/meter", dispatch_body(str(meter.pk), event_id),
        content_type="application/json",
        headers={settings.LEAP_WEBHOOK_HEADER: DISPATCH_HEADERS[settings.LEAP_WEBHOOK_HEADER]},
    )  # fmt: skip
    assert response.status_code == 202
    with SimulatorServer(Simulator(seed=5, meters=100)).serve_in_thread() as server:
        env = {**celery_workers.base_env, "LEAP_BASE_URL": server.url, "LEAP_SIMULATOR": "true",
               "METERS_SYNC_PAGE_SIZE": "20", "METERS_SYNC_FETCH_PROCESS": "false",
               "GIVE_WAY_AFTER_SECONDS": "0.5", "GIVE_WAY_STUCK_SECONDS": "120",
               "GIVE_WAY_MAX_SECONDS": "120"}  # fmt: skip
        sync_worker, dispatch_worker = queue_workers(env, "give-way-")
        try:
            sync_worker.start()
            run = actions.request_sync(SyncRun.Kind.FULL, trigger="test")
            sync_worker.wait_for(
                lambda: SyncRun.objects.get(pk=run.pk).status == "running", timeout=60,
                what="the full sync to start",
            )  # fmt: skip
            time.sleep(3)  # the delivery has waited for seconds: the sync gives way
            held = SyncRun.objects.get(pk=run.pk)
            assert held.status == "running" and held.progress_done == 0
            assert held.created == 0

            dispatch_worker.start()
            dispatch_worker.wait_for(
                lambda: DispatchTimeslot.objects.filter(event_id=event_id).exists(),
                timeout=60, what="the dispatch to be applied",
            )  # fmt: skip
            sync_worker.wait_for(
                # held: the meter made here is not in Leap, so the sync holds its removal
                lambda: SyncRun.objects.get(pk=run.pk).status in ("done", "held"), timeout=120,
                what="the full sync to finish after giving way",
            )  # fmt: skip
        finally:
            sync_worker.stop()
            dispatch_worker.stop()
    run.refresh_from_db()
    assert run.created == 100
    assert run.gave_way_seconds >= 3
    assert run.gave_way_seconds <= run.duration_seconds
    page = viewer_client.get("/meters/sync/").content.decode()
    assert f"{run.gave_way_seconds:.1f} s for dispatch" in page
