"""Revenue & Analytics (settlement.yml): the client against the simulator, checked against the spec.

Every response here passes through the leap_sim fixture's validating transport (openapi-core
against settlement.yml); error paths are checked with `contract.check` directly.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import leap
from leap.simulator import Simulator
from leap.simulator.contract import check
from leap.specs import missing_specs_message, specs_available
from tests.conftest import skip_or_fail

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _specs():
    if not specs_available():
        skip_or_fail(missing_specs_message())


@pytest.mark.leap_sim(meters=150, now=NOW)
def test_every_settlement_endpoint_through_the_real_client_validates(leap_sim):
    client = leap.get_client()
    versions = client.list_report_versions("2025-11", "2026-11")
    by_month = Counter(v.settlement_period.period_start for v in versions)
    # October 2026 has only its preliminary V1 (V2 comes on 20 December); September has both.
    assert by_month["2026-10"] == 1 and by_month["2026-09"] == 2 and "2026-11" not in by_month
    report = client.get_revenue_report("2026-09", "2026-09")
    assert [s.status for s in report.report_status] == ["FINALIZED"]
    assert report.report_status[0].version == "V2"
    preliminary = client.get_revenue_report("2026-10", "2026-10")
    assert preliminary.report_status[0].status == "PRELIMINARY"
    rows = list(client.iter_revenue("meter", "2026-09", "2026-09", page_size=40))
    assert len({r.meter_id for r in rows}) == len(rows) == report.total_meters_count
    assert sum(r.total_revenue for r in rows) == pytest.approx(report.actual_revenue, abs=0.05)
    assert sum(r.missed_revenue for r in rows) == pytest.approx(report.missed_revenue, abs=0.05)
    v1 = list(client.iter_revenue("meter", "2026-09", "2026-09", version="V1"))
    assert {r.version for r in v1} == {"V1"} and len(v1) == len(rows)
    for aggregation in ("customer", "market-group", "load-type", "utility"):
        items = list(client.iter_revenue(aggregation, "2026-09", "2026-09", page_size=7))
        assert items, aggregation
        if aggregation in ("customer", "utility"):  # every meter in exactly one
            total = sum(i.total_revenue for i in items)
            assert total == pytest.approx(report.actual_revenue, abs=0.5), aggregation
    year = client.get_yearly_overview(2026, report_statuses=["FINALIZED", "PRELIMINARY"])
    assert len(year.yearly_summary["monthly_revenue"]) == 12
    pages = list(
        client.iter_unresponsive_pages(
            "2026-09",
            historical_responsiveness=["NEVER_RESPONDS", "RARELY_RESPONDS"],
            page_size=25,
            include_summary=True,
        )
    )
    found = [m for page in pages for m in page]
    assert found and {m.historical_responsiveness for m in found} <= {
        "NEVER_RESPONDS",
        "RARELY_RESPONDS",
    }
    expected = {
        (r.meter_id, r.program)
        for r in rows
        if r.total_number_of_events
        and r.historical_responsiveness in ("NEVER_RESPONDS", "RARELY_RESPONDS")
    }
    assert {(m.meter_id, m.program) for m in found} == expected
    assert leap_sim.validator is None or leap_sim.validator.checked >= 10


@pytest.mark.leap_sim(meters=60, now=NOW)
def test_a_meters_revenue_follows_its_enrollment_and_its_dispatches(leap_sim):
    client = leap.get_client()
    before = {r.meter_id: r for r in client.iter_revenue("meter", "2026-10", "2026-10")}
    active = next(
        m
        for m in before.values()
        if m.revenue_type == "DELIVERED_CAPACITY" and m.historical_responsiveness != "NEW_METER"
    )
    leap_sim.create_dispatch(
        meter_ids=[str(active.meter_id)], start=datetime(2026, 10, 14, 18, tzinfo=UTC)
    )
    after = {r.meter_id: r for r in client.iter_revenue("meter", "2026-10", "2026-10")}
    assert after[active.meter_id].total_number_of_events == active.total_number_of_events + 1
    assert after[active.meter_id].potential_revenue > active.potential_revenue
    # A meter that is only eligible earns nothing and misses the whole potential.
    missed = [m for m in after.values() if m.revenue_type == "MISSED_ENROLLMENT_CAPACITY"]
    assert missed and all(m.total_revenue == 0 and m.missed_revenue > 0 for m in missed)
    # Archived: no capacity revenue any more.
    leap_sim.archive(str(active.meter_id))
    archived = next(
        r
        for r in client.iter_revenue("meter", "2026-10", "2026-10")
        if r.meter_id == active.meter_id
    )
    assert archived.revenue_type == "NO_CAPACITY_REVENUE" and archived.total_revenue == 0


@pytest.mark.leap_sim(meters=40, now=NOW)
def test_a_revision_publishes_a_new_final_version_with_changed_figures(leap_sim):
    client = leap.get_client()
    leap_sim.advance(minutes=1)
    name = leap_sim.revenue.revise("2026-08")
    assert name == "V3"
    versions = [v.version for v in client.list_report_versions("2026-08", "2026-08")]
    assert versions == ["V1", "V2", "V3"]
    v2 = {
        r.meter_id: r.total_revenue
        for r in client.iter_revenue("meter", "2026-08", "2026-08", version="V2")
    }
    v3 = {r.meter_id: r.total_revenue for r in client.iter_revenue("meter", "2026-08", "2026-08")}
    assert set(v2) == set(v3)
    report = client.get_revenue_report("2026-08", "2026-08")
    assert report.previous_adjusted_revenue == pytest.approx(sum(v2.values()), abs=0.05)


@pytest.mark.leap_sim(meters=40, now=NOW)
def test_settlement_faults_are_retried_and_tokens_are_bound_to_their_search(leap_sim):
    client = leap.get_client()
    leap_sim.faults.add("429", path="/v1.1/revenue/periodic/versions", retry_after=0)
    leap_sim.faults.add("500", path="/v1.1/revenue/periodic/aggregation/meter/search")
    leap_sim.faults.add("torn", path="/v1.1/revenue/periodic/aggregation/meter/search")
    assert client.list_report_versions("2026-09", "2026-09")
    assert list(client.iter_revenue("meter", "2026-09", "2026-09"))
    assert client.stats.retries >= 3
    leap_sim.faults.add("expired_token", path="/v1.1/revenue/periodic/aggregation/meter/search")
    with pytest.raises(leap.LeapPageTokenExpired):
        list(client.iter_revenue("meter", "2026-09", "2026-09", page_size=5))


@pytest.mark.leap_sim(meters=20, now=NOW)
def test_the_client_refuses_what_leap_would_refuse_before_asking(leap_sim):
    client = leap.get_client()
    with pytest.raises(ValueError):
        list(client.iter_revenue("meter", "2026-9", "2026-09"))
    with pytest.raises(ValueError):
        list(client.iter_revenue("meter", "2026-09", "2026-09", page_size=1001))
    with pytest.raises(ValueError):
        list(client.iter_revenue("region", "2026-09", "2026-09"))
    with pytest.raises(ValueError):
        list(client.iter_unresponsive_pages("2026-09", historical_responsiveness=["SOMETIMES"]))
    # A long period is cut into windows of three months.
    assert client.month_windows("2025-12", "2026-06") == [
        ("2025-12", "2026-02"),
        ("2026-03", "2026-05"),
        ("2026-06", "2026-06"),
    ]
    rows = list(client.iter_revenue("meter", "2026-01", "2026-06"))
    assert {r.delivery_start_date for r in rows} == {f"2026-0{m}" for m in range(1, 7)}


def test_settlement_error_paths_validate_in_the_settlement_envelope():
    sim = Simulator(meters=10, now=NOW)
    base = "https://api.staging.leap.energy"
    with httpx.Client(transport=sim.transport(), base_url=base) as http:
        auth = {"Authorization": f"Bearer {sim.api_key}"}
        cases = [
            http.post("/v1.1/revenue/periodic/aggregation/meter/search", json={}),
            http.post(
                "/v1.1/revenue/periodic/aggregation/meter/search",
                json={"period_start": "2026-01", "period_end": "2026-06", "page_size": 10},
                headers=auth,
            ),
            http.post(
                "/v1.1/revenue/periodic/aggregation/meter/search",
                json={"period_start": "2026-01", "period_end": "2026-01", "colour": "red"},
                headers=auth,
            ),
            http.get("/v1.1/revenue/periodic/reports?period_start=2026-13", headers=auth),
            http.get(
                "/v1.1/revenue/periodic/reports?period_start=2026-01&period_end=2026-01",
                headers={**auth, "Accept": "application/xml"},
            ),
            http.post(
                "/v1.1/performance/diagnosis/monthly/unresponsive/meters",
                json={"year_month": "2026-09", "historical_responsiveness": ["SOMETIMES"]},
                headers=auth,
            ),
            http.get("/v1.1/revenue/yearly/20x6", headers=auth),
        ]
    assert [r.status_code for r in cases] == [401, 400, 400, 400, 415, 400, 400]
    for response in cases:
        body = response.json()
        assert body["details"][0]["description"], body
        problems = check(
            response.request.method,
            response.request.url.path,
            response.status_code,
            dict(response.headers),
            response.content,
        )
        assert problems == [], problems


def test_settlement_responses_of_a_larger_portfolio_validate_month_by_month():
    sim = Simulator(meters=400, seed=7, now=NOW - timedelta(days=40))
    with httpx.Client(
        transport=sim.transport(), base_url="https://api.staging.leap.energy"
    ) as http:
        auth = {"Authorization": f"Bearer {sim.api_key}"}
        for month in ("2026-01", "2026-06", "2026-09"):
            response = http.post(
                "/v1.1/revenue/periodic/aggregation/meter/search",
                json={"period_start": month, "period_end": month, "page_size": 1000},
                headers=auth,
            )
            assert response.status_code == 200
            assert response.json()["meters"]
            assert (
                check(
                    "POST", response.request.url.path, 200, dict(response.headers), response.content
                )
                == []
            )
