"""The Leap client's paging and searches, against httpx.MockTransport."""

from __future__ import annotations

import gc
import json
import weakref
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import pytest

from leap import LeapBadPayload, LeapClient, LeapPageTokenExpired, LeapRejected, MeterFilter
from tests.leap.client_fakes import Recorder, enrollment, meter

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
    # What exists before the loop (the whole suite's objects) is out of gc.collect()'s reach, so each
    # collection looks at the pages only: ten of them cost milliseconds, not a second.
    gc.freeze()
    try:
        for page in client.iter_meter_pages(page_size=100):
            alive.append(weakref.ref(page[0]))
            del page
            gc.collect()
            # Only the page in hand may be alive: constant memory however large the portfolio.
            assert sum(ref() is not None for ref in alive) <= 1
    finally:
        gc.unfreeze()
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
