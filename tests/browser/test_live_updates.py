"""Things that happen while the page is open: Leap sends a dispatch; a sync runs in the worker."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.conf import settings

from dispatch.models import DispatchTimeslot
from tests.dashboard.factories import make_meter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_new_dispatch_appears_after_the_simulator_sends_one(
    live_server, page, make_user, login, leap_sim, screenshot
):
    make_user("viewer", username="vera")
    meter_id = leap_sim.meter_ids(1)[0]
    make_meter(meter_id=uuid.UUID(meter_id), partner_reference="sim-meter-1")
    leap_sim.set_dispatch_webhook(
        "meter",
        f"{live_server.url}/dispatch/webhooks/meter",
        headers={settings.LEAP_WEBHOOK_HEADER: settings.LEAP_DISPATCH_WEBHOOK_SECRETS[0]},
    )
    login(page, "vera")
    page.click("nav.mainnav >> text=Dispatches")
    page.wait_for_selector("#dispatch-timeline")
    assert "sim-meter-1" not in page.locator("#timeslot-table").inner_text()

    start = leap_sim.now.replace(second=0, microsecond=0) + timedelta(hours=3)
    [event_id] = leap_sim.create_dispatch(meter_ids=[meter_id], start=start,
                                          end=start + timedelta(hours=1))  # fmt: skip
    outcomes = leap_sim.deliver_due()  # an HTTP POST to the live server's receiver
    assert outcomes and all(o.status and o.status < 300 for _, o in outcomes), outcomes
    assert DispatchTimeslot.objects.filter(event_id=event_id).exists()

    # The open page refreshes itself (every 10 s) and shows the new event with its countdown.
    row = page.locator(f"#timeslot-{event_id}")
    row.wait_for(timeout=15_000)
    assert "sim-meter-1" in row.inner_text() and "in 2h" in row.inner_text()
    screenshot(page, "dashboard-dispatch-appeared")


@pytest.mark.worker
def test_start_a_sync_and_watch_the_progress_finish(
    live_server, page, make_user, login, screenshot, celery_workers, celery_eager_off
):
    """The sync runs in a real Celery worker against the simulator served over HTTP, slowed
    down a little per page, while the browser polls the progress bar until the run is done."""
    from leap.simulator import Simulator
    from leap.simulator.server import SimulatorServer
    from meters.models import Meter, SyncRun

    sim = Simulator(seed=11, meters=120)
    sim.faults.add("slow", times=4, delay=0.8)  # each of the first pages takes a moment
    with SimulatorServer(sim).serve_in_thread() as server:
        celery_workers.get(extra_env={"LEAP_BASE_URL": server.url, "LEAP_SIMULATOR": "true",
                                      "METERS_SYNC_PAGE_SIZE": "30"})  # fmt: skip
        celery_workers.purge()
        make_user("operator", username="olga")
        login(page, "olga")
        page.click("nav.mainnav >> text=Sync health")
        page.click("#sync-now")
        progress = page.locator("#sync-active .sync-progress")
        progress.wait_for()
        assert progress.get_attribute("hx-trigger") == "every 1s"  # polling while active
        screenshot(page, "dashboard-sync-running")
        page.wait_for_selector("#sync-active .sync-progress .badge--done", timeout=90_000)
        # Finished: the re-rendered element has no trigger, so polling stopped by itself.
        assert progress.get_attribute("hx-trigger") is None
        assert "100%" in progress.locator(".progress > span").get_attribute("style")
        page.wait_for_selector("#sync-runs >> text=done")  # the runs table refreshed once
        screenshot(page, "dashboard-sync-done")
    run = SyncRun.objects.get()
    assert run.status == "done" and run.requested_by.username == "olga"
    assert Meter.objects.count() == 120
