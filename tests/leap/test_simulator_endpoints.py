"""The simulator's dispatch search, integration test, webhook subscriptions and faults; the real
client on it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

import leap
from leap.simulator import Simulator
from tests.leap.simulator_fakes import NOW, Inbox, http


def test_dispatch_search_guards_the_window_and_pages_by_uuid():
    sim = Simulator(seed=3, meters=600, now=NOW)
    client = http(sim)
    too_long = client.post(
        "/v2/dispatch/meter/search",
        json={"start_date": "2026-11-01T00:00:00Z", "end_date": "2026-12-02T00:00:01Z"},
    )
    assert too_long.status_code == 400
    assert (
        too_long.json()["code"] == "BAD_REQUEST"
        and too_long.json()["error_code"] == "DISPATCH_INVALID_INPUT"
    )
    sim.create_dispatch(meter_ids=sim.meter_ids(), notify=False)
    window = {"start_date": NOW.isoformat(), "end_date": (NOW + timedelta(days=1)).isoformat()}
    first = client.post("/v2/dispatch/meter/search", json=window).json()
    assert len(first["results"]) == 500
    token = first["next_page_token"]
    assert str(__import__("uuid").UUID(token)) == token
    second = client.post("/v2/dispatch/meter/search", json={**window, "page_token": token}).json()
    assert len(second["results"]) == 100 and "next_page_token" not in second
    realtime = sim.create_dispatch(
        meter_ids=sim.meter_ids(1), dispatch_event_types=["5m"], notify=False
    )
    default = client.post(
        "/v2/dispatch/meter/search", json={**window, "meter_event_ids": realtime}
    ).json()
    assert default["results"] == []
    included = client.post(
        "/v2/dispatch/meter/search",
        json={**window, "meter_event_ids": realtime, "exclude_real_time_events": False},
    ).json()
    assert included["results"][0]["timeslots"][0]["meter_event_id"] == realtime[0]


def test_integration_test_echoes_what_the_receiver_answered(sim):
    client = http(sim)
    client.put(
        "/v2/dispatch/group/webhook",
        json={"url": "https://portal.test/g", "headers": [{"name": "X-A", "value": "b"}]},
    )
    seen = []

    def receiver(url, headers, content):
        seen.append(json.loads(content))
        return httpx.Response(202, headers={"X-Receiver": "ok"}, text="queued")

    sim.deliver_to = receiver
    body = {
        "group_dispatches": [
            {
                "market_group_id": "406720c2-0175-4137-9ff1-1641702292d4",
                "meter_ids": [],
                "timeslots": [{"market_group_event_id": "1acfced0-16f4-4fb7-b72e-5ff939ae541e"}],
            }
        ]
    }
    result = client.post("/v2/dispatch/group/webhook/integration_test", json=body).json()
    assert result["http_status"] == 202 and result["body"] == "queued"
    assert result["headers"]["x-receiver"] == ["ok"]
    assert seen[0] == {"integration_test_notification": True, "communication_test": False, **body}
    assert client.delete("/v2/dispatch/group/webhook").status_code == 204
    assert client.post("/v2/dispatch/group/webhook/integration_test", json=body).status_code == 404


def test_webhook_subscriptions_crud_and_test(sim):
    client = http(sim)
    body = {
        "receiver_url": "https://portal.test/w",
        "event_types": ["meter.created"],
        "headers": [],
    }
    webhook_id = client.post("/v1.1/webhooks", json=body).json()["webhook_id"]
    assert (
        client.get("/v1.1/webhooks").json()["webhooks"][0]["receiver_url"]
        == "https://portal.test/w"
    )
    replaced = {
        **body,
        "receiver_url": "https://portal.test/w2",
        "headers": [{"name": "X-K", "value": "v"}],
    }
    assert client.put(f"/v1.1/webhooks/{webhook_id}", json=replaced).json() == {
        "webhook_id": webhook_id
    }
    sim.deliver_to = Inbox(503)
    tested = client.post(
        f"/v1.1/webhooks/{webhook_id}/test", json={"webhook_event_type": "meter.created"}
    ).json()
    assert tested["is_successful"] is False and tested["status_code"] == 503
    assert (
        client.post("/v1.1/webhooks", json={"receiver_url": "x", "event_types": []}).status_code
        == 400
    )
    assert (
        client.post("/v1.1/webhooks", json={**body, "event_types": ["meter.deleted"]}).status_code
        == 400
    )
    assert client.delete(f"/v1.1/webhooks/{webhook_id}").json() == {
        "message": "Operation completed successfully"
    }
    assert client.delete(f"/v1.1/webhooks/{webhook_id}").status_code == 404


def test_faults_on_the_wire(sim):
    client = http(sim)
    sim.faults.add("429", retry_after=3)
    limited = client.post("/v2/meters/search", json={})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    sim.faults.add("500")
    failed = client.get(f"/v2/meters/{sim.meter_ids(1)[0]}")
    assert failed.status_code == 500 and failed.headers["content-type"].startswith("text/plain")
    sim.faults.add("torn")
    torn = client.post("/v2/meters/search", json={})
    assert torn.status_code == 200
    with pytest.raises(ValueError):
        json.loads(torn.content)
    sim.faults.add("drop", path="/v2/meters/enrollments")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v2/meters/enrollments/search", json={})
    sim.faults.add("slow", delay=60)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v2/meters/search", json={}, timeout=5)
    sim.faults.add("extra_fields")
    extra = client.post("/v2/meters/search", json={"page_size": 2}).json()
    assert extra["meters"][0]["future_flag"] is True
    first = client.post("/v2/meters/search", json={"page_size": 2}).json()
    sim.faults.add("expired_token")
    assert (
        client.post("/v2/meters/search", json={"page_size": 2}).status_code == 200
    )  # no token: untouched
    expired = client.post(
        "/v2/meters/search", json={"page_size": 2, "page_token": first["next_page_token"]}
    )
    assert expired.status_code == 400 and "expired" in expired.text
    assert [kind for kind, *_ in sim.faults.fired] == [
        "429",
        "500",
        "torn",
        "drop",
        "slow",
        "extra_fields",
        "expired_token",
    ]
    assert not sim.faults.pending


def test_the_real_client_reads_the_simulator(leap_sim):
    client = leap.get_client()
    meters = list(client.iter_meters(page_size=15))
    assert [str(m.meter_id) for m in meters] == leap_sim.meter_ids()
    enrollments = list(client.iter_enrollments())
    assert len(enrollments) == 40
    target = leap_sim.meter_ids()[4]
    assert str(client.get_enrollment(target).meter_id) == target
    assert leap_sim.requests.count("POST /v2/meters/search") == 3
    assert leap_sim.requests.count("GET /v2/meters/{meter_id}/enrollments") == 1
    assert leap_sim.validator is None or leap_sim.validator.checked == len(leap_sim.requests)


def test_the_real_client_survives_the_simulators_faults(leap_sim):
    leap_sim.faults.add("429", times=2, retry_after=0)
    leap_sim.faults.add("500")
    leap_sim.faults.add("torn")
    leap_sim.faults.add("drop")
    leap_sim.faults.add("extra_fields")
    meters = list(leap.get_client().iter_meters())
    assert len(meters) == 40
    assert len(leap_sim.faults.fired) == 6 and not leap_sim.faults.pending


@pytest.mark.leap_sim(meters=120, seed=9, now=NOW)
def test_the_fixture_takes_options(leap_sim):
    assert len(leap_sim.portfolio) == 120 and leap_sim.seed == 9 and leap_sim.now == NOW
