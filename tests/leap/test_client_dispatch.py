"""The Leap client's dispatch v2 and webhook platform calls, against httpx.MockTransport."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest

from leap import LeapNotFound
from tests.leap.client_fakes import Recorder

# --- dispatch v2 ---------------------------------------------------------------------------------


def test_dispatch_windows_over_31_days_are_split(make_client):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=70)

    def page(request):
        return httpx.Response(200, json={"results": [], "next_page_token": None})

    handler = Recorder(page, page, page)
    client = make_client(handler)
    assert list(client.iter_meter_dispatches(start, end, meter_ids=[UUID(int=5)])) == []
    windows = [(b["start_date"], b["end_date"]) for b in handler.bodies()]
    assert windows == [
        ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("2026-02-01T00:00:00Z", "2026-03-04T00:00:00Z"),
        ("2026-03-04T00:00:00Z", "2026-03-12T00:00:00Z"),
    ]
    body = handler.bodies()[0]
    assert body["exclude_real_time_events"] is True
    assert body["exclude_voluntary_events"] is False
    assert body["meter_ids"] == [str(UUID(int=5))]
    assert "page_token" not in body


def test_dispatch_search_follows_uuid_tokens_until_null(make_client):
    token = str(uuid4())
    slot = {
        "meter_event_id": str(uuid4()),
        "start_time": "2026-11-24T18:00:00Z",
        "end_time": "2026-11-24T19:00:00Z",
        "cancelled": False,
        "energy_kw": 8,
        "performance_compensation_cap": "up-to-site-load",
        "priority": 2,
        "is_voluntary": False,
        "dispatch_event_types": ["day-ahead"],
        "programs": ["CCA"],
        "communication_test": False,
    }
    group_slot = {**slot, "market_group_event_id": slot["meter_event_id"]}
    del group_slot["meter_event_id"]
    handler = Recorder(
        httpx.Response(
            200,
            json={
                "results": [{"meter_id": str(UUID(int=1)), "timeslots": [slot]}],
                "next_page_token": token,
            },
        ),
        httpx.Response(
            200, json={"results": [{"meter_id": str(UUID(int=2)), "timeslots": [slot]}]}
        ),
        httpx.Response(
            200,
            json={
                "results": [
                    {
                        "market_group_id": str(UUID(int=9)),
                        "meter_ids": [str(UUID(int=1))],
                        "timeslots": [group_slot],
                    }
                ],
                "next_page_token": None,
            },
        ),
    )
    client = make_client(handler)
    start = datetime(2026, 11, 24, 12, tzinfo=UTC)
    found = list(
        client.iter_meter_dispatches(
            start, start + timedelta(hours=12), exclude_real_time_events=False
        )
    )
    assert [d.meter_id.int for d in found] == [1, 2]
    assert found[0].timeslots[0].energy_kw == 8.0
    groups = list(
        client.iter_group_dispatches(
            start, start + timedelta(hours=12), market_group_ids=[UUID(int=9)]
        )
    )
    assert groups[0].meter_ids == [UUID(int=1)]
    assert groups[0].timeslots[0].event_id == UUID(slot["meter_event_id"])
    bodies = handler.bodies()
    assert bodies[0]["exclude_real_time_events"] is False
    assert bodies[1]["page_token"] == token
    assert bodies[2]["market_group_ids"] == [str(UUID(int=9))]
    assert str(handler.requests[2].url).endswith("/v2/dispatch/group/search")


def test_dispatch_search_rejects_naive_or_reversed_windows(make_client):
    client = make_client(Recorder())
    start = datetime(2026, 11, 24, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        list(client.iter_meter_dispatches(start.replace(tzinfo=None), start))
    with pytest.raises(ValueError, match="must be after"):
        list(client.iter_group_dispatches(start, start))
    with pytest.raises(ValueError, match="must not be empty"):
        list(client.iter_meter_dispatches(start, start + timedelta(hours=1), meter_ids=[]))


def test_dispatch_webhook_get_put_delete_for_both_levels(make_client):
    config = {
        "url": "https://portal.example/leap/dispatch/meter",
        "headers": [{"name": "x-leapportal-secret", "value": "s" * 20}],
    }
    handler = Recorder(
        httpx.Response(404, json={"code": "NOT_FOUND", "message": "No webhook"}),
        httpx.Response(200, json=config),
        httpx.Response(200, json=config),
        httpx.Response(204),
        httpx.Response(404, json={"code": "NOT_FOUND", "message": "No webhook"}),
    )
    client = make_client(handler)
    assert client.get_dispatch_webhook("meter") is None
    stored = client.put_dispatch_webhook("group", config["url"], {"x-leapportal-secret": "s" * 20})
    assert stored.headers[0].name == "x-leapportal-secret"
    assert client.get_dispatch_webhook("meter").url == config["url"]
    assert client.delete_dispatch_webhook("meter") is True
    assert client.delete_dispatch_webhook("group") is False
    assert [(r.method, r.url.path) for r in handler.requests] == [
        ("GET", "/v2/dispatch/meter/webhook"),
        ("PUT", "/v2/dispatch/group/webhook"),
        ("GET", "/v2/dispatch/meter/webhook"),
        ("DELETE", "/v2/dispatch/meter/webhook"),
        ("DELETE", "/v2/dispatch/group/webhook"),
    ]
    assert handler.bodies()[1] == config | {"url": config["url"]}
    with pytest.raises(ValueError):
        client.get_dispatch_webhook("site")


def test_dispatch_integration_test_checks_the_body_and_parses_the_result(make_client):
    result = {
        "sent_time": "2026-11-24T08:00:00.000Z",
        "http_status": 200,
        "received_time": "2026-11-24T08:00:00.250Z",
        "headers": {"content-type": ["application/json"]},
        "body": "ok",
    }
    handler = Recorder(httpx.Response(200, json=result))
    client = make_client(handler)
    body = {
        "group_dispatches": [
            {
                "market_group_id": str(UUID(int=9)),
                "meter_ids": [str(UUID(int=1))],
                "timeslots": [
                    {
                        "market_group_event_id": str(uuid4()),
                        "start_time": "2026-11-25T00:00:00Z",
                        "end_time": "2026-11-25T01:00:00Z",
                        "energy_kw": None,
                        "cancelled": False,
                        "programs": ["ELRP"],
                        "priority": 3,
                        "is_voluntary": True,
                        "performance_compensation_cap": "grid-exports-allowed",
                        "dispatch_event_types": ["standard"],
                    }
                ],
            }
        ]
    }
    outcome = client.dispatch_integration_test("group", body)
    assert outcome.http_status == 200 and outcome.headers == {"content-type": ["application/json"]}
    assert handler.requests[0].url.path == "/v2/dispatch/group/webhook/integration_test"
    assert handler.bodies()[0] == body  # sent exactly as given
    with pytest.raises(ValueError, match="meter integration test"):
        client.dispatch_integration_test("meter", body)  # a group body on the meter level
    assert len(handler.requests) == 1


# --- webhook platform v1.1 -----------------------------------------------------------------------


def test_webhook_platform_list_create_update_delete_test(make_client):
    hook_id = "364be407-1f08-48fa-afd2-ee1dd228b76b"
    hook = {
        "webhook_id": hook_id,
        "receiver_url": "https://portal.example/leap/meter-events",
        "event_types": ["meter.created"],
        "headers": [{"name": "x-leapportal-secret", "value": "v"}],
        "created_by": "someone",
    }
    handler = Recorder(
        httpx.Response(200, json={"webhooks": [hook]}),
        httpx.Response(200, json={"webhook_id": hook_id}),
        httpx.Response(200, json={"webhook_id": hook_id}),
        httpx.Response(
            200, json={"is_successful": True, "status_code": 200, "response_time_ms": 41}
        ),
        httpx.Response(200, json={"message": "Operation completed successfully"}),
        httpx.Response(
            404, json={"error": "Not Found", "message": "The specified resource was not found"}
        ),
    )
    client = make_client(handler)
    hooks = client.list_webhooks()
    assert hooks[0].webhook_id == UUID(hook_id) and hooks[0].raw == hook
    events = ["meter.created", "meter.enrollment.global-status.updated"]
    assert client.create_webhook(
        hook["receiver_url"], events, {"x-leapportal-secret": "v"}
    ) == UUID(hook_id)
    assert client.update_webhook(hook_id, hook["receiver_url"], events[:1]) == UUID(hook_id)
    result = client.test_webhook(
        hook_id, {"webhook_event_type": "meter.created", "meter_id": str(UUID(int=1))}
    )
    assert result.is_successful and result.response_time_ms == 41
    client.delete_webhook(hook_id)
    with pytest.raises(LeapNotFound, match="specified resource was not found"):
        client.delete_webhook(hook_id)
    assert [(r.method, r.url.path) for r in handler.requests] == [
        ("GET", "/v1.1/webhooks"),
        ("POST", "/v1.1/webhooks"),
        ("PUT", f"/v1.1/webhooks/{hook_id}"),
        ("POST", f"/v1.1/webhooks/{hook_id}/test"),
        ("DELETE", f"/v1.1/webhooks/{hook_id}"),
        ("DELETE", f"/v1.1/webhooks/{hook_id}"),
    ]
    assert handler.bodies()[1] == {
        "receiver_url": hook["receiver_url"],
        "event_types": events,
        "headers": [{"name": "x-leapportal-secret", "value": "v"}],
    }
    assert handler.bodies()[2]["headers"] == []
    with pytest.raises(ValueError):
        client.create_webhook("ftp://nope", events)
    with pytest.raises(ValueError):
        client.test_webhook(hook_id, {"meter_id": "x"})
