from __future__ import annotations

import pytest
from django.conf import settings
from django.db.models import F, Sum
from django.utils import timezone

import leap
from revenue.models import (
    InvalidRevenueRecord,
    MeterResponsiveness,
    MeterRevenue,
    ReportVersion,
    RevenueAggregate,
    RevenueReport,
    RevenueSyncRun,
)
from revenue.sync import month_text, window


def leap_versions(sim):
    """(month, version) pairs Leap lists for the sync's window."""
    client = leap.get_client()

    first, last = window(timezone.now(), settings.REVENUE_SYNC_MONTHS)
    return {
        (v.settlement_period.period_start, v.version)
        for v in client.list_report_versions(month_text(first), month_text(last))
    }


@pytest.mark.leap_sim(meters=60, changes_per_hour=0)
def test_a_first_sync_takes_each_months_newest_version_and_it_matches_leap(
    leap_sim, run_revenue_sync
):
    run = run_revenue_sync()
    assert run.status == "done", run.error
    listed = leap_versions(leap_sim)
    newest: dict[str, str] = {}
    for month, name in listed:
        if int(name[1:]) > int(newest.get(month, "V0")[1:]):
            newest[month] = name
    stored = {
        (month_text(m), v)
        for m, v in ReportVersion.objects.filter(state="complete").values_list(
            "report__month", "version"
        )
    }
    assert stored == set(newest.items()) and run.versions_fetched == len(newest)
    superseded = {
        (month_text(m), v)
        for m, v in ReportVersion.objects.filter(state="superseded").values_list(
            "report__month", "version"
        )
    }
    assert superseded == listed - stored
    assert not MeterRevenue.objects.filter(version__state="superseded").exists()
    client = leap.get_client()
    for report in RevenueReport.objects.select_related("current_version"):
        month = month_text(report.month)
        leap_report = client.get_revenue_report(month, month)
        current = report.current_version
        assert current.version == leap_report.report_status[0].version
        assert report.status == leap_report.report_status[0].status
        assert current.earned == pytest.approx(leap_report.actual_revenue, abs=0.05)
        assert current.rows == leap_report.total_meters_count
        assert MeterRevenue.objects.filter(version=current).count() == current.rows
        # Every dimension's sums add up to the version's total (load types may overlap).
        for dimension in ("program", "market_group", "utility", "customer", "revenue_type"):
            total = RevenueAggregate.objects.filter(version=current, dimension=dimension).aggregate(
                s=Sum("earned")
            )["s"]
            assert total == pytest.approx(current.earned, abs=0.05), dimension
    # The diagnosis lists never/rarely responding meters per month and program.
    diagnosis = MeterResponsiveness.objects.all()
    assert diagnosis.exists()
    assert set(diagnosis.values_list("historical_responsiveness", flat=True)) <= {
        "NEVER_RESPONDS",
        "RARELY_RESPONDS",
    }


@pytest.mark.leap_sim(meters=50, changes_per_hour=0)
def test_a_preliminary_month_becomes_final_beside_its_preliminary_version(
    leap_sim, run_revenue_sync
):
    run_revenue_sync()
    preliminary = {
        v.report.month: v
        for v in ReportVersion.objects.filter(state="complete", status="PRELIMINARY")
    }
    assert preliminary
    leap_sim.advance(hours=40 * 24, changes=0)  # Leap finalizes them meanwhile
    run_revenue_sync()
    finalized = 0
    for month, v1 in preliminary.items():
        report = RevenueReport.objects.get(month=month)
        current = report.current_version
        if current.number == v1.number:
            continue  # outside the window Leap finalized by now
        finalized += 1
        assert report.status == "FINALIZED" and current.previous_id == v1.pk
        assert current.changes["from"] == v1.version and current.changes["status_from"] == (
            "PRELIMINARY"
        )
        assert current.changes["earned_before"] == pytest.approx(v1.earned, abs=0.01)
        # The preliminary rows are still there, untouched.
        assert MeterRevenue.objects.filter(version=v1).count() == v1.rows
        linked = MeterRevenue.objects.filter(version=current, previous_total_revenue__isnull=False)
        assert linked.count() == min(v1.rows, current.rows)
    assert finalized >= 1


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_a_second_sync_fetches_only_what_is_new_and_never_overwrites_a_final_figure(
    leap_sim, run_revenue_sync
):
    run_revenue_sync()
    final = ReportVersion.objects.filter(status="FINALIZED", state="complete").latest("number")
    month = month_text(final.report.month)
    frozen = list(
        MeterRevenue.objects.filter(version=final)
        .order_by("meter_id")
        .values_list("meter_id", "total_revenue")
    )
    before = len(leap_sim.requests)
    again = run_revenue_sync()
    assert again.versions_found == 0 and again.rows_written == 0
    searches = [p for _, p, _ in leap_sim.requests[before:] if "aggregation/meter" in p]
    assert searches == []
    # Leap publishes a true-up: a new final version, stored beside the old one.
    leap_sim.advance(minutes=5)
    assert leap_sim.revenue.revise(month) == f"V{final.number + 1}"
    third = run_revenue_sync()
    assert third.versions_fetched == 1
    newest = ReportVersion.objects.get(report=final.report, version=f"V{final.number + 1}")
    report = RevenueReport.objects.get(pk=final.report_id)
    assert report.current_version_id == newest.pk and report.status == "FINALIZED"
    assert newest.changes["from"] == final.version
    assert frozen == list(
        MeterRevenue.objects.filter(version=final)
        .order_by("meter_id")
        .values_list("meter_id", "total_revenue")
    )
    changed = MeterRevenue.objects.filter(version=newest).exclude(
        total_revenue=models_f("previous_total_revenue")
    )
    assert changed.count() == newest.changes["meters_changed"]


def models_f(name):
    return F(name)


@pytest.mark.leap_sim(meters=40, changes_per_hour=0, validate=False)  # a row broken on purpose
def test_an_invalid_row_is_kept_with_its_error_and_the_rest_applied(leap_sim, run_revenue_sync):
    versions = sorted(leap_versions(leap_sim))
    month, _ = versions[-1]
    victim = next(
        r for r in leap.get_client().iter_revenue("meter", month, month) if r.total_revenue
    )
    leap_sim.revenue.break_row(month, str(victim.meter_id), total_revenue="lots")
    run = run_revenue_sync()
    assert run.status == "done" and run.invalid == 1
    record = InvalidRevenueRecord.objects.get()
    assert record.what == "meter row" and record.raw["meter_id"] == str(victim.meter_id)
    assert "total_revenue" in record.message
    current = RevenueReport.objects.get(month=record.month).current_version
    assert current.invalid_rows == 1
    assert not MeterRevenue.objects.filter(version=current, meter_id=victim.meter_id).exists()
    assert MeterRevenue.objects.filter(version=current).count() == current.rows > 0


@pytest.mark.leap_sim(meters=30, changes_per_hour=0, validate=False)
def test_an_invalid_report_is_kept_and_retried_while_the_other_months_apply(
    leap_sim, run_revenue_sync
):
    newest: dict[str, str] = {}
    for m, v in leap_versions(leap_sim):
        if int(v[1:]) > int(newest.get(m, "V0")[1:]):
            newest[m] = v
    month = min(newest)
    name = newest[month]
    original = leap_sim.revenue.report

    def broken(months, version_name):
        out = original(months, version_name)
        if out and out["settlement_period"]["period_start"] == month and version_name == name:
            out["total_meters_count"] = "many"
        return out

    leap_sim.revenue.report = broken
    run = run_revenue_sync()
    assert run.status == "done"
    invalid = ReportVersion.objects.get(
        report__month__year=int(month[:4]), report__month__month=int(month[5:]), version=name
    )
    assert invalid.state == "invalid" and "total_meters_count" in invalid.error
    assert invalid.summary_raw["total_meters_count"] == "many"
    assert InvalidRevenueRecord.objects.filter(what="report").count() == 1
    # Every other version was applied.
    assert ReportVersion.objects.filter(state="complete").count() == len(newest) - 1
    leap_sim.revenue.report = original
    again = run_revenue_sync()
    invalid.refresh_from_db()
    assert invalid.state == "complete" and again.versions_fetched >= 1


@pytest.mark.leap_sim(meters=20, changes_per_hour=0)
def test_leap_outages_are_retried_then_the_run_fails_and_says_why(leap_sim, run_revenue_sync):
    leap_sim.faults.add("500", path="/v1.1/revenue/periodic/versions", times=2)
    run = run_revenue_sync()
    assert run.status == "done"
    leap_sim.faults.add("500", path="/v1.1/revenue/periodic/versions", times=50)
    failed = run_revenue_sync()
    assert failed.status == "failed"
    assert "Leap unavailable" in failed.error
    assert RevenueSyncRun.objects.filter(status="done").count() == 1
