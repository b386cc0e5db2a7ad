"""Leap misbehaving during a sync: retried and completed, or given up with the reason."""

from __future__ import annotations

import uuid

import httpx
import pytest

import leap
from meters.models import Meter, SyncFailure, SyncRun


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("429", {"retry_after": 0}),
        ("500", {}),
        ("torn", {}),  # half a JSON page
        ("slow", {"delay": 600}),  # longer than the read timeout: a timeout
        ("drop", {}),  # the connection closes without an answer
    ],
)
def test_a_leap_fault_mid_sync_is_retried_and_the_sync_completes(
    leap_sim, run_sync, fault, options
):
    # The details search fails twice, then answers.
    leap_sim.faults.add(fault, times=2, path="/v2/meters/search", **options)
    run = run_sync("full")

    assert run.status == SyncRun.Status.DONE, run.error
    assert [kind for kind, _, _ in leap_sim.faults.fired] == [fault, fault]
    assert Meter.objects.count() == 40 and run.created == 40


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_an_expired_page_token_restarts_the_search(leap_sim, run_sync, settings):
    settings.METERS_SYNC_PAGE_SIZE = 10
    leap_sim.faults.add("expired_token", times=1, path="/v2/meters/enrollments/search")
    run = run_sync("full")

    assert run.status == SyncRun.Status.DONE, run.error
    assert ("expired_token", "POST", "/v2/meters/enrollments/search") in leap_sim.faults.fired
    assert Meter.objects.exclude(enrollment_hash="").count() == 40


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_a_sync_that_gives_up_says_why_and_keeps_whole_pages(leap_sim, run_sync, settings):
    settings.METERS_SYNC_PAGE_SIZE = 10
    settings.LEAP_MAX_RETRIES = 2
    run_sync("full")
    before = dict(Meter.objects.values_list("meter_id", "global_enrollment_status"))
    for meter_id in leap_sim.meter_ids():
        leap_sim.set_global_status(meter_id, "INELIGIBLE")
    # Leap answers 500 to every enrollment search request, however often we retry.
    leap_sim.faults.add("500", times=1000, path="/v2/meters/enrollments/search")

    run = run_sync("full")

    assert run.status == SyncRun.Status.FAILED
    assert "gave up after" in run.error and "Leap unavailable" in run.error
    assert "500" in run.error
    assert run.finished_at is not None
    # Nothing half-written: the details pages were all written; no enrollment page was.
    assert dict(Meter.objects.values_list("meter_id", "global_enrollment_status")) == before


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_leap_refusing_the_key_fails_the_run_without_retrying(leap_sim, run_sync, settings):
    leap_sim.api_key = "another-key-entirely-000000000000"

    run = run_sync("full")

    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("Leap rejected the sync: 403")
    assert leap_sim.requests.count("POST /v2/meters/search") == 1


class CorruptingTransport:
    """The simulator, with one meter of each details page mangled the way a Leap bug would."""

    def __init__(self, inner, victim: str) -> None:
        self.inner = inner
        self.victim = victim

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        if request.url.path != "/v2/meters/search" or response.status_code != 200:
            return response
        response.read()
        data = response.json()
        for meter in data.get("meters", []):
            if meter["meter_id"] == self.victim:
                meter["transmission_region"] = None  # required by the spec
                meter["customer"] = "not an object"
        return httpx.Response(200, json=data, request=request)

    def close(self):
        pass


@pytest.mark.leap_sim(meters=40, changes_per_hour=0, validate=False)
def test_a_meter_that_does_not_validate_is_kept_counted_and_not_missing(leap_sim, run_sync):
    victim = leap_sim.meter_ids()[7]
    transport = CorruptingTransport(leap_sim.transport(), victim)
    with leap.use_transport(transport, sleep=lambda seconds: None):
        run_sync("full")
        run = run_sync("full")

    assert run.status == SyncRun.Status.DONE, run.error
    assert run.failed == 1 and run.missing == 0
    failure = SyncFailure.objects.get(sync_run=run)
    assert failure.meter_id == uuid.UUID(victim) and failure.stream == "details"
    assert failure.raw["customer"] == "not an object"
    assert "transmission_region" in failure.error
    # Its enrollment still validated, so the meter exists; it is not missing.
    assert Meter.objects.get(pk=victim).missing_since is None
