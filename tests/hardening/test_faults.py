"""Faults of our own services, each with the real service stopped and started again.

Never the machine's shared PostgreSQL or Redis: each test starts its own throwaway copy of the
service it stops (tests/hardening/services.py), and its own web server (gunicorn) and Celery
worker pointed at it. The Leap simulator is served over HTTP for what needs Leap.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
import psycopg
import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from dispatch.models import DispatchDelivery, DispatchTimeslot
from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer
from leapportal.models import WorkerHeartbeat
from meters.models import WebhookDelivery
from tests.conftest import REPO, CeleryWorker
from tests.dashboard.factories import make_meter
from tests.dispatch import helpers
from tests.hardening.services import (
    ThrowawayPostgres,
    ThrowawayRedis,
    WebServer,
    run_python,
    wait_until,
)

pytestmark = [pytest.mark.worker]

DISPATCH_HEADERS = {
    settings.LEAP_WEBHOOK_HEADER: settings.LEAP_DISPATCH_WEBHOOK_SECRETS[0],
    "content-type": "application/json",
}
METER_HEADERS = {
    settings.LEAP_WEBHOOK_HEADER: settings.LEAP_METER_WEBHOOK_SECRETS[0],
    "content-type": "application/json",
}
_numbers = count(1)


def own_worker(env: dict[str, str], name: str) -> CeleryWorker:
    """A real worker on env's broker and queue (ready by its log: the broker may be ours)."""
    n = next(_numbers)
    return CeleryWorker(
        hostname=f"{name}{n}-{os.getpid()}@{socket.gethostname()}",
        queue=env["CELERY_QUEUE"],
        env=env,
        log_path=REPO / "var" / "test-workers" / f"{name}-{os.getpid()}-{n}.log",
        ready="log",
    )


def fault_env(celery_workers, **extra: str) -> dict[str, str]:
    """The suite's worker environment (test database, tests.settings) with a queue of our own."""
    queue = f"lp-fault-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return {**celery_workers.base_env, "CELERY_QUEUE": queue, **extra}


def dispatch_body(meter_id: str, event_id: uuid.UUID) -> bytes:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=5)
    return json.dumps(
        helpers.meter_notification((meter_id, [helpers.slot(event_id, start=start)]))
    ).encode()


def meter_event_body(meter_id: str) -> bytes:
    return json.dumps({
        "webhook_event_id": str(uuid.uuid4()),
        "payload": {"webhook_event_type": "meter.created", "meter_id": meter_id},
    }).encode()  # fmt: skip


def timeslots_per_event(event_ids) -> Counter:
    return Counter(
        DispatchTimeslot.objects.filter(event_id__in=event_ids).values_list("event_id", flat=True)
    )


# --- Redis ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_webhooks_arriving_while_redis_is_down_get_their_2xx_and_are_processed_once_it_is_back(
    celery_workers,
):
    sim = Simulator(seed=5, meters=30)
    redis = ThrowawayRedis().start()
    web = worker = None
    with SimulatorServer(sim).serve_in_thread() as leap_server:
        env = fault_env(
            celery_workers,
            CELERY_BROKER_URL=redis.url(0),
            LEAP_BASE_URL=leap_server.url,
            LEAP_SIMULATOR="true",
        )
        try:
            web = WebServer(env, name="web-redis").start()
            worker = own_worker(env, "redisfault").start()
            http = httpx.Client(base_url=web.url, timeout=30)
            meters = sim.meter_ids(10)

            # Healthy: a notification and an event go through.
            first = uuid.uuid4()
            r = http.post("/dispatch/webhooks/meter", content=dispatch_body(meters[0], first),
                          headers=DISPATCH_HEADERS)  # fmt: skip
            assert r.status_code == 202, r.text
            r = http.post("/meters/webhooks/leap", content=meter_event_body(meters[0]),
                          headers=METER_HEADERS)  # fmt: skip
            assert r.status_code == 202, r.text
            worker.wait_for(
                lambda: timeslots_per_event([first])[first] == 1
                and WebhookDelivery.objects.filter(status="processed").count() == 1,
                timeout=60, what="the healthy delivery and event to be processed",
            )  # fmt: skip

            redis.stop()
            down_events = [uuid.uuid4() for _ in range(20)]
            answers = []
            for i, event_id in enumerate(down_events):
                started = time.monotonic()
                r = http.post("/dispatch/webhooks/meter",
                              content=dispatch_body(meters[i % 10], event_id),
                              headers=DISPATCH_HEADERS)  # fmt: skip
                answers.append((r.status_code, time.monotonic() - started))
            for meter_id in meters[1:6]:
                started = time.monotonic()
                r = http.post("/meters/webhooks/leap", content=meter_event_body(meter_id),
                              headers=METER_HEADERS)  # fmt: skip
                answers.append((r.status_code, time.monotonic() - started))

            # Every one answered 2xx, quickly (Leap's limit is 10 s), and stored.
            assert [status for status, _ in answers] == [202] * 25, web.log_tail()
            assert max(seconds for _, seconds in answers) < 5
            assert DispatchDelivery.objects.filter(status="received").count() == 20
            assert WebhookDelivery.objects.filter(status="received").count() == 5

            redis.start()  # empty: whatever was queued before is gone, as after a real restart
            # Beat's sweep runs every minute; here once, at once (no grace period).
            out = run_python(
                "from dispatch.tasks import sweep_deliveries; print(sweep_deliveries(0))", env
            )
            assert "'dispatch': 20, 'meter': 5" in out

            def all_processed() -> bool:
                return (
                    not DispatchDelivery.objects.exclude(status="processed").exists()
                    and not WebhookDelivery.objects.exclude(status="processed").exists()
                )

            worker.wait_for(all_processed, timeout=120, what="every delivery to be processed")
            per_event = timeslots_per_event(down_events)
            assert sorted(per_event.values()) == [1] * 20  # nothing lost, nothing twice
        finally:
            for part in (worker, web):
                if part is not None:
                    part.stop()
            redis.close()


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture
def throwaway_postgres(celery_workers):
    """A migrated database on a PostgreSQL cluster of our own; (cluster, env)."""
    pg = ThrowawayPostgres().init().start()
    try:
        pg.create_database("leapportal")
        env = fault_env(celery_workers, DATABASE_URL=pg.url("leapportal"))
        out = run_python(
            "from django.core.management import call_command; "
            "call_command('migrate', verbosity=0, interactive=False)\n"
            "from meters.models import Meter\n"
            "print(Meter.objects.create(meter_id=__import__('uuid').uuid4(), "
            "transmission_region='CAISO').pk)",
            env,
            timeout=600,
        )
        meter_id = out.strip().splitlines()[-1]
        yield pg, env, meter_id
    finally:
        pg.close()


class WebhookTraffic:
    """Threads posting dispatch notifications for one meter until stopped, pausable. Each result is
    (when the request started, its status or 0 without an answer, the event id)."""

    def __init__(self, url: str, meter_id: str, threads: int = 3) -> None:
        self.url, self.meter_id = url, meter_id
        self.results: list[tuple[float, int, uuid.UUID]] = []
        self.stopping = threading.Event()
        self.running = threading.Event()
        self.running.set()
        self.threads = [threading.Thread(target=self._post, daemon=True) for _ in range(threads)]

    def _post(self) -> None:
        http = httpx.Client(base_url=self.url, timeout=30)
        while not self.stopping.is_set():
            self.running.wait()
            event_id = uuid.uuid4()
            sent_at = time.monotonic()  # when the request started, not when it was answered
            try:
                r = http.post("/dispatch/webhooks/meter",
                              content=dispatch_body(self.meter_id, event_id),
                              headers=DISPATCH_HEADERS)  # fmt: skip
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            self.results.append((sent_at, status, event_id))
            time.sleep(0.02)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)


def applied_once(pg: Any, accepted: list[uuid.UUID]) -> int:
    """How many of the accepted events are stored as a timeslot, checking none is stored twice."""
    with psycopg.connect(pg.url("leapportal")) as conn:
        rows = conn.execute(
            "SELECT event_id, count(*) FROM dispatch_dispatchtimeslot GROUP BY event_id"
        ).fetchall()
    counts = {uuid.UUID(str(e)): n for e, n in rows}
    assert all(n == 1 for n in counts.values())
    return sum(1 for e in accepted if counts.get(e) == 1)


def test_postgresql_restarted_under_traffic_loses_no_accepted_webhook(throwaway_postgres):
    pg, env, meter_id = throwaway_postgres
    web = WebServer(env, workers=2, name="web-pg").start()
    worker = own_worker(env, "pgfault").start()
    traffic = WebhookTraffic(web.url, meter_id)
    results = traffic.results
    try:
        traffic.start()
        wait_until(lambda: sum(1 for _, s, _ in results if s == 202) >= 30, timeout=60,
                   what="traffic before the restart")  # fmt: skip
        # 1. A restart while nobody calls (a night-time maintenance): each web process still
        # holds its old connection, and the first request after must not be the one to find out.
        traffic.running.clear()
        time.sleep(1)
        pg.stop("fast")
        pg.start()
        quiet_restart = time.monotonic()
        traffic.running.set()
        wait_until(lambda: sum(1 for at, _, _ in results if at > quiet_restart) >= 30,
                   timeout=60, what="traffic after the quiet restart")  # fmt: skip
        after_quiet = [s for at, s, _ in results if at > quiet_restart]
        assert set(after_quiet) == {202}, (Counter(after_quiet), web.log_tail())
        # 2. A restart under traffic.
        pg.stop("fast")
        time.sleep(2)  # requests meet a database that is down
        pg.start()
        back = time.monotonic()
        wait_until(lambda: sum(1 for at, _, _ in results if at > back + 3) >= 60, timeout=90,
                   what="traffic after the restart")  # fmt: skip
    finally:
        traffic.stop()

    try:
        after = [(s, e) for at, s, e in results if at > back]
        # Once the database is back, no request fails: each process's dead connection is
        # noticed before use (CONN_HEALTH_CHECKS) instead of answering 500.
        assert after and all(s == 202 for s, _ in after), (
            Counter(s for s, _ in after),
            web.log_tail(),
        )
        accepted = [e for _, s, e in results if s == 202]
        refused_while_down = [s for at, s, _ in results if at <= back and s != 202]
        assert len(accepted) > 90

        def every_accepted_applied() -> bool:
            if applied_once(pg, accepted) == len(accepted):
                return True
            # What beat would do every minute: queue again what waits (a drain lost mid-restart).
            run_python("from dispatch.tasks import sweep_deliveries; sweep_deliveries(5)", env)
            return applied_once(pg, accepted) == len(accepted)

        wait_until(every_accepted_applied, timeout=180, interval=3,
                   what=f"all {len(accepted)} accepted notifications applied")  # fmt: skip
        # (Requests refused while the database was down were answered 5xx: Leap retries those.)
        assert all(s >= 500 or s == 0 for s in refused_while_down)
    finally:
        worker.stop()
        web.stop()


# --- a worker killed mid-drain --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_draining_applies_every_delivery_exactly_once(
    celery_workers, celery_eager_off, client
):
    # Small batches, so the drain is in the middle of its work when it is killed. Ready by its
    # log: a solo worker busy draining does not answer pings.
    celery_workers.stop()
    celery_workers.purge()
    worker = own_worker({**celery_workers.base_env, "DISPATCH_PROCESS_BATCH": "1"}, "drainkill")
    meter_id = make_meter().pk
    # 400: at one per batch the killed drain is still at the start (it is killed on its first
    # processed delivery); more only lengthen the restarted drain.
    events = [uuid.uuid4() for _ in range(400)]
    for event_id in events:
        r = client.generic("POST", "/dispatch/webhooks/meter",
                           dispatch_body(str(meter_id), event_id),
                           content_type="application/json",
                           headers={settings.LEAP_WEBHOOK_HEADER: DISPATCH_HEADERS[
                               settings.LEAP_WEBHOOK_HEADER]})  # fmt: skip
        assert r.status_code == 202
    try:
        worker.start()
        worker.wait_for(
            lambda: DispatchDelivery.objects.filter(status="processed").exists(),
            timeout=120, interval=0.02, what="the drain to be under way",
        )  # fmt: skip
        worker.kill()  # SIGKILL, mid-batch
        done_at_kill = DispatchDelivery.objects.filter(status="processed").count()
        assert done_at_kill < len(events), "the drain finished before it could be killed"

        worker.start()
        # The killed drain's message waits for Redis' visibility timeout; beat's sweep (every
        # minute, here at once) queues a new drain for what is still waiting.
        from dispatch import sweep

        sweep.sweep(timedelta(0))
        worker.wait_for(
            lambda: not DispatchDelivery.objects.exclude(status="processed").exists(),
            timeout=180, what="every delivery to be processed after the restart",
        )  # fmt: skip
        per_event = timeslots_per_event(events)
        assert len(per_event) == len(events) and set(per_event.values()) == {1}
        from dispatch.models import DispatchTimeslotVersion

        created = Counter(
            DispatchTimeslotVersion.objects.filter(
                timeslot__event_id__in=events, kind="created"
            ).values_list("timeslot__event_id", flat=True)
        )
        assert set(created.values()) == {1}  # one history "created" entry each: applied once
    finally:
        worker.stop()


# --- beat restarted --------------------------------------------------------------------------------


EVERY = 10  # seconds between the probe's runs


@pytest.mark.django_db(transaction=True)
def test_beat_killed_right_after_sending_does_not_send_the_same_run_again(
    celery_workers, celery_eager_off
):

    worker = celery_workers.get()
    celery_workers.purge()
    PeriodicTask.objects.update(enabled=False)
    every = IntervalSchedule.objects.create(every=EVERY, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="hardening-beat-probe",
        task="leapportal.tasks.record_worker_heartbeat",
        interval=every,
        last_run_at=timezone.now() - timedelta(seconds=2 * EVERY),  # due at once
    )
    planted = PeriodicTask.objects.get(name="hardening-beat-probe").last_run_at
    env = {**celery_workers.base_env}
    log_path = REPO / "var" / "test-workers" / f"beat-{os.getpid()}.log"

    def start_beat() -> subprocess.Popen[bytes]:
        log = log_path.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "leapportal", "beat", "--loglevel=INFO",
             "-S", "django_celery_beat.schedulers:DatabaseScheduler",
             "--pidfile", "", "-s", str(REPO / "var" / f"beat-{os.getpid()}.db")],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        return process

    def beats() -> int:
        return sum(WorkerHeartbeat.objects.values_list("beats", flat=True))

    beat = start_beat()
    try:

        def last_run_at():
            return PeriodicTask.objects.get(name="hardening-beat-probe").last_run_at

        worker.wait_for(lambda: beats() == 1, timeout=90, what="beat's first send")
        first_sent = worker.wait_for(
            lambda: last_run_at() != planted and last_run_at(), timeout=30,
            what="beat to record its first send",
        )  # fmt: skip
        # Beat always saves right after its first send; the second is the one a crash can lose.
        worker.wait_for(lambda: beats() == 2, timeout=90, what="beat's second send")
        os.killpg(beat.pid, 9)  # SIGKILL: no shutdown, no final save
        beat.wait(timeout=10)
        sent_at = last_run_at()
        assert sent_at > first_sent, (
            "the second send was not recorded before beat died: a restarted beat sends it again"
        )

        beat = start_beat()
        # Until the next interval is due, nothing more is sent.
        deadline = sent_at + timedelta(seconds=EVERY - 2)
        while timezone.now() < deadline:
            assert beats() == 2, "beat sent the same run again after its restart"
            time.sleep(0.3)
        worker.wait_for(lambda: beats() == 3, timeout=90, what="the next run, once")
    finally:
        if beat.poll() is None:
            os.killpg(beat.pid, 15)
            beat.wait(timeout=20)
