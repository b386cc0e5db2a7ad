"""The full sync's fetch process (meters.sync.speed.FetchProcess), against the simulator over HTTP.

A client that talks to the real network can be rebuilt in another process; the full sync then
fetches, validates and prepares each search there and plans and writes here. These tests serve
the simulator over loopback (the process cannot share an in-process transport) and check that
the process path leaves exactly what the in-process path does, that Leap's faults are retried
there and counted here, and that the child's failures and deaths reach the run with their
reason.
"""

from __future__ import annotations

import gc
import sys
import time

import pytest
from django.conf import settings

import leap
from leap.client import ClientStats, LeapClient
from leap.errors import LeapRejected
from leap.simulator import DEFAULT_API_KEY, Simulator
from leap.simulator.server import SimulatorServer
from meters.models import Meter, ReasonCode, SyncFailure, SyncRun
from meters.sync import engine
from meters.sync.speed import FetchProcess, FetchProcessDied, PausedGC, threads
from tests.meters.test_pipeline import NOW, run, two_syncs, wipe

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def served(settings):
    """A simulator served over loopback, and settings pointing the client at it."""
    servers = []

    def serve(sim: Simulator) -> Simulator:
        server = SimulatorServer(sim).serve_in_thread()
        servers.append(server)
        settings.LEAP_BASE_URL = server.url
        settings.LEAP_API_KEY = DEFAULT_API_KEY
        return sim

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture
def spawned(monkeypatch):
    """The streams each full sync opened, by kind: ["process"] or ["threads"], in order."""
    opened: list[str] = []
    original = engine.open_search

    def spy(client, stream, filters, size, *, full=False, after=None):
        result = original(client, stream, filters, size, full=full, after=after)
        opened.append("process" if isinstance(result, FetchProcess) else "threads")
        return result

    monkeypatch.setattr(engine, "open_search", spy)
    return opened


def test_the_fetch_process_leaves_what_fetching_in_threads_does(served, spawned, settings):
    settings.METERS_SYNC_PAGE_SIZE = 9  # several pages a search, a short last one
    catalogue = set(ReasonCode.objects.values_list("code", flat=True))

    settings.METERS_SYNC_FETCH_PROCESS = True
    through_process = two_syncs(served(Simulator(meters=60, seed=11, now=NOW)))
    assert spawned and set(spawned) == {"process"}
    wipe(catalogue)
    spawned.clear()

    settings.METERS_SYNC_FETCH_PROCESS = False
    in_threads = two_syncs(served(Simulator(meters=60, seed=11, now=NOW)))
    assert spawned and set(spawned) == {"threads"}

    assert through_process["counts"] == in_threads["counts"]
    assert through_process["counts"][0][1] > 0, "the second sync should have seen changes"
    for label, rows in in_threads.items():
        assert through_process[label] == rows, f"{label} differs between process and threads"
    assert Meter.objects.filter(missing_since__isnull=False).count() == 1


def test_what_the_process_passed_unvalidated_is_counted_on_the_run_and_shown(
    served, spawned, settings, viewer_client
):
    """Known.match runs in the fetch process; the run counts what reached it without data."""
    settings.METERS_SYNC_FETCH_PROCESS = True
    served(Simulator(meters=25, seed=3, now=NOW, changes_per_hour=0))
    first = run(SyncRun.Kind.FULL)
    again = run(SyncRun.Kind.FULL)

    assert spawned == ["process"] * 4
    assert (first.status, again.status) == (SyncRun.Status.DONE, SyncRun.Status.DONE)
    assert (first.unvalidated, again.unvalidated, again.unchanged) == (0, 50, 25)
    page = viewer_client.get("/meters/sync/").content.decode()
    assert "50 as stored" in page
    progress = viewer_client.get(f"/meters/sync/runs/{again.pk}/").content.decode()
    assert "50 objects exactly as stored, not validated again" in progress


@pytest.mark.parametrize("fault", ["429", "500", "torn", "drop"])
def test_faults_are_retried_in_the_process_and_counted_on_the_callers_client(
    served, spawned, settings, fault
):
    settings.METERS_SYNC_PAGE_SIZE = 10
    sim = served(Simulator(meters=30, seed=4, now=NOW, changes_per_hour=0))
    options = {"retry_after": 0} if fault == "429" else {}
    sim.faults.add(fault, times=2, path="/v2/meters/enrollments/search", **options)
    stats = ClientStats()

    sync_run = SyncRun.objects.create(kind=SyncRun.Kind.FULL, status=SyncRun.Status.RUNNING)
    with leap.get_client(stats=stats) as client:
        done = engine.execute(client, sync_run)

    assert done.status == SyncRun.Status.DONE, done.error
    assert spawned == ["process", "process"]
    assert [kind for kind, _, _ in sim.faults.fired] == [fault, fault]
    assert Meter.objects.exclude(enrollment_hash="").count() == 30
    # 3 pages of details and 3 of enrollments, plus the two failed attempts.
    assert stats.requests == 8 and stats.retries == 2 and stats.failures == 2
    assert stats.last_error and stats.last_status == 200


def test_an_expired_page_token_restarts_the_search_in_a_new_process(served, spawned, settings):
    settings.METERS_SYNC_PAGE_SIZE = 10
    sim = served(Simulator(meters=40, seed=4, now=NOW, changes_per_hour=0))
    sim.faults.add("expired_token", times=1, path="/v2/meters/enrollments/search")

    done = run(SyncRun.Kind.FULL)

    assert done.status == SyncRun.Status.DONE, done.error
    assert spawned == ["process", "process", "process"]  # details, enrollments, enrollments again
    assert ("expired_token", "POST", "/v2/meters/enrollments/search") in sim.faults.fired
    assert Meter.objects.exclude(enrollment_hash="").count() == 40


def test_objects_that_do_not_validate_cross_the_pipe_and_are_kept(served, settings):
    settings.METERS_SYNC_PAGE_SIZE = 10
    sim = served(Simulator(meters=20, seed=4, now=NOW, changes_per_hour=0))
    victim = sim.meter_ids()[5]
    sim.meter(victim).details["customer"] = "not an object"  # outside Leap's contract

    done = run(SyncRun.Kind.FULL)

    assert done.status == SyncRun.Status.DONE, done.error
    failure = SyncFailure.objects.get(sync_run=done)
    assert failure.stream == "details" and str(failure.meter_id) == victim
    assert "does not validate" in failure.error and "customer" in failure.error
    assert failure.raw["customer"] == "not an object"
    assert done.failed == 1 and done.missing == 0
    assert Meter.objects.count() == 20  # its enrollment still arrived


def test_a_permanent_refusal_in_the_process_fails_the_run_with_leaps_reason(served, settings):
    served(Simulator(meters=20, seed=4, now=NOW, changes_per_hour=0))
    settings.LEAP_API_KEY = "not-the-simulator-key"

    sync_run = SyncRun.objects.create(kind=SyncRun.Kind.FULL, status=SyncRun.Status.RUNNING)
    stats = ClientStats()
    with leap.get_client(stats=stats) as client, pytest.raises(LeapRejected) as raised:
        engine.execute(client, sync_run)

    assert raised.value.status == 403
    assert "API key is not valid" in str(raised.value) and "/v2/meters/search" in str(raised.value)
    assert stats.requests == 1 and stats.failures == 1
    assert Meter.objects.count() == 0


def test_a_fetch_process_killed_mid_search_fails_the_stream_and_leaves_no_child(served):
    sim = served(Simulator(meters=60, seed=4, now=NOW, changes_per_hour=0))
    sim.faults.add("slow", times=1000, delay=0.2)
    client = LeapClient(sim_url(), DEFAULT_API_KEY)
    stream = FetchProcess(client, "details", None, 10)
    try:
        first = next(stream)
        assert len(first) == 10 and first[0].hash
        stream._process.kill()
        with pytest.raises(FetchProcessDied, match="exited with code -9"):
            for _ in range(10):
                next(stream)
    finally:
        stream.close()
        client.close()
    assert stream._process.poll() is not None


def test_a_child_that_dies_halfway_through_a_message_is_reported_as_dead(monkeypatch, served):
    served(Simulator(meters=5, seed=4, now=NOW, changes_per_hour=0))
    # A stand-in child: reads its job, writes half a page's pickle, and exits with code 3.
    script = (
        "import pickle, sys; pickle.load(sys.stdin.buffer); "
        "data = pickle.dumps(('page', list(range(1000)), [], 1, None)); "
        "sys.stdout.buffer.write(data[: len(data) // 2]); sys.stdout.flush(); sys.exit(3)"
    )
    monkeypatch.setattr(FetchProcess, "command", [sys.executable, "-c", script])
    client = LeapClient(sim_url(), DEFAULT_API_KEY)
    stream = FetchProcess(client, "details", None, 10)
    try:
        with pytest.raises(FetchProcessDied, match="exited with code 3"):
            next(stream)
        assert stream.fetched.is_set()  # a search chained after it is not held forever
    finally:
        stream.close()
        client.close()


def test_closing_a_stream_stops_its_process_and_the_key_is_never_on_its_command_line(served):
    sim = served(Simulator(meters=60, seed=4, now=NOW, changes_per_hour=0))
    sim.faults.add("slow", times=1000, delay=0.2)
    client = LeapClient(sim_url(), DEFAULT_API_KEY)
    stream = FetchProcess(client, "enrollment", None, 10)
    try:
        assert len(next(stream)) == 10
        with open(f"/proc/{stream._process.pid}/cmdline", "rb") as handle:
            assert DEFAULT_API_KEY.encode() not in handle.read()
    finally:
        stream.close()
        client.close()
    assert stream._process.returncode is not None  # killed and reaped


def test_a_chained_process_asks_leap_only_once_the_search_before_is_fetched(served):
    sim = served(Simulator(meters=30, seed=4, now=NOW, changes_per_hour=0))
    client = LeapClient(sim_url(), DEFAULT_API_KEY)
    first = FetchProcess(client, "details", None, 10, depth=1)
    second = FetchProcess(client, "enrollment", None, 10, after=first)
    try:
        time.sleep(1.5)  # both processes are up; the first is held by its full queue
        searched = [path for _, path, _ in sim.requests]
        assert "/v2/meters/enrollments/search" not in searched
        assert sum(len(page) for page in first) == 30
        assert sum(len(page) for page in second) == 30
        searched = [path for _, path, _ in sim.requests]
        last_details = max(i for i, p in enumerate(searched) if p == "/v2/meters/search")
        first_enrollments = searched.index("/v2/meters/enrollments/search")
        assert last_details < first_enrollments
    finally:
        first.close()
        second.close()
        client.close()


def test_only_a_client_on_the_real_network_is_portable():
    real = LeapClient("http://127.0.0.1:1", "key-1", timeout=3, max_retries=2)
    config = real.portable_config()
    assert config is not None and config["api_key"] == "key-1" and config["timeout"] == 3
    assert LeapClient(**config).portable_config() == config
    sim = Simulator(meters=5, seed=1, now=NOW)
    mounted = LeapClient("http://leap", "key-1", transport=sim.transport())
    assert mounted.portable_config() is None
    assert LeapClient("http://leap", "key-1", sleep=lambda s: None).portable_config() is None
    with pytest.raises(ValueError, match="another process"):
        FetchProcess(mounted, "details", None, 10)


def test_the_paused_collector_collects_every_n_pages_and_restores_its_state(monkeypatch):
    collected: list[int] = []
    monkeypatch.setattr(threads.gc, "collect", lambda *a: collected.append(1) or 0)
    assert gc.isenabled()
    with PausedGC(every=3) as paused:
        assert not gc.isenabled()
        for _ in range(7):
            paused.page()
    assert gc.isenabled() and len(collected) == 2
    gc.disable()
    try:
        with PausedGC():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def sim_url() -> str:
    return settings.LEAP_BASE_URL
