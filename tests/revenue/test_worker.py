"""The revenue sync on a real Celery worker: killed mid-version, taken over, exact in the end."""

from __future__ import annotations

import time

import pytest
from django.db.models import Count

import leap
from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer
from revenue.models import MeterRevenue, ReportVersion, RevenueSyncRun
from revenue.tasks import request_sync

pytestmark = pytest.mark.worker

STALE_SECONDS = 3


def finished(run_id: int) -> RevenueSyncRun | None:
    run = RevenueSyncRun.objects.get(pk=run_id)
    return run if run.status not in RevenueSyncRun.ACTIVE_STATUSES else None


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_version_then_a_new_run_stores_each_version_exactly_once(
    celery_workers, celery_eager_off, settings
):
    settings.METERS_SYNC_STALE_SECONDS = STALE_SECONDS
    sim = Simulator(seed=5, meters=3000, changes_per_hour=0, revenue_history="full")
    server = SimulatorServer(sim).serve_in_thread()
    env = {
        "LEAP_BASE_URL": server.url,
        "LEAP_SIMULATOR": "true",
        "METERS_SYNC_STALE_SECONDS": str(STALE_SECONDS),
        "REVENUE_SYNC_MONTHS": "4",
    }
    try:
        worker = celery_workers.get(extra_env=env)
        celery_workers.purge()
        # Each page of a meter search takes 0.5 s: the run spends its time between pages.
        sim.faults.add(
            "slow", times=100_000, delay=0.5, path="/v1.1/revenue/periodic/aggregation/meter"
        )
        first = request_sync(trigger="test")
        worker.wait_for(
            lambda: RevenueSyncRun.objects.get(pk=first.pk).rows_written >= 2000,
            timeout=120,
            what="the first run to write a few pages",
        )
        worker.kill()
        assert ReportVersion.objects.filter(state="fetching").exists()
        sim.faults.clear()
        # Leap fails twice on the next run's first call: the task retries it with backoff.
        sim.faults.add("500", times=2, path="/v1.1/revenue/periodic/versions")
        time.sleep(STALE_SECONDS + 1)  # the dead run's heartbeat goes stale
        env["METERS_SYNC_RETRY_BASE_SECONDS"] = "1"
        env["LEAP_MAX_RETRIES"] = "0"  # the client gives up at once: the task retries
        worker = celery_workers.get(extra_env=env)
        second = request_sync(trigger="test")
        assert second.pk != first.pk
        done = worker.wait_for(lambda: finished(second.pk), timeout=240, what="the second run")
        assert done.status == "done", done.error
        assert done.attempts >= 2  # retried after Leap's 500s
        dead = RevenueSyncRun.objects.get(pk=first.pk)
        assert dead.status == "failed" and "heartbeat" in dead.error
        # Every current version holds exactly Leap's rows, once each.
        client = leap.LeapClient(server.url, sim.api_key)
        for version in ReportVersion.objects.filter(state="complete").select_related("report"):
            month = f"{version.report.month:%Y-%m}"
            expected = client.get_revenue_report(month, month, version=version.version)
            rows = MeterRevenue.objects.filter(version=version)
            assert rows.count() == expected.total_meters_count == version.rows
            duplicated = rows.values("meter_id", "program").annotate(n=Count("pk")).filter(n__gt=1)
            assert not duplicated.exists()
        assert not ReportVersion.objects.filter(state="fetching").exists()
    finally:
        server.stop()
