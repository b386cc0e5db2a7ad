"""The Leap client's error envelopes, retries and transient failures, on httpx.MockTransport."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from uuid import UUID

import httpx
import pytest

from leap import LeapNotFound, LeapRejected, LeapUnavailable
from leap.client import retry_after_seconds
from tests.leap.client_fakes import KEY, Recorder, meter

# --- error envelopes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "message", "code", "error_class"),
    [
        (
            400,
            {"title": "Meter id is not a UUID", "status": 400, "details": {"meter_id": "abcdef"}},
            "Meter id is not a UUID - meter_id: abcdef",
            None,
            LeapRejected,
        ),
        (
            400,
            {
                "title": "Validation failed",
                "status": 400,
                "details": [
                    {"message": "must not be blank", "json_index": 3, "problem_field": "city"}
                ],
            },
            "Validation failed - must not be blank field city row 3",
            None,
            LeapRejected,
        ),
        (
            403,
            {
                "code": "FORBIDDEN",
                "message": "No access to this resource",
                "error_code": "DISPATCH_NO_ACCESS_TO_RESOURCE",
            },
            "No access to this resource",
            "DISPATCH_NO_ACCESS_TO_RESOURCE",
            LeapRejected,
        ),
        (
            401,
            {"error": "Unauthorized", "message": "Auth token is invalid"},
            "Auth token is invalid",
            "Unauthorized",
            LeapRejected,
        ),
        (
            422,
            {"errors": [{"field": "postal_code", "description": "Invalid zip", "suggestions": []}]},
            "postal_code: Invalid zip",
            None,
            LeapRejected,
        ),
        (404, "Not here", "Not here", None, LeapNotFound),
    ],
    ids=["meters-object", "create-meters-array", "dispatch", "webhooks", "create-meter", "text"],
)
def test_permanent_errors_carry_leaps_message_from_each_envelope(
    make_client, status, body, message, code, error_class
):
    response = (
        httpx.Response(status, json=body)
        if isinstance(body, dict)
        else httpx.Response(status, text=body)
    )
    handler = Recorder(response)
    client = make_client(handler)
    with pytest.raises(error_class) as caught:
        client.list_webhooks()
    error = caught.value
    assert error.status == status
    assert error.message == message
    assert error.code == code
    assert error.body  # the raw body is kept for the logs
    assert len(handler.requests) == 1  # permanent: never retried
    assert client.stats.retries == 0 and client.stats.last_error


# --- transient failures and retries --------------------------------------------------------------


def test_429_honours_retry_after_in_seconds_then_succeeds(make_client, sleeps):
    handler = Recorder(
        httpx.Response(429, headers={"Retry-After": "3"}, text="slow down"),
        httpx.Response(200, json={"webhooks": []}),
    )
    client = make_client(handler)
    assert client.list_webhooks() == []
    assert sleeps == [3.0]
    assert client.stats.retries == 1 and client.stats.requests == 2


def test_429_honours_retry_after_as_an_http_date(make_client, sleeps):
    when = datetime.now(UTC) + timedelta(seconds=20)
    handler = Recorder(
        httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)}),
        httpx.Response(200, json={"webhooks": []}),
    )
    make_client(handler).list_webhooks()
    assert len(sleeps) == 1 and 17 <= sleeps[0] <= 20


def test_retry_after_parsing():
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Tue, 24 Nov 2026 09:01:00 GMT", now=now) == 60.0
    assert retry_after_seconds("Tue, 24 Nov 2026 08:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_plain_text_500_is_retried_with_exponential_backoff(make_client, sleeps):
    error = "An error happened whilst processing your request"
    handler = Recorder(
        httpx.Response(500, text=error),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, json=meter(1)),
    )
    client = make_client(handler, backoff_base=0.5)
    assert client.get_meter(UUID(int=1)).meter_id == UUID(int=1)
    assert sleeps == [0.5, 1.0]  # rng pinned to 1.0: the full-jitter ceilings


def test_full_jitter_stays_within_the_ceiling(make_client, sleeps):
    values = iter([0.0, 0.25, 0.999])
    handler = Recorder(
        httpx.Response(503), httpx.Response(503), httpx.Response(503), httpx.Response(200, json={})
    )
    client = make_client(handler, rng=lambda: next(values), backoff_base=2.0, backoff_cap=5.0)
    client.list_webhooks()
    assert sleeps == [0.0, 0.25 * 4.0, 0.999 * 5.0]


def test_a_torn_page_is_retried_with_the_same_page_token(make_client, sleeps):
    handler = Recorder(
        httpx.Response(200, json={"meters": [meter(1)], "next_page_token": "t2"}),
        httpx.Response(200, content=b'{"meters": [{"meter_id": "00000000-00'),
        httpx.Response(200, json={"meters": [meter(2)]}),
    )
    client = make_client(handler)
    pages = list(client.iter_meter_pages())
    assert [[m.meter_id.int for m in p] for p in pages] == [[1], [2]]
    bodies = handler.bodies()
    assert bodies[1]["page_token"] == bodies[2]["page_token"] == "t2"
    assert len(sleeps) == 1 and client.stats.retries == 1


def test_json_that_only_the_standard_library_reads_is_not_taken_for_a_torn_page(
    make_client, sleeps
):
    # JSON the standard library reads is a page, not a torn one, even where a faster decoder
    # refuses it (orjson: NaN) or changes it (orjson: an integer beyond 64 bits becomes a float).
    first = {**meter(1), "future_count": 123456789012345678901234567890, "ratio": float("nan")}
    handler = Recorder(
        httpx.Response(200, content=json.dumps({"meters": [first], "next_page_token": "t2"})),
        httpx.Response(200, json={"meters": [meter(2)]}),
    )
    client = make_client(handler)
    pages = list(client.iter_meter_pages())
    assert [[m.meter_id.int for m in p] for p in pages] == [[1], [2]]
    assert sleeps == [] and client.stats.retries == 0
    assert pages[0][0].raw["future_count"] == 123456789012345678901234567890  # exact, kept raw


def test_timeouts_and_dropped_connections_are_retried(make_client, sleeps):
    handler = Recorder(
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message"),
        httpx.ConnectError("connection refused"),
        httpx.Response(200, json={"webhooks": []}),
    )
    client = make_client(handler)
    assert client.list_webhooks() == []
    assert len(handler.requests) == 4 and len(sleeps) == 3


def test_exhausted_retries_raise_unavailable_with_the_last_cause(make_client, sleeps):
    handler = Recorder(
        httpx.Response(500, text="boom"),
        httpx.ConnectError("refused"),
        httpx.Response(503, json={"code": "SERVICE_UNAVAILABLE", "message": "maintenance"}),
        httpx.ReadTimeout("read timed out"),
    )
    client = make_client(handler, max_retries=3)
    with pytest.raises(LeapUnavailable) as caught:
        client.get_meter(UUID(int=1))
    error = caught.value
    assert error.attempts == 4
    assert error.message.startswith("timeout: ReadTimeout")
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert len(sleeps) == 3
    assert client.stats.requests == 4 and client.stats.retries == 3
    assert "timeout" in client.stats.last_error and client.stats.last_error_at is not None


def test_request_timeout_and_too_early_are_transient(make_client, sleeps):
    handler = Recorder(
        httpx.Response(408, text="Request Timeout"),
        httpx.Response(425, text="Too Early"),
        httpx.Response(200, json={"webhooks": []}),
    )
    assert make_client(handler).list_webhooks() == []
    assert len(sleeps) == 2


def test_zero_retries_fails_on_the_first_transient_error(make_client, sleeps):
    handler = Recorder(httpx.Response(503, json={"code": "SERVICE_UNAVAILABLE", "message": "m"}))
    with pytest.raises(LeapUnavailable) as caught:
        make_client(handler, max_retries=0).list_webhooks()
    assert caught.value.status == 503 and caught.value.code == "SERVICE_UNAVAILABLE"
    assert sleeps == []


def test_a_retry_after_longer_than_the_wait_budget_gives_up_at_once(make_client, sleeps):
    handler = Recorder(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(LeapUnavailable) as caught:
        make_client(handler, max_total_wait=60).list_webhooks()
    assert caught.value.retry_after == 3600.0  # the caller (a Celery task) can come back later
    assert sleeps == []


def test_total_wait_is_bounded(make_client, sleeps):
    handler = Recorder(*[httpx.Response(500)] * 10)
    client = make_client(handler, max_retries=10, backoff_base=4.0, max_total_wait=20.0)
    with pytest.raises(LeapUnavailable):
        client.list_webhooks()
    assert sum(sleeps) <= 20.0
    assert sleeps == [4.0, 8.0]  # a third wait of 16 s would pass the 20 s budget


def test_non_idempotent_calls_are_not_retried_after_leap_may_have_acted(make_client, sleeps):
    handler = Recorder(httpx.Response(500, text="oops"))
    client = make_client(handler)
    with pytest.raises(LeapUnavailable):
        client.create_webhook("https://portal.example/hooks/leap", ["meter.created"])
    assert len(handler.requests) == 1 and sleeps == []

    # ... but a refused connection or a 429 proves Leap did nothing: safe to retry.
    handler = Recorder(
        httpx.ConnectError("refused"),
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(200, json={"webhook_id": "364be407-1f08-48fa-afd2-ee1dd228b76b"}),
    )
    created = make_client(handler).create_webhook(
        "https://portal.example/hooks/leap", ["meter.created"]
    )
    assert created == UUID("364be407-1f08-48fa-afd2-ee1dd228b76b")


def test_every_call_is_logged_with_method_path_status_and_duration(make_client, caplog):
    handler = Recorder(httpx.Response(500, text="x"), httpx.Response(200, json={"webhooks": []}))
    with caplog.at_level(logging.INFO, logger="leap.client"):
        make_client(handler).list_webhooks()
    calls = [r for r in caplog.records if hasattr(r, "leap_duration_ms")]
    assert [(r.leap_method, r.leap_path, r.leap_status) for r in calls] == [
        ("GET", "/v1.1/webhooks", 500),
        ("GET", "/v1.1/webhooks", 200),
    ]
    assert any("retry 1/3" in r.getMessage() for r in caplog.records)
    assert KEY not in caplog.text
