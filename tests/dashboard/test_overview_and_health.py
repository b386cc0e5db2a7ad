"""The overview, the stale-data banner and the sync-health page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.models import ReconcileRun
from leapportal.heartbeat import record_heartbeat
from meters.models import SyncRun
from ops.health import stale_warnings
from tests.dashboard.factories import make_action, make_meter, make_timeslot


def _good_sync(minutes_ago: float) -> SyncRun:
    finished = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return SyncRun.objects.create(
        kind="incremental", status="done", started_at=finished - timedelta(seconds=40),
        finished_at=finished, created=2, updated=5, unchanged=90,
    )  # fmt: skip


def test_the_overview_counts_statuses_actions_dispatches(viewer_client):
    for status in ("ACTIVE", "ACTIVE", "PENDING"):
        make_meter(global_enrollment_status=status)
    overdue = make_meter(partner_reference="late-1")
    make_action(overdue, deadline=datetime.now(UTC) - timedelta(hours=1))
    make_action(overdue, side="leap", code="LEAP_0001")
    make_meter(is_archived=True)
    make_timeslot(start_time=datetime.now(UTC) + timedelta(hours=10), energy_kw=33)
    make_timeslot(start_time=datetime.now(UTC) + timedelta(hours=60))  # beyond 48 h
    body = viewer_client.get("/").content.decode()
    meters = body.split('id="overview-meters"')[1].split("</section>")[0]
    assert '>ACTIVE</span></a></td><td class="num">3<' in meters  # the late meter is ACTIVE too
    assert '>PENDING</span></a></td><td class="num">1<' in meters
    actions = body.split('id="overview-actions"')[1].split("</section>")[0]
    assert (
        'urgency--overdue">1<' in actions
        and 'Waiting on Leap</a></td><td class="num">1<' in actions
    )
    dispatches = body.split('id="overview-dispatches"')[1].split("</section>")[0]
    assert "1 scheduled" in dispatches and "33.0" in dispatches


def test_the_banner_says_why_data_is_stale_and_goes_away_when_fresh(viewer_client):
    now = datetime.now(UTC)
    assert {w.key for w in stale_warnings(now)} == {"sync", "worker"}
    _good_sync(minutes_ago=200)
    record_heartbeat("w1@host", now=now - timedelta(minutes=30))
    ReconcileRun.objects.create(
        status="done", started_at=now - timedelta(hours=2), finished_at=now - timedelta(hours=2),
        window_start=now, window_end=now,
    )  # fmt: skip
    body = viewer_client.get("/meters/").content.decode()
    assert 'id="stale-banner"' in body and "3h 20m old" in body
    assert "last reconciled with Leap 2h" in body and "No background worker seen for 30m" in body
    _good_sync(minutes_ago=5)
    record_heartbeat("w1@host", now=now)
    ReconcileRun.objects.create(
        status="done", started_at=now, finished_at=now, window_start=now, window_end=now
    )
    assert 'id="stale-banner"' not in viewer_client.get("/meters/").content.decode()


def test_sync_health_shows_runs_schedules_deliveries_and_worker(viewer_client):
    _good_sync(minutes_ago=3)
    SyncRun.objects.create(kind="full", status="failed", error="LeapRejected 401: bad key",
                           started_at=datetime.now(UTC), finished_at=datetime.now(UTC))  # fmt: skip
    record_heartbeat("w1@host")
    body = viewer_client.get("/meters/sync/").content.decode()
    for text in ("LeapRejected 401: bad key", "meters-incremental-sync", "dispatch-reconcile",
                 "w1@host", "Meter events", "Dispatch notifications"):  # fmt: skip
        assert text in body
    assert "Sync now" not in body  # viewers read only
    fragment = viewer_client.get("/meters/sync/", {"kind": "full"}, headers={"HX-Request": "true"})
    assert fragment.content.lstrip().startswith(b'<section class="card" id="sync-runs"')
    assert b"bad key" in fragment.content and b">incremental<" not in fragment.content


@pytest.mark.parametrize("count", [2, 30])
def test_sync_health_costs_the_same_queries_for_few_and_many_runs(
    viewer_client, django_assert_num_queries, count
):
    for i in range(count):
        _good_sync(minutes_ago=10 + i)
    viewer_client.get("/meters/sync/")
    # many panels, a fixed number of queries each; the runs table adds its count past one page;
    # the stale-data banner 1 query (three parts in one); the workers 1 (stale or alive from
    # its latest row); the user's own and group permissions 1
    # +1 the navigation (saved views, the alert count and the time-zone preference together), +1
    # market zones of the schedules; 3 for the failed deliveries of each kind (counted only when
    # they fill the list) and the latest sweeps; 3 for the revenue sync's card; 2 for the
    # emails/chat posts card; 2 for the onboarding card; 3 for dispatch's panels (unknown-meter
    # alerts, rejected timeslots, Leap checks)
    with django_assert_num_queries(31 if count > 25 else 30):
        assert viewer_client.get("/meters/sync/").status_code == 200


def test_an_operator_starts_a_sync_and_its_progress_stops_polling_when_done(
    operator_client, leap_sim, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery runs it on commit
        response = operator_client.post(
            "/meters/sync/now", {"kind": "incremental"}, headers={"HX-Request": "true"}
        )
    assert response.status_code == 200
    run = SyncRun.objects.get()
    assert run.requested_by.username == "operator-user" and run.kind == "incremental"
    assert f'id="sync-progress-{run.pk}"' in response.content.decode()
    run.refresh_from_db()
    assert run.status == "done", run.error
    poll = operator_client.get(f"/meters/sync/runs/{run.pk}/")
    assert "hx-trigger" not in poll.content.decode()  # finished: the element stops polling
    assert poll["HX-Trigger"] == "syncFinished" and 'style="width: 100%"' in poll.content.decode()
    # asking again while nothing runs starts a new run; a bad kind is refused
    assert operator_client.post("/meters/sync/now", {"kind": "everything"}).status_code == 400


def test_a_running_sync_keeps_polling(operator_client):
    run = SyncRun.objects.create(kind="full", status="running", progress_done=30,
                                 progress_total=120, started_at=datetime.now(UTC))  # fmt: skip
    body = operator_client.get(f"/meters/sync/runs/{run.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in body and 'style="width: 25%"' in body


def test_viewers_cannot_start_syncs(viewer_client):
    meter = make_meter()
    assert viewer_client.post("/meters/sync/now", {"kind": "full"}).status_code == 403
    assert viewer_client.post(f"/meters/{meter.pk}/resync").status_code == 403
    assert not SyncRun.objects.exists()


def test_resync_now_from_the_meter_page(
    operator_client, leap_sim, django_capture_on_commit_callbacks
):
    meter_id = leap_sim.meter_ids(1)[0]
    meter = make_meter(meter_id=meter_id, partner_reference="stale-name")
    assert 'id="resync-now"' in operator_client.get(f"/meters/{meter.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"/meters/{meter.pk}/resync")
    assert response.status_code == 302 and response["Location"] == f"/meters/{meter.pk}/"
    run = SyncRun.objects.get(kind="meter")
    assert str(run.meter_id) == meter_id and run.requested_by.username == "operator-user"
    run.refresh_from_db()
    assert run.status == "done", run.error
    meter.refresh_from_db()
    assert meter.partner_reference == leap_sim.meter(meter_id).partner_reference
