"""Contract: what the simulator answers validates against Leap's OpenAPI specs.

Every endpoint is exercised through the real client (the leap_sim fixture validates each response
with openapi-core), error paths through plain httpx, and a bounded schemathesis run drives the read
endpoints in-process over WSGI. Skips without the specs (fails under CI=true).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

import leap
from leap.simulator import Simulator
from leap.simulator.contract import ValidatingTransport, check
from leap.specs import load_spec, missing_specs_message, specs_available
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.contract

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _specs():
    if not specs_available():
        skip_or_fail(missing_specs_message())


@pytest.mark.leap_sim(meters=120, now=NOW)
def test_every_endpoint_through_the_real_client_validates(leap_sim):
    client = leap.get_client()
    leap_sim.deliver_to = lambda url, headers, content: httpx.Response(200, text="ok")
    meter_ids = leap_sim.meter_ids()
    assert len(list(client.iter_meters(page_size=50))) == 120
    assert len(list(client.iter_enrollments(page_size=50))) == 120
    client.get_meter(meter_ids[0])
    client.get_enrollment(meter_ids[1])
    leap_sim.create_dispatch(meter_ids=meter_ids[:5], start=NOW + timedelta(hours=3))
    leap_sim.create_dispatch(
        meter_ids=meter_ids[5:7], program="ELRP", start=NOW + timedelta(hours=5)
    )
    group = next(iter(leap_sim.market_groups.values()))
    leap_sim.create_dispatch(market_group_id=group.market_group_id, start=NOW + timedelta(hours=4))
    window = (NOW, NOW + timedelta(days=2))
    assert len(list(client.iter_meter_dispatches(*window))) == 7
    assert len(list(client.iter_group_dispatches(*window))) == 1
    assert client.get_dispatch_webhook("meter") is None
    for level in ("meter", "group"):
        client.put_dispatch_webhook(level, f"https://portal.test/{level}", {"X-Secret": "s"})
        assert client.get_dispatch_webhook(level) is not None
    client.dispatch_integration_test(
        "meter",
        {
            "meter_dispatches": [
                {
                    "meter_id": meter_ids[0],
                    "timeslots": [
                        {
                            "meter_event_id": str(uuid.uuid4()),
                            "start_time": "2026-11-25T00:00:00Z",
                            "end_time": "2026-11-25T01:00:00Z",
                            "cancelled": False,
                            "programs": ["CCA"],
                            "priority": 1,
                            "is_voluntary": False,
                            "performance_compensation_cap": "up-to-nomination",
                            "dispatch_event_types": ["capacity-test"],
                        }
                    ],
                }
            ]
        },
    )
    client.delete_dispatch_webhook("group")
    created = client.create_webhook("https://portal.test/w", ["meter.created"], {"X-K": "v"})
    webhook_id = getattr(created, "webhook_id", created)
    client.update_webhook(webhook_id, "https://portal.test/w2", ["meter.created"], {})
    assert len(client.list_webhooks()) == 1
    client.test_webhook(
        webhook_id, {"webhook_event_type": "meter.created", "meter_id": meter_ids[0]}
    )
    client.delete_webhook(webhook_id)
    assert leap_sim.validator is not None and leap_sim.validator.checked >= 20
    assert leap_sim.validator.failures == []


def test_error_paths_validate_in_each_services_envelope():
    sim = Simulator(seed=1, meters=30, now=NOW)
    transport = ValidatingTransport(sim.transport())
    good = {"Authorization": f"Bearer {sim.api_key}"}
    client = httpx.Client(
        base_url="https://api.staging.leap.energy", transport=transport, headers=good
    )
    unknown = "00000000-0000-4000-8000-000000000000"
    answers = [
        client.get("/v2/meters/nope"),
        client.get(f"/v2/meters/{unknown}"),
        client.get(f"/v2/meters/{unknown}/enrollments"),
        client.post("/v2/meters/search", json={"page_size": 9999}),
        client.post("/v2/meters/enrollments/search", json={"meter_ids": ["x"]}),
        client.post("/v2/meters/search", headers={"Authorization": "Bearer wrong"}, json={}),
        client.post("/v2/meters/search", headers={"Authorization": ""}, json={}),
        client.post("/v2/dispatch/meter/search", json={"start_date": "2026-01-01T00:00:00Z"}),
        client.post("/v2/dispatch/group/search", headers={"Authorization": "Bearer x"}, json={}),
        client.get("/v2/dispatch/group/webhook"),
        client.delete("/v2/dispatch/meter/webhook"),
        client.put("/v2/dispatch/meter/webhook", json={"url": "not a url"}),
        client.post("/v2/dispatch/meter/webhook/integration_test", json={"meter_dispatches": []}),
        client.get("/v1.1/webhooks", headers={"Authorization": "Basic abc"}),
        client.put(
            f"/v1.1/webhooks/{unknown}",
            json={"receiver_url": "https://x.test", "event_types": ["meter.created"]},
        ),
        client.delete(f"/v1.1/webhooks/{unknown}"),
        client.post(f"/v1.1/webhooks/{unknown}/test", json={}),
    ]
    assert all(a.status_code >= 400 for a in answers)
    assert transport.checked == len(answers)
    assert transport.failures == []


def test_the_checker_catches_the_specs_own_defects():
    """The validator is not a rubber stamp: Leap's example data fails it where the spec says so."""
    example = load_spec("dispatching")["components"]["schemas"]["SearchMeterDispatchEventResponse"][
        "example"
    ]
    body = json.dumps(example).encode()  # holds energy_kw: null, which the spec does not allow
    problems = check(
        "POST", "/v2/dispatch/meter/search", 200, {"content-type": "application/json"}, body
    )
    assert problems and "None for not nullable" in " ".join(problems)
    null_token = json.dumps({"meters": [], "next_page_token": None}).encode()
    assert check("POST", "/v2/meters/search", 200, {"content-type": "application/json"}, null_token)
    missing = json.dumps({"next_page_token": "abc"}).encode()
    assert check("POST", "/v2/meters/search", 200, {"content-type": "application/json"}, missing)
    bad_error = json.dumps({"code": "NOPE", "message": "x"}).encode()
    assert check(
        "POST", "/v2/dispatch/meter/search", 400, {"content-type": "application/json"}, bad_error
    )


def test_faulted_replies_are_exempt_but_extra_fields_still_validate():
    sim = Simulator(seed=1, meters=30, now=NOW)
    transport = ValidatingTransport(sim.transport())
    client = httpx.Client(
        base_url="https://api.staging.leap.energy",
        transport=transport,
        headers={"Authorization": f"Bearer {sim.api_key}"},
    )
    sim.faults.add("500")
    sim.faults.add("torn")
    sim.faults.add("extra_fields")
    sim.faults.add("null_page_token")
    assert client.post("/v2/meters/search", json={}).status_code == 500
    assert client.post("/v2/meters/search", json={}).status_code == 200
    extra = client.post("/v2/meters/search", json={}).json()
    assert extra["meters"][0]["future_flag"] is True
    assert client.post("/v2/meters/search", json={}).json()["next_page_token"] is None
    assert transport.failures == []


READ_OPERATIONS = [
    ("meters", "/v2/meters/{meter_id}", "GET"),
    ("meters", "/v2/meters/search", "POST"),
    ("enrollments", "/v2/meters/{meter_id}/enrollments", "GET"),
    ("enrollments", "/v2/meters/enrollments/search", "POST"),
    ("dispatching", "/dispatch/meter/search", "POST"),
    ("dispatching", "/dispatch/group/search", "POST"),
    ("dispatching", "/dispatch/meter/webhook", "GET"),
    ("webhooks", "/v1.1/webhooks", "GET"),
    ("settlement", "/v1.1/revenue/periodic/aggregation/meter/search", "POST"),
    ("settlement", "/v1.1/revenue/periodic/aggregation/utility/search", "POST"),
    ("settlement", "/v1.1/revenue/periodic/reports", "GET"),
    ("settlement", "/v1.1/revenue/periodic/versions", "GET"),
    ("settlement", "/v1.1/revenue/yearly/{year}", "GET"),
    ("settlement", "/v1.1/performance/diagnosis/monthly/unresponsive/meters", "POST"),
]


@pytest.mark.parametrize(("spec", "path", "method"), READ_OPERATIONS)
def test_schemathesis_finds_no_schema_failure_on_read_endpoints(spec, path, method):
    sim = Simulator(seed=3, meters=40, now=NOW, changes_per_hour=0)
    sim.set_dispatch_webhook("meter", "https://portal.test/d", {"X-Secret": "s"})
    sim.register_webhook("https://portal.test/w")
    ids = sim.meter_ids()
    sim.create_dispatch(meter_ids=ids[:3], start=NOW + timedelta(hours=2))
    schema = schemathesis.openapi.from_dict(load_spec(spec))
    operation = schema[path][method]
    auth = {"Authorization": f"Bearer {sim.api_key}"}
    statuses: list[int] = []

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        if case.path_parameters and "meter_id" in case.path_parameters and len(statuses) % 2:
            case.path_parameters["meter_id"] = ids[len(statuses) % len(ids)]  # a real meter too
        if isinstance(case.body, dict):
            case.body.pop("page_token", None)  # random tokens are rightly refused
        response = case.call(app=sim.wsgi_app, headers=auth)
        statuses.append(response.status_code)
        case.validate_response(
            response,
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
        )
        if (
            method == "POST"
            and path.endswith("/meters/search")
            or path.endswith("enrollments/search")
        ):
            # A body the spec allows is a search the simulator answers.
            assert response.status_code == 200, response.text

    run()
    assert statuses and 500 not in statuses
    if "{meter_id}" in path or path.endswith("webhook") or path == "/v1.1/webhooks":
        assert 200 in statuses


@pytest.mark.parametrize(
    ("seed", "now", "device_names"),
    [
        (1, datetime(2026, 7, 1, 12, tzinfo=UTC), "lf"),
        (2, datetime(2027, 1, 15, 6, tzinfo=UTC), "smet"),
    ],
)
def test_a_whole_portfolio_validates_in_both_device_spellings(seed, now, device_names):
    """Every meter and enrollment of a portfolio, not only the first page (rare branches too)."""
    sim = Simulator(seed=seed, meters=300, now=now, device_names=device_names)
    sim.add_meter(region="NYISO")
    target = sim.meter_ids()[7]
    sim.open_action(target, "XYZ_0042")
    sim.set_participation(target, "DISENROLL", reason="Customer moved")
    transport = ValidatingTransport(sim.transport())
    client = httpx.Client(
        base_url="https://api.staging.leap.energy",
        transport=transport,
        headers={"Authorization": f"Bearer {sim.api_key}"},
    )
    seen = 0
    for path in ("/v2/meters/search", "/v2/meters/enrollments/search"):
        token = None
        while True:
            data = client.post(
                path, json={"page_size": 100, **({"page_token": token} if token else {})}
            ).json()
            seen += len(data["meters"])
            token = data.get("next_page_token")
            if not token:
                break
    assert seen == 2 * 301
    assert transport.failures == []


def _asset(ref: str, **overrides):
    asset = {
        "partner_reference": ref,
        "transmission_region": "CAISO",
        "customer_classification": "RESIDENTIAL",
        "load_types": ["BATTERY_STORAGE"],
        "meter_type": "DEVICE",
        "customer": {
            "street_1": "12 Main St",
            "postal_code": "94103",
            "city": "San Francisco",
            "state_or_province_code": "CA",
            "country_code": "US",
        },
        "device": {"device_type": "BATTERY", "device_serial_number": f"SN-{ref}"},
    }
    asset.update(overrides)
    return asset


@pytest.mark.leap_sim(meters=30, now=NOW, changes_per_hour=0)
def test_create_meters_endpoints_through_the_real_client_validate(leap_sim):
    """Jobs (accepted, processing, per-asset outcomes), listings with filters and paging, the
    single create with an onboarding token, provisional assets, the 400 with a details array."""
    client = leap.get_client()
    taken = leap_sim.find_meters(lambda s: bool(s.partner_reference), 1)[0].partner_reference
    nowhere = {**_asset("x")["customer"], "postal_code": "00501"}
    job_id = client.create_meter_job(
        [_asset("cm-1"), _asset("cm-1"), _asset("cm-2", customer=nowhere), _asset(taken)],
        file_name="contract-1.json",
    )
    assert {a.status for a in client.get_meter_job(job_id).assets} == {"PROCESSING"}
    leap_sim.advance(minutes=1)
    job = client.get_meter_job(job_id)
    assert job.status == "COMPLETED_WITH_ERRORS"
    assert [a.status for a in job.assets] == [
        "COMPLETED", "MULTIPLE_PARTNER_REFERENCE", "FAILED", "DUPLICATE"]  # fmt: skip
    updated = client.create_meter_job([_asset(taken)], update_existing=True)
    leap_sim.advance(minutes=1)
    assert client.get_meter_job(updated).assets[0].status_detail.name == "METER_UPDATED"
    for n in range(3):
        client.create_meter_job([_asset(f"cm-page-{n}")], file_name=f"page-{n}.json")
    assert len(list(client.iter_meter_jobs(page_size=2))) == 5
    assert [j.file_name for j in client.find_meter_jobs("contract-1.json")] == ["contract-1.json"]
    assert len(list(client.iter_meter_jobs({"status": ["PROCESSING"]}))) == 3
    assert list(
        client.iter_meter_jobs(search_query="cm-page-1", search_fields=["partner_reference"])
    )
    assert "COMPLETED" in client.meter_job_filters()["status"]
    failed = list(client.iter_provisional_assets({"status": ["FAILED", "DUPLICATE"]}, page_size=1))
    assert len(failed) == 2 and all(a.data for a in failed)
    token = leap_sim.jobs.issue_token()
    single = client.create_meter(token, _asset("cm-single"))
    assert (
        single.status == "COMPLETED" and client.create_meter(token, _asset("cm-single")) == single
    )
    with pytest.raises(leap.LeapRejected) as refused:
        client.create_meter_job([_asset("ok-1"), {"partner_reference": "no-region"}])
    assert {d["problem_field"] for d in refused.value.details} >= {"transmission_region"}
    assert all(d["json_index"] == 1 for d in refused.value.details)
    with pytest.raises(leap.LeapRejected) as bad_token:
        client.create_meter("not-a-token", _asset("cm-3"))
    assert bad_token.value.details[0]["field"] == "onboarding_token"
    with pytest.raises(ValueError, match="at most 1000"):
        client.create_meter_job([_asset(f"many-{n}") for n in range(1001)])
    assert leap_sim.validator is not None and leap_sim.validator.checked >= 15
    assert leap_sim.validator.failures == []


def test_create_meters_error_paths_validate():
    sim = Simulator(seed=1, meters=30, now=NOW)
    transport = ValidatingTransport(sim.transport())
    client = httpx.Client(
        base_url="https://api.staging.leap.energy",
        transport=transport,
        headers={"Authorization": f"Bearer {sim.api_key}"},
    )
    unknown = "00000000-0000-4000-8000-000000000000"
    answers = [
        client.post("/v1.1/jobs/meters", json={"assets": []}),
        client.post("/v1.1/jobs/meters", json={"assets": [{"partner_reference": "ab"}]}),
        client.post("/v1.1/jobs/meters", json=[1]),
        client.post("/v1.1/jobs/meters", headers={"Authorization": "Bearer nope"}, json={}),
        client.get(f"/v1.1/jobs/meters/{unknown}"),
        client.get("/v1.1/jobs/meters/not-a-uuid"),
        client.get("/v1.1/jobs/meters", params={"filter": "colour:red"}),
        client.get("/v1.1/provisional-assets", params={"filter": "colour:red"}),
        client.get("/v1.1/provisional-assets", params={"page_size": "0"}),
        client.post("/v1.1/meters", json={"onboarding_token": "x", "provisional_asset": {}}),
    ]
    assert all(a.status_code >= 400 for a in answers), [a.status_code for a in answers]
    assert transport.checked == len(answers)
    assert transport.failures == []
    # The checker holds the array form of details to Leap's ValidationError items.
    bad = json.dumps({"title": "x", "status": 400, "details": [{"json_index": 1}]}).encode()
    assert check("POST", "/v1.1/jobs/meters", 400, {"content-type": "application/json"}, bad)
