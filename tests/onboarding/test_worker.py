"""The onboarding tasks in a real Celery worker, against the simulator served over HTTP."""

from __future__ import annotations

import pytest

from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer
from onboarding import tasks
from onboarding.models import Batch, Job
from tests.onboarding.helpers import csv_bytes, row, upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_job_is_sent_and_followed_by_the_worker_through_a_leap_outage(
    celery_workers, celery_eager_off, operator_client, settings
):
    sim = Simulator(seed=5, meters=40, realtime=True, job_seconds=1, changes_per_hour=0)
    with SimulatorServer(sim).serve_in_thread() as server:
        env = {"LEAP_BASE_URL": server.url, "LEAP_SIMULATOR": "true", "ONBOARDING_BATCH_SIZE": "3",
               "ONBOARDING_POLL_SECONDS": "5"}  # fmt: skip
        worker = celery_workers.get(extra_env=env)
        celery_workers.purge()
        settings.ONBOARDING_BATCH_SIZE = 3  # the web process splits, the worker sends

        response = upload(operator_client, csv_bytes([row(n) for n in range(1, 8)]))
        draft_url = response["Location"]
        operator_client.post(draft_url + "submit")
        job = Job.objects.get()
        assert job.batches.count() == 3
        worker.wait_for(
            lambda: set(job.batches.values_list("status", flat=True)) == {"processing"},
            what="the worker to send the 3 batches",
        )
        assert sim.requests.count("POST /v1.1/jobs/meters") == 3

        # Leap cannot answer about jobs for a while: the beat's rounds record it, nothing is lost.
        sim.faults.add("500", times=1000, path="/v1.1/jobs/meters/", method="GET")
        Batch.objects.update(next_poll_at=None)
        Batch.objects.filter(number=1).update(next_poll_at="2000-01-01T00:00:00Z")
        tasks.poll_open_jobs.delay()
        worker.wait_for(
            lambda: Batch.objects.get(number=1).poll_failures == 1, what="a failed read recorded"
        )
        job.refresh_from_db()
        assert job.status == "processing"
        assert "500" in Batch.objects.get(number=1).last_error

        sim.faults.clear()

        def tick_until_done():
            Batch.objects.filter(status="processing").update(next_poll_at="2000-01-01T00:00:00Z")
            tasks.poll_open_jobs.delay()
            return Job.objects.get().status == "done"

        worker.wait_for(tick_until_done, timeout=60, interval=1.0, what="the job to finish")
    job.refresh_from_db()
    assert job.counts["COMPLETED"] == 7 and job.counts["failed"] == 0
    assert len(sim.jobs.jobs) == 3  # never sent twice
