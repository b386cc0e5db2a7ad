"""The Leap client's own edge cases, on httpx.MockTransport: the request itself, building clients.

Paging, errors and retries, dispatch and webhooks are in test_client_{paging,errors,dispatch}.py.
Behaviour against a realistic Leap lives in test_client_simulator.py (the project's simulator).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import pytest

import leap
from leap import LeapBadPayload, LeapNotFound
from leap.client import USER_AGENT
from tests.leap.client_fakes import BASE, KEY, Recorder, meter

# --- the request itself --------------------------------------------------------------------------


def test_requests_carry_bearer_key_user_agent_and_the_full_service_path(make_client):
    handler = Recorder(
        httpx.Response(200, json=meter(1)),
        httpx.Response(200, json={"meters": []}),
        httpx.Response(200, json={"results": [], "next_page_token": None}),
        httpx.Response(200, json={"webhooks": []}),
    )
    client = make_client(handler)
    client.get_meter(UUID(int=1))
    list(client.iter_enrollment_pages())
    start = datetime(2026, 11, 24, tzinfo=UTC)
    list(client.iter_meter_dispatches(start, start + timedelta(days=2)))
    client.list_webhooks()

    urls = [str(r.url) for r in handler.requests]
    assert urls == [
        f"{BASE}/v2/meters/00000000-0000-0000-0000-000000000001",
        f"{BASE}/v2/meters/enrollments/search",
        f"{BASE}/v2/dispatch/meter/search",
        f"{BASE}/v1.1/webhooks",
    ]
    for request in handler.requests:
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("leapportal/")


def test_get_meter_parses_keeps_raw_and_404_is_not_found(make_client):
    raw = meter(7, brand_new_field={"nested": True})
    handler = Recorder(
        httpx.Response(200, json=raw),
        httpx.Response(
            404,
            json={"title": "Meter not found", "status": 404, "details": {"meter_id": "x"}},
        ),
    )
    client = make_client(handler)
    detail = client.get_meter(str(UUID(int=7)))
    assert detail.meter_id == UUID(int=7)
    assert detail.raw == raw
    assert detail.extra_fields == {"brand_new_field": {"nested": True}}

    with pytest.raises(LeapNotFound) as caught:
        client.get_meter(UUID(int=8))
    assert caught.value.status == 404
    assert caught.value.message == "Meter not found - meter_id: x"
    assert len(handler.requests) == 2  # a 404 is never retried


def test_get_enrollment_with_a_bad_body_raises_bad_payload(make_client):
    handler = Recorder(httpx.Response(200, json={"meter_id": "nope"}))
    client = make_client(handler)
    with pytest.raises(LeapBadPayload) as caught:
        client.get_enrollment(UUID(int=3))
    assert caught.value.raw == {"meter_id": "nope"}
    assert caught.value.path == "/v2/meters/00000000-0000-0000-0000-000000000003/enrollments"
    assert client.stats.last_error.startswith("MeterEnrollment")


# --- building clients ----------------------------------------------------------------------------


def test_get_client_builds_from_settings(settings):
    settings.LEAP_BASE_URL = "https://api.leap.energy"
    settings.LEAP_API_KEY = "live-key-1234567890"
    settings.LEAP_TIMEOUT_SECONDS = 7.5
    settings.LEAP_MAX_RETRIES = 2
    settings.LEAP_MAX_RETRY_WAIT_SECONDS = 33.0
    with leap.get_client() as client:
        assert client.max_total_wait == 33.0
        assert client.base_url == "https://api.leap.energy"
        assert client.max_retries == 2
        assert client._http.timeout.read == 7.5
        assert client._http.headers["Authorization"] == "Bearer live-key-1234567890"
        assert client.stats is leap.client_stats()


def test_use_transport_scopes_every_get_client_and_nests(sleeps):
    outer = Recorder(
        httpx.Response(200, json={"webhooks": []}), httpx.Response(200, json={"webhooks": []})
    )
    inner = Recorder(httpx.Response(500), httpx.Response(200, json={"webhooks": []}))
    with leap.use_transport(httpx.MockTransport(outer)):
        leap.get_client().list_webhooks()
        with leap.use_transport(httpx.MockTransport(inner), sleep=sleeps.append):
            leap.get_client().list_webhooks()
        leap.get_client().list_webhooks()
    assert len(outer.requests) == 2 and len(inner.requests) == 2
    assert len(sleeps) == 1  # the inner scope's client kwargs applied

    fixture_transport = Recorder(httpx.Response(200, json={"webhooks": []}))
    leap.set_transport(httpx.MockTransport(fixture_transport))
    try:
        leap.get_client().list_webhooks()
    finally:
        leap.set_transport(None)
    assert len(fixture_transport.requests) == 1
    assert leap.get_client()._http._transport is not None  # back to the network transport
