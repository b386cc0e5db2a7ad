"""A worker killed in the middle of a sync, then a new run: the database ends exactly right."""

from __future__ import annotations

import time
import uuid

import pytest

from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer
from meters.actions import request_sync
from meters.models import Meter, ProgramEnrollment, RequiredAction, SyncRun

pytestmark = pytest.mark.worker

STALE_SECONDS = 3


def finished(run_id: int) -> SyncRun | None:
    run = SyncRun.objects.get(pk=run_id)
    return run if run.status not in SyncRun.ACTIVE_STATUSES else None


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_then_a_new_run_gives_the_exact_state(
    celery_workers, celery_eager_off, settings
):
    settings.METERS_SYNC_STALE_SECONDS = STALE_SECONDS
    sim = Simulator(seed=11, meters=120, changes_per_hour=0)
    server = SimulatorServer(sim).serve_in_thread()
    env = {
        "LEAP_BASE_URL": server.url,
        "LEAP_SIMULATOR": "true",
        "METERS_SYNC_PAGE_SIZE": "10",
        "METERS_SYNC_STALE_SECONDS": str(STALE_SECONDS),
    }
    try:
        worker = celery_workers.get(extra_env=env)
        celery_workers.purge()
        # Every Leap answer takes 0.3 s: the run spends its time between pages.
        sim.faults.add("slow", times=100_000, delay=0.3)
        first = request_sync("full", trigger="test")
        worker.wait_for(
            lambda: SyncRun.objects.get(pk=first.pk).progress_done >= 40,
            timeout=90,
            what="the first run to write a few pages",
        )
        worker.kill()
        halfway = Meter.objects.count()
        assert 0 < halfway < 120
        assert SyncRun.objects.get(pk=first.pk).status == SyncRun.Status.RUNNING

        # While nobody syncs, Leap changes: a status, an action, and a meter we already stored
        # goes away (1 of 120, under the hold fraction).
        sim.faults.clear()
        ids = sim.meter_ids()
        gone = str(
            Meter.objects.exclude(meter_id__in=[ids[0], ids[100]]).order_by("meter_id").first().pk
        )
        sim.set_global_status(ids[0], "INELIGIBLE")
        sim.open_action(ids[100], "SERV_0005")
        sim.remove_meter(gone)

        time.sleep(STALE_SECONDS + 1)  # the dead run's heartbeat goes stale
        worker = celery_workers.get(extra_env=env)
        second = request_sync("full", trigger="test")
        assert second.pk != first.pk
        done = worker.wait_for(lambda: finished(second.pk), timeout=120, what="the second run")

        assert done.status == SyncRun.Status.DONE, done.error
        dead = SyncRun.objects.get(pk=first.pk)
        assert dead.status == SyncRun.Status.FAILED and "no heartbeat" in dead.error

        # Exactly Leap's state: every meter it has, with its current payloads; the removed one
        # kept and marked missing.
        present = {uuid.UUID(m) for m in sim.meter_ids()}
        assert set(Meter.objects.present().values_list("meter_id", flat=True)) == present
        assert list(Meter.objects.missing().values_list("meter_id", flat=True)) == [uuid.UUID(gone)]
        programs = 0
        for meter_id in sim.meter_ids():
            state = sim.meter(meter_id)
            meter = Meter.objects.get(pk=meter_id)
            assert meter.details_raw == state.detail_json()
            assert meter.enrollment_raw == state.enrollment_json()
            programs += len(
                {(r["program_identifier"], r["delivery_period"]) for r in state.programs}
            )
        assert (
            ProgramEnrollment.objects.filter(meter__missing_since__isnull=True).count() == programs
        )
        assert Meter.objects.get(pk=ids[0]).global_enrollment_status == "INELIGIBLE"
        assert RequiredAction.objects.filter(
            meter_id=ids[100], code="SERV_0005", resolved_at__isnull=True
        ).exists()

        # And one more run changes nothing.
        third = request_sync("full", trigger="test")
        again = worker.wait_for(lambda: finished(third.pk), timeout=120, what="the third run")
        assert (again.status, again.created, again.updated, again.missing) == ("done", 0, 0, 0)
        assert again.unchanged == 119
    finally:
        server.stop()
