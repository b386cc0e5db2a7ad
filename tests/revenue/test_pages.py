"""The revenue pages, the lane's workflow and every CSV, over a portfolio synced from the simulator."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from meters import tasks as meter_tasks
from meters.models import Meter, SyncRun
from revenue import tasks
from revenue.models import (
    MeterResponsiveness,
    MeterRevenue,
    ReportVersion,
    RevenueReport,
    RevenueSyncRun,
    UnresponsiveWorkItem,
)


@pytest.fixture
def synced(leap_sim, run_revenue_sync):
    """Meters and revenue both synced from the simulator."""
    run = SyncRun.objects.create(kind="full")
    meter_tasks.run_sync.apply(args=[run.pk])
    revenue_run = run_revenue_sync()
    assert revenue_run.status == "done", revenue_run.error
    # Leap publishes a true-up of a final month: the next sync stores it beside the old version.
    final = ReportVersion.objects.filter(status="FINALIZED", state="complete").latest(
        "report__month"
    )
    leap_sim.advance(minutes=1, changes=0)
    leap_sim.revenue.revise(f"{final.report.month:%Y-%m}")
    assert run_revenue_sync().versions_fetched == 1
    return leap_sim


def read_csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.leap_sim(meters=80, changes_per_hour=0)
def test_the_revenue_page_shows_months_breakdowns_and_versions(synced, viewer_client):
    report = RevenueReport.objects.exclude(current_version=None).latest("month")
    response = viewer_client.get(reverse("revenue:overview"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and "Earned and missed by month" in page
    assert ("preliminary" in page) and ("final" in page)
    for dimension in ("program", "market_group", "utility", "load_type", "customer"):
        response = viewer_client.get(
            reverse("revenue:overview"), {"month": f"{report.month:%Y-%m}", "by": dimension}
        )
        assert response.status_code == 200
        assert response.context["breakdown"], dimension
    # A month with a final version shows what changed from its preliminary one.
    final = ReportVersion.objects.exclude(previous=None).get()
    response = viewer_client.get(
        reverse("revenue:overview"), {"month": f"{final.report.month:%Y-%m}"}
    )
    assert f"from {final.previous.version}" in response.content.decode()
    # An htmx request gets the breakdown only; a malformed month falls back to the latest.
    fragment = viewer_client.get(
        reverse("revenue:overview"), {"by": "utility"}, HTTP_HX_REQUEST="true"
    )
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert viewer_client.get(reverse("revenue:overview"), {"month": "2026-99"}).status_code == 200


@pytest.mark.leap_sim(meters=80, changes_per_hour=0)
def test_every_revenue_view_exports_csv(synced, viewer_client):
    report = RevenueReport.objects.exclude(current_version=None).latest("month")
    month = f"{report.month:%Y-%m}"
    months = read_csv(viewer_client.get(reverse("revenue:months_export")))
    assert {m["month"] for m in months} == {
        f"{r.month:%Y-%m}" for r in RevenueReport.objects.exclude(current_version=None)
    }
    breakdown = read_csv(
        viewer_client.get(reverse("revenue:breakdown_export"), {"month": month, "by": "program"})
    )
    assert sum(float(b["earned"]) for b in breakdown) == pytest.approx(
        report.current_version.earned, abs=0.1
    )
    meters = read_csv(viewer_client.get(reverse("revenue:meters_export"), {"month": month}))
    assert len(meters) == report.current_version.rows
    ranked = read_csv(viewer_client.get(reverse("revenue:at_risk_export"), {"month": month}))
    assert [r["rank"] for r in ranked[:3]] == ["1", "2", "3"][: len(ranked[:3])]
    assert all(float(r["data_coverage"]) >= 75 for r in ranked)
    lane = read_csv(viewer_client.get(reverse("revenue:unresponsive_export")))
    assert (
        len(lane)
        == MeterResponsiveness.objects.filter(
            month=MeterResponsiveness.objects.latest("month").month
        ).count()
    )
    final = ReportVersion.objects.exclude(previous=None).get()
    changes = viewer_client.get(
        reverse("revenue:changes_export"),
        {"month": f"{final.report.month:%Y-%m}", "version": final.version},
    )
    assert changes.status_code == 200 and changes["Content-Type"].startswith("text/csv")


@pytest.mark.leap_sim(meters=80, changes_per_hour=0)
def test_revenue_at_risk_ranks_by_missed_share_and_leaves_out_poor_coverage(synced, viewer_client):
    report = RevenueReport.objects.exclude(current_version=None).latest("month")
    response = viewer_client.get(reverse("revenue:at_risk"), {"month": f"{report.month:%Y-%m}"})
    assert response.status_code == 200
    rows = response.context["page"].items
    risks = [r.risk for r in rows]
    assert risks == sorted(risks, reverse=True) and risks
    assert all(r.data_coverage >= 75 for r in rows)
    poor = MeterRevenue.objects.filter(
        version=report.current_version, data_coverage__lt=75, missed_revenue__gt=0
    )
    assert poor.exists() and not poor.filter(risk__isnull=False).exists()
    page = response.content.decode()
    first = rows[0]
    assert reverse("meters:detail", args=[first.meter_id]) in page


@pytest.mark.leap_sim(meters=120, changes_per_hour=0)
def test_the_unresponsive_lane_works_like_the_queue(synced, operator_client, make_user):
    response = operator_client.get(reverse("revenue:unresponsive"))
    assert response.status_code == 200
    rows = response.context["page"].items
    assert rows
    row = rows[0]
    detail = reverse("revenue:unresponsive_item", args=[row.meter_id, row.program])
    page = operator_client.get(detail)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Idle this meter" in html and "Customer email" in html
    meter = Meter.objects.filter(pk=row.meter_id).first()
    if meter is not None and meter.end_customer_name:
        assert meter.end_customer_name in html
    work = reverse("revenue:unresponsive_work", args=[row.meter_id, row.program])
    operator_client.post(work, {"quick": "me"})
    operator_client.post(
        work, {"state": "contacted", "note": "Called, left a message", "snooze": "3d"}
    )
    item = UnresponsiveWorkItem.objects.get(meter_id=row.meter_id, program=row.program)
    assert item.state == "contacted" and item.note == "Called, left a message"
    assert item.assignee.username == response.wsgi_request.user.username
    assert item.snoozed_until is not None
    # Snoozed rows leave the lane until they wake up.
    lane = operator_client.get(reverse("revenue:unresponsive"))
    assert (row.meter_id, row.program) not in {
        (r.meter_id, r.program) for r in lane.context["page"].items
    }
    only = operator_client.get(reverse("revenue:unresponsive"), {"snoozed": "only"})
    assert [(r.meter_id, r.program) for r in only.context["page"].items] == [
        (row.meter_id, row.program)
    ]
    # Idling needs the confirmation, then records who and when.
    idled = reverse("revenue:unresponsive_idled", args=[row.meter_id, row.program])
    operator_client.post(idled, {})
    item.refresh_from_db()
    assert item.idled_at is None
    operator_client.post(idled, {"confirm": "yes"})
    item.refresh_from_db()
    assert item.idled_at is not None and item.state == "idled"
    assert item.idled_by.username == response.wsgi_request.user.username
    fields = [set(h.changes) for h in item.history.all()]
    assert {"idled_at", "idled_by", "state"} in fields
    assert any("note" in f for f in fields)


@pytest.mark.leap_sim(meters=60, changes_per_hour=0)
def test_viewers_read_the_lane_but_cannot_work_it_or_start_a_sync(synced, viewer_client):
    row = MeterResponsiveness.objects.first()
    detail = viewer_client.get(
        reverse("revenue:unresponsive_item", args=[row.meter_id, row.program])
    )
    assert detail.status_code == 200 and "operators work the queue" in detail.content.decode()
    work = reverse("revenue:unresponsive_work", args=[row.meter_id, row.program])
    assert viewer_client.post(work, {"quick": "me"}).status_code == 403
    idled = reverse("revenue:unresponsive_idled", args=[row.meter_id, row.program])
    assert viewer_client.post(idled, {"confirm": "yes"}).status_code == 403
    assert viewer_client.post(reverse("revenue:sync_now")).status_code == 403
    assert not UnresponsiveWorkItem.objects.exists()


@pytest.mark.leap_sim(meters=60, changes_per_hour=0)
def test_the_meter_page_sync_health_and_the_queue_show_revenue(synced, viewer_client):
    row = (
        MeterRevenue.objects.filter(total_revenue__gt=0, meter_id__in=Meter.objects.values("pk"))
        .order_by("meter_id")
        .first()
    )
    page = viewer_client.get(reverse("meters:detail", args=[row.meter_id])).content.decode()
    assert "Revenue and responsiveness by month" in page and f"{row.month:%Y-%m}" in page
    health = viewer_client.get(reverse("ops:sync_health")).content.decode()
    assert "Revenue sync" in health and "badge--done" in health
    card = viewer_client.get(reverse("revenue:sync_card")).content.decode()
    assert card.startswith('<section class="card" id="revenue-sync">')  # nothing running: no poll
    queue = viewer_client.get(reverse("ops:actions")).content.decode()
    assert reverse("revenue:unresponsive") in queue and "Unresponsive meters" in queue


def test_an_operator_starts_a_revenue_sync_and_its_card_polls_while_it_is_queued(
    db, operator_client, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(tasks.run_revenue_sync, "delay", lambda run_id: None)  # no worker here
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(reverse("revenue:sync_now"))
    assert response.status_code == 302 and response["Location"].endswith("#revenue-sync")
    run = RevenueSyncRun.objects.get()
    assert run.status == "queued" and run.requested_by.username == "operator-user"
    card = operator_client.get(reverse("revenue:sync_card")).content.decode()
    assert 'hx-trigger="every 2s"' in card and "queued" in card
    # Asking again while one is queued shows that one.
    operator_client.post(reverse("revenue:sync_now"))
    assert RevenueSyncRun.objects.count() == 1


def test_revenue_pages_answer_before_any_sync(db, viewer_client):
    for name in ("revenue:overview", "revenue:at_risk", "revenue:unresponsive"):
        assert viewer_client.get(reverse(name)).status_code == 200, name
    assert viewer_client.get(reverse("revenue:months_export")).status_code == 200
    assert viewer_client.get(reverse("revenue:breakdown_export")).status_code == 404
