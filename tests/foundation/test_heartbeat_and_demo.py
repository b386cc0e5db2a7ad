"""The worker heartbeat, and the demo's logins and seeding."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from dispatch.models import DispatchTimeslot
from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer
from leapportal import roles
from leapportal.demo import SeedStep, ensure_demo_logins, seed_demo
from leapportal.heartbeat import last_worker_seen, record_heartbeat, worker_is_stale
from leapportal.models import WorkerHeartbeat
from leapportal.tasks import record_worker_heartbeat
from meters.models import Meter

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)


def test_a_heartbeat_creates_then_updates_one_row_per_worker():
    record_heartbeat("celery@a", now=T0)
    record_heartbeat("celery@a", now=T0 + timedelta(minutes=1))
    record_heartbeat("celery@b", now=T0 + timedelta(seconds=30))

    a = WorkerHeartbeat.objects.get(hostname="celery@a")
    assert (a.first_seen_at, a.last_seen_at, a.beats) == (T0, T0 + timedelta(minutes=1), 2)
    assert last_worker_seen() == a


def test_a_late_old_beat_does_not_move_the_clock_back():
    record_heartbeat("celery@a", now=T0 + timedelta(minutes=5))
    record_heartbeat("celery@a", now=T0)  # redelivered late

    a = WorkerHeartbeat.objects.get(hostname="celery@a")
    assert (a.last_seen_at, a.beats) == (T0 + timedelta(minutes=5), 2)


def test_a_worker_is_stale_after_three_missed_beats(settings):
    settings.WORKER_HEARTBEAT_SECONDS = 60
    assert worker_is_stale(now=T0)  # never seen
    record_heartbeat("celery@a", now=T0)
    assert not worker_is_stale(now=T0 + timedelta(seconds=180))
    assert worker_is_stale(now=T0 + timedelta(seconds=181))


def test_the_heartbeat_task_names_the_worker_that_ran_it():
    hostname = record_worker_heartbeat.apply().get()
    assert WorkerHeartbeat.objects.get(hostname=hostname).beats == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_beats_as_soon_as_it_is_ready(celery_workers, celery_eager_off):
    # A worker of its own with the start-up beat on (the suite's workers have it off); beat is
    # not running and nothing is sent to the worker: the row can only come from the start-up.
    worker = celery_workers.get(extra_env={"WORKER_STARTUP_HEARTBEAT": "true"})
    try:
        beat = worker.wait_for(
            lambda: WorkerHeartbeat.objects.filter(hostname=worker.hostname).first(),
            timeout=30,
            what="the worker's first heartbeat",
        )
        assert beat.beats == 1
        assert not worker_is_stale()
    finally:
        celery_workers.stop()


def test_demo_logins_give_one_working_login_per_role_and_reset_on_rerun():
    first = ensure_demo_logins()
    second = ensure_demo_logins()

    assert [login.username for login in second] == ["viewer", "operator", "admin"]
    assert {a.password for a in first}.isdisjoint({b.password for b in second})
    for login in second:
        user = authenticate(username=login.username, password=login.password)
        assert user is not None and [g.name for g in user.groups.all()] == [login.role]
        assert user.is_superuser is (login.role == roles.ADMIN)
    assert authenticate(username="viewer", password=first[0].password) is None


def test_the_demo_logins_command_prints_the_logins(capsys):
    call_command("demo_logins", "--password", "demo-pass-123")
    out = capsys.readouterr().out
    assert "viewer    username viewer    password demo-pass-123" in out
    assert "(also a superuser)" in out
    assert authenticate(username="operator", password="demo-pass-123") is not None


def test_seed_demo_runs_available_steps_and_says_which_are_missing():
    report = seed_demo(
        [
            SeedStep("heartbeat", "leapportal.tasks.record_worker_heartbeat"),
            SeedStep("not built yet", "nosuchapp.tasks.sync"),
            SeedStep("no such command", "nosuchcommand", kind="command"),
        ]
    )
    assert report.ran == [f"heartbeat: {WorkerHeartbeat.objects.get().hostname}"]
    assert report.skipped == [
        "not built yet: nosuchapp.tasks.sync is not in this checkout yet",
        "no such command: nosuchcommand is not in this checkout yet",
    ]
    assert WorkerHeartbeat.objects.count() == 1


def test_seed_demo_refuses_a_real_leap(settings):
    settings.LEAP_SIMULATOR = False
    with pytest.raises(CommandError, match="only talks to the Leap simulator"):
        call_command("seed_demo")


@pytest.mark.django_db(transaction=True)  # the steps enqueue on commit; eager runs them then
def test_seed_demo_fills_the_database_through_a_simulator_served_over_http(settings, monkeypatch):
    """What `make demo` does between starting the simulator and the web server."""
    sim = Simulator(seed=42, meters=30, admin_token="demo-admin-token-for-tests")
    server = SimulatorServer(sim, "127.0.0.1", 0).serve_in_thread()
    try:
        settings.LEAP_SIMULATOR = True
        settings.LEAP_BASE_URL = server.url
        settings.LEAP_API_KEY = sim.api_key
        monkeypatch.setenv("LEAP_SIMULATOR_ADMIN_TOKEN", sim.admin_token)

        call_command("seed_demo", stdout=(out := StringIO()))
    finally:
        server.stop()

    text = out.getvalue()
    # Groups that deliver today, with members that day, and ACTIVE meters (issue 12).
    assert re.search(
        r"seeded: demo dispatches created in the simulator: \d+ dispatch events for [1-9]\d* "
        r"market groups and 4 meters",
        text,
    ), text
    assert "seeded: dispatch reconcile" in text
    assert "dispatch.DispatchTimeslot" in text  # the reconcile poll stored what Leap dispatched
    assert DispatchTimeslot.objects.count() >= 3
    assert "seeded: full meter sync" in text
    assert Meter.objects.count() == 30  # every meter the simulator holds
    assert sim.requests.count("POST /v2/dispatch/group/search") >= 1
