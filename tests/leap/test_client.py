"""The Leap client's own edge cases, against httpx.MockTransport.

Behaviour against a realistic Leap lives in test_client_simulator.py (the project's simulator).
"""

from __future__ import annotations

import gc
import json
import logging
import weakref
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from uuid import UUID, uuid4

import httpx
import pytest

import leap
from leap import (
    LeapBadPayload,
    LeapClient,
    LeapNotFound,
    LeapPageTokenExpired,
    LeapRejected,
    LeapUnavailable,
    MeterFilter,
)
from leap.client import USER_AGENT, retry_after_seconds

BASE = "https://api.staging.leap.energy"
KEY = "AbCdEf0123456789:s3cr3t-value"


def meter(n: int, **extra) -> dict:
    return {
        "meter_id": str(UUID(int=n)),
        "transmission_region": "CAISO",
        "is_archived": False,
        "customer": {"city": "Fresno"},
        "audit": {"created_at": "2026-01-01T00:00:00Z"},
        **extra,
    }


def enrollment(n: int) -> dict:
    return {
        "meter_id": str(UUID(int=n)),
        "transmission_region": "CAISO",
        "global_enrollment_status": "ACTIVE",
        "required_actions": {"partner": [], "leap": []},
    }


class Recorder:
    """A MockTransport handler that answers from a script and records every request."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.responses:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(sleeps):
    clients = []

    def make(handler, **kwargs) -> LeapClient:
        kwargs.setdefault("max_retries", 3)
        kwargs.setdefault("rng", lambda: 1.0)  # the jitter's upper bound, so waits are exact
        client = LeapClient(
            BASE, KEY, transport=httpx.MockTransport(handler), sleep=sleeps.append, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


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


# --- paging --------------------------------------------------------------------------------------


def test_search_pages_stream_one_request_at_a_time_following_tokens(make_client):
    handler = Recorder(
        httpx.Response(200, json={"meters": [meter(1), meter(2)], "next_page_token": "tok-2"}),
        httpx.Response(200, json={"meters": [meter(3), meter(4)], "next_page_token": "tok-3"}),
        httpx.Response(200, json={"meters": [meter(5)]}),
    )
    client = make_client(handler)
    pages = client.iter_meter_pages(MeterFilter(exclude_archived=True), page_size=2)

    first = next(pages)
    assert len(handler.requests) == 1  # nothing is fetched ahead of the consumer
    assert [m.meter_id.int for m in first] == [1, 2]
    assert first.number == 1 and first.next_page_token == "tok-2" and first.failures == []
    rest = list(pages)
    assert [[m.meter_id.int for m in p] for p in rest] == [[3, 4], [5]]
    assert handler.bodies() == [
        {"exclude_archived": True, "page_size": 2},
        {"exclude_archived": True, "page_size": 2, "page_token": "tok-2"},
        {"exclude_archived": True, "page_size": 2, "page_token": "tok-3"},
    ]


def test_pages_already_consumed_are_not_kept_by_the_client(make_client):
    def answer(request):
        body = json.loads(request.content)
        offset = int(body.get("page_token") or 0)
        data = {"meters": [meter(offset + i + 1) for i in range(100)]}
        if offset < 900:
            data["next_page_token"] = str(offset + 100)
        return httpx.Response(200, json=data)

    client = make_client(Recorder(*[answer] * 10))
    alive = []
    for page in client.iter_meter_pages(page_size=100):
        alive.append(weakref.ref(page[0]))
        del page
        gc.collect()
        # Only the page in hand may be alive: constant memory however large the portfolio.
        assert sum(ref() is not None for ref in alive) <= 1
    assert len(alive) == 10


def test_every_filter_is_sent_as_leap_names_it(make_client):
    handler = Recorder(httpx.Response(200, json={"meters": []}))
    client = make_client(handler)
    since = datetime(2026, 11, 1, 12, tzinfo=UTC)
    filters = MeterFilter(
        transmission_region="NYISO",
        customer_classification="COMMERCIAL",
        meter_ids=[UUID(int=1)],
        partner_references=["ref-1"],
        global_enrollment_statuses=["ACTIVE", "ELIGIBLE"],
        meter_types=["UTILITY_METER"],
        load_types=["HVAC"],
        customer_groups=["g1"],
        tags=["t1"],
        last_modified_date_time=since,
        created_after_date_time=since - timedelta(days=30),
        created_before_date_time=since,
        partner_action_required=True,
        exclude_archived=True,
        connection_reference_ids=["c1"],
        action_type=["IS_AUTHORIZED"],
    )
    list(client.iter_enrollments(filters))
    assert handler.bodies()[0] == {
        "transmission_region": "NYISO",
        "customer_classification": "COMMERCIAL",
        "meter_ids": [str(UUID(int=1))],
        "partner_references": ["ref-1"],
        "global_enrollment_statuses": ["ACTIVE", "ELIGIBLE"],
        "meter_types": ["UTILITY_METER"],
        "load_types": ["HVAC"],
        "customer_groups": ["g1"],
        "tags": ["t1"],
        "last_modified_date_time": "2026-11-01T12:00:00Z",
        "created_after_date_time": "2026-10-02T12:00:00Z",
        "created_before_date_time": "2026-11-01T12:00:00Z",
        "partner_action_required": True,
        "exclude_archived": True,
        "connection_reference_ids": ["c1"],
        "action_type": ["IS_AUTHORIZED"],
        "page_size": 500,
    }


def test_id_lists_over_leaps_limit_are_split_into_several_searches(make_client):
    ids = [UUID(int=n) for n in range(1, 2501)]

    def answer(request):
        body = json.loads(request.content)
        assert len(body["meter_ids"]) <= 1000
        return httpx.Response(
            200, json={"meters": [enrollment(UUID(i).int) for i in body["meter_ids"][:2]]}
        )

    handler = Recorder(answer, answer, answer)
    client = make_client(handler)
    found = list(client.iter_enrollments(MeterFilter(meter_ids=ids, exclude_archived=True)))
    sizes = [len(b["meter_ids"]) for b in handler.bodies()]
    assert sizes == [1000, 1000, 500]
    assert all(b["exclude_archived"] is True for b in handler.bodies())
    sent = [i for b in handler.bodies() for i in b["meter_ids"]]
    assert sent == [str(i) for i in ids]  # every id once, in order
    assert [e.meter_id.int for e in found] == [1, 2, 1001, 1002, 2001, 2002]


def test_long_id_and_reference_lists_together_cover_every_combination():
    filters = MeterFilter(
        meter_ids=[UUID(int=n) for n in range(1001)],
        partner_references=[f"r{n}" for n in range(1500)],
    )
    bodies = LeapClient.split_filter(filters)
    assert [(len(b["meter_ids"]), len(b["partner_references"])) for b in bodies] == [
        (1000, 1000),
        (1000, 500),
        (1, 1000),
        (1, 500),
    ]
    assert LeapClient.split_filter(None) == [{}]


def test_a_page_with_one_bad_meter_returns_the_others_and_reports_the_bad_one(make_client):
    bad = {"meter_id": "not-a-uuid", "transmission_region": "CAISO"}
    handler = Recorder(
        httpx.Response(200, json={"meters": [meter(1), bad, meter(3)], "next_page_token": "t2"}),
        httpx.Response(200, json={"meters": [meter(4)]}),
    )
    client = make_client(handler)
    pages = list(client.iter_meter_pages())
    assert [m.meter_id.int for m in pages[0]] == [1, 3]
    assert len(pages[0].failures) == 1
    failure = pages[0].failures[0]
    assert failure.raw == bad
    assert failure.errors[0]["loc"] == ["meter_id"]
    assert failure.object_id == "not-a-uuid"
    assert pages[1].failures == []


def test_flat_iterators_raise_on_a_bad_object_unless_given_on_bad(make_client):
    bad = {"meter_id": str(UUID(int=2))}  # no transmission_region
    pages = [httpx.Response(200, json={"meters": [meter(1), bad, meter(3)]})]

    client = make_client(Recorder(*pages))
    seen = []
    with pytest.raises(LeapBadPayload):
        for item in client.iter_meters():
            seen.append(item.meter_id.int)
    assert seen == [1, 3]  # the good objects of the page came first

    pages = [httpx.Response(200, json={"meters": [meter(1), bad, meter(3)]})]
    client = make_client(Recorder(*pages))
    rejected = []
    assert [m.meter_id.int for m in client.iter_meters(on_bad=rejected.append)] == [1, 3]
    assert [r.raw for r in rejected] == [bad]


def test_a_search_that_repeats_its_page_token_is_stopped(make_client):
    same = {"meters": [meter(1)], "next_page_token": "again"}
    handler = Recorder(httpx.Response(200, json=same), *[httpx.Response(200, json=same)] * 2)
    client = make_client(handler)
    with pytest.raises(LeapBadPayload, match="same token"):
        list(client.iter_meter_pages())
    assert len(handler.requests) == 2


def test_a_malformed_page_envelope_fails_the_page(make_client):
    client = make_client(Recorder(httpx.Response(200, json={"meters": {"not": "a list"}})))
    with pytest.raises(LeapBadPayload, match="MeterDetailPage"):
        list(client.iter_meter_pages())


def test_page_size_is_checked_before_calling_leap(make_client):
    client = make_client(Recorder())
    with pytest.raises(ValueError, match="page_size"):
        list(client.iter_meter_pages(page_size=501))


def test_an_expired_page_token_is_permanent_and_says_so(make_client):
    expired = httpx.Response(
        400, json={"title": "Invalid page token", "status": 400, "details": {"page_token": "t2"}}
    )
    handler = Recorder(
        httpx.Response(200, json={"meters": [meter(1)], "next_page_token": "t2"}), expired
    )
    client = make_client(handler)
    pages = client.iter_meter_pages()
    next(pages)
    with pytest.raises(LeapPageTokenExpired) as caught:
        next(pages)
    assert isinstance(caught.value, LeapRejected)
    assert "Invalid page token" in caught.value.message
    assert len(handler.requests) == 2  # not retried

    # The same 400 on a first page is a plain rejection of the filters.
    client = make_client(Recorder(httpx.Response(400, json={"title": "Bad", "status": 400})))
    with pytest.raises(LeapRejected) as caught:
        list(client.iter_meter_pages())
    assert not isinstance(caught.value, LeapPageTokenExpired)


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
