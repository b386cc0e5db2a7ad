"""The real client against the project's Leap simulator (in-process transport, `leap_sim`).

Every simulator response in these tests is also validated against Leap's OpenAPI specs by the
`leap_sim` fixture, so what the client parses here is what Leap's contract allows.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import httpx
import pytest

import leap
from leap import (
    LeapNotFound,
    LeapPageTokenExpired,
    LeapRejected,
    LeapUnavailable,
    MeterFilter,
)

pytestmark = pytest.mark.leap_sim(meters=120, seed=7, changes_per_hour=0)


def test_paging_through_the_whole_portfolio(leap_sim):
    with leap.get_client() as client:
        pages = list(client.iter_meter_pages(page_size=50))
        enrollments = list(client.iter_enrollments(page_size=100))

    assert [len(p) for p in pages] == [50, 50, 20]
    assert [p.number for p in pages] == [1, 2, 3]
    assert all(p.failures == [] for p in pages)
    meter_ids = [str(m.meter_id) for p in pages for m in p]
    assert meter_ids == leap_sim.meter_ids()  # every meter once, in Leap's order
    assert sorted(str(e.meter_id) for e in enrollments) == sorted(meter_ids)
    assert leap_sim.requests.count("POST /v2/meters/search") == 3
    assert leap_sim.requests.count("POST /v2/meters/enrollments/search") == 2
    # The simulator's portfolio is realistic: the parsed objects carry its variety.
    assert {e.global_enrollment_status for e in enrollments} >= {"ACTIVE", "ELIGIBLE"}
    assert any(e.required_actions.partner for e in enrollments)
    assert any(
        pp.end_time and pp.end_time.year >= 2099
        for e in enrollments
        for pp in e.participation_preferences
    )
    assert all(m.raw["meter_id"] == str(m.meter_id) for p in pages for m in p)


def test_filters_reach_leap_and_narrow_the_search(leap_sim):
    archived = {m.meter_id for m in leap_sim.find_meters(lambda s: s.is_archived, limit=1000)}
    blocked = {
        m.meter_id for m in leap_sim.find_meters(lambda s: bool(s.partner_actions), limit=1000)
    }
    assert archived and blocked  # the portfolio has both kinds

    with leap.get_client() as client:
        live = [str(m.meter_id) for m in client.iter_meters(MeterFilter(exclude_archived=True))]
        needs_us = list(client.iter_enrollments(MeterFilter(partner_action_required=True)))
        chosen = leap_sim.meter_ids()[5:8]
        only = [str(m.meter_id) for m in client.iter_meters(MeterFilter(meter_ids=chosen))]

    assert len(live) == 120 - len(archived) and not archived & set(live)
    assert {str(e.meter_id) for e in needs_us} == blocked
    assert all(e.required_actions.partner for e in needs_us)
    assert sorted(only) == sorted(chosen)


def test_last_modified_finds_only_what_changed(leap_sim):
    before = leap_sim.now
    leap_sim.advance(minutes=10, changes=0)
    target = leap_sim.meter_ids()[11]
    leap_sim.set_global_status(target, "INELIGIBLE")

    with leap.get_client() as client:
        changed = list(client.iter_enrollments(MeterFilter(last_modified_date_time=before)))
        detail = client.get_enrollment(target)

    assert [str(e.meter_id) for e in changed] == [target]
    assert changed[0].global_enrollment_status == "INELIGIBLE"
    assert detail.global_enrollment_status == "INELIGIBLE"
    assert detail.audit.updated_at > before


def test_get_meter_and_an_unknown_meter(leap_sim):
    meter_id = leap_sim.meter_ids()[0]
    with leap.get_client() as client:
        detail = client.get_meter(meter_id)
        with pytest.raises(LeapNotFound) as caught:
            client.get_meter(uuid4())
    assert str(detail.meter_id) == meter_id
    assert detail.customer.city  # nested customer data parsed
    assert "Meter not found" in caught.value.message
    assert caught.value.status == 404


def test_a_wrong_key_is_rejected_without_retries(leap_sim):
    with leap.get_client(api_key="not-the-simulator-key") as client:
        with pytest.raises(LeapRejected) as caught:
            client.get_meter(leap_sim.meter_ids()[0])
    assert caught.value.status == 403
    assert leap_sim.requests.count("GET /v2/meters/{meter_id}") == 1


@pytest.mark.parametrize("kind", ["429", "500", "torn", "drop"])
def test_transient_faults_are_retried_until_the_page_comes(leap_sim, kind):
    # The first two requests of the search fail; the client retries until the page comes.
    leap_sim.faults.add(kind, times=2, path="/v2/meters/search", retry_after=0)
    with leap.get_client(stats=leap.ClientStats()) as client:
        pages = list(client.iter_meter_pages(page_size=60))
        stats = client.stats.as_dict()

    assert [len(p) for p in pages] == [60, 60]
    assert [str(m.meter_id) for p in pages for m in p] == leap_sim.meter_ids()
    assert [fired[0] for fired in leap_sim.faults.fired] == [kind, kind]
    assert stats["retries"] == 2 and stats["requests"] == 4
    assert stats["last_error"] and stats["last_error_at"]


def test_faults_on_a_later_page_reuse_its_token(leap_sim):
    sent = []
    original = leap_sim.transport()

    class Spy(httpx.BaseTransport):
        def handle_request(self, request):
            sent.append(request.read())
            return original.handle_request(request)

    with leap.use_transport(Spy(), sleep=lambda s: None), leap.get_client() as client:
        pages = client.iter_meter_pages(page_size=60)
        next(pages)
        leap_sim.faults.add("torn", times=1, path="/v2/meters/search")
        rest = list(pages)
    assert len(rest) == 1 and len(rest[0]) == 60
    assert len(sent) == 3 and sent[1] == sent[2]  # the torn page was asked for again, identically
    assert b"page_token" in sent[1]


def test_a_slow_answer_past_the_timeout_is_retried(leap_sim):
    leap_sim.faults.add("slow", times=1, delay=5.0, path="/v2/meters/")
    with leap.get_client(timeout=1.0) as client:
        detail = client.get_meter(leap_sim.meter_ids()[3])
    assert str(detail.meter_id) == leap_sim.meter_ids()[3]
    assert leap_sim.faults.fired == [("slow", "GET", f"/v2/meters/{detail.meter_id}")]


def test_retries_run_out_into_leap_unavailable(leap_sim):
    leap_sim.faults.add("500", times=10)
    with leap.get_client(max_retries=2) as client:
        with pytest.raises(LeapUnavailable) as caught:
            client.get_enrollment(leap_sim.meter_ids()[0])
    assert caught.value.status == 500
    assert caught.value.attempts == 3
    assert "An error happened" in caught.value.message
    assert leap_sim.requests.count("GET /v2/meters/{meter_id}/enrollments") == 3


def test_an_expired_page_token_ends_the_iteration(leap_sim):
    leap_sim.faults.add("expired_token", times=1, path="/v2/meters/enrollments/search")
    with leap.get_client() as client:
        pages = client.iter_enrollment_pages(page_size=50)
        assert len(next(pages)) == 50
        with pytest.raises(LeapPageTokenExpired, match="expired"):
            next(pages)


def test_a_token_that_really_expired_in_leaps_time(leap_sim):
    with leap.get_client() as client:
        pages = client.iter_meter_pages(page_size=50)
        next(pages)
        leap_sim.advance(hours=2, changes=0)  # past the simulator's one-hour token lifetime
        with pytest.raises(LeapPageTokenExpired):
            next(pages)


def test_unknown_fields_from_leap_are_kept(leap_sim):
    leap_sim.faults.add("extra_fields", times=1, path="/v2/meters/enrollments/search")
    with leap.get_client() as client:
        page = next(client.iter_enrollment_pages(page_size=10))
    assert page.failures == []
    assert len(page) == 10
    assert any(e.extra_fields for e in page)


def test_dispatch_search_over_a_long_window_finds_events_in_each_part(leap_sim):
    meter_ids = leap_sim.meter_ids()[:2]
    soon = leap_sim.now + timedelta(hours=3)
    later = leap_sim.now + timedelta(days=40)
    first = leap_sim.create_dispatch(meter_ids=meter_ids[:1], start=soon, notify=False)
    second = leap_sim.create_dispatch(meter_ids=meter_ids[1:], start=later, notify=False)
    leap_sim.cancel_dispatch(first[0])
    group_id = next(iter(leap_sim.market_groups))
    group_event = leap_sim.create_dispatch(market_group_id=group_id, start=soon, notify=False)

    start = leap_sim.now
    with leap.get_client() as client:
        found = list(client.iter_meter_dispatches(start, start + timedelta(days=60)))
        groups = list(client.iter_group_dispatches(start, start + timedelta(days=2)))
        wanted = list(
            client.iter_meter_dispatches(
                start, start + timedelta(days=60), meter_event_ids=[second[0]]
            )
        )

    events = {str(slot.event_id): slot for d in found for slot in d.timeslots}
    assert set(events) == {first[0], second[0]}
    assert events[first[0]].cancelled is True
    assert leap_sim.requests.count("POST /v2/dispatch/meter/search") >= 2 + 2  # 60 days = 2 windows
    assert [str(s.event_id) for d in wanted for s in d.timeslots] == [second[0]]
    assert [str(s.event_id) for g in groups for s in g.timeslots] == group_event
    assert groups[0].meter_ids  # the group's members at dispatch time
    assert str(groups[0].market_group_id) == group_id


def test_dispatch_webhooks_and_integration_tests_for_both_levels(leap_sim):
    received = []

    def receiver(url, headers, content):
        received.append((url, headers, content))
        return httpx.Response(200, json={"ok": True})

    leap_sim.deliver_to = receiver
    secret = {"X-Leapportal-Secret": "dispatch-secret-0123456789"}
    meter_id = leap_sim.meter_ids()[0]
    slot = {
        "meter_event_id": str(uuid4()),
        "start_time": "2026-12-01T18:00:00Z",
        "end_time": "2026-12-01T19:00:00Z",
        "energy_kw": 10,
        "nomination_kw": 10,
        "cancelled": False,
        "programs": ["CCA"],
        "priority": 1,
        "is_voluntary": False,
        "performance_compensation_cap": "up-to-nomination",
        "dispatch_event_types": ["capacity-test"],
    }
    with leap.get_client() as client:
        assert client.get_dispatch_webhook("meter") is None
        for level in ("meter", "group"):
            url = f"https://portal.example/leap/dispatch/{level}"
            stored = client.put_dispatch_webhook(level, url, secret)
            assert stored.url == url
            assert (
                client.get_dispatch_webhook(level).headers[0].value == secret["X-Leapportal-Secret"]
            )
        result = client.dispatch_integration_test(
            "meter", {"meter_dispatches": [{"meter_id": meter_id, "timeslots": [slot]}]}
        )
        assert client.delete_dispatch_webhook("group") is True
        assert client.delete_dispatch_webhook("group") is False
        assert client.get_dispatch_webhook("group") is None

    assert result.http_status == 200
    assert result.sent_time is not None
    ((url, headers, content),) = received
    assert url.endswith("/leap/dispatch/meter")
    assert headers["x-leapportal-secret"] == secret["X-Leapportal-Secret"]  # lower-cased by Leap
    notification = leap.schemas.DispatchNotification.model_validate_json(content)
    assert notification.integration_test_notification is True
    assert str(notification.meter_dispatches[0].timeslots[0].event_id) == slot["meter_event_id"]


def test_webhook_platform_subscriptions(leap_sim):
    received = []
    leap_sim.deliver_to = lambda url, headers, content: received.append(content) or 204
    events = ["meter.created", "meter.enrollment.global-status.updated"]
    with leap.get_client() as client:
        assert client.list_webhooks() == []
        hook_id = client.create_webhook(
            "https://portal.example/leap/meter-events", events, {"x-leapportal-secret": "m" * 24}
        )
        assert isinstance(hook_id, UUID)
        (hook,) = client.list_webhooks()
        assert hook.event_types == events and hook.headers[0].name == "x-leapportal-secret"
        client.update_webhook(hook_id, hook.receiver_url, events[:1])
        assert client.list_webhooks()[0].event_types == events[:1]
        result = client.test_webhook(
            hook_id, {"webhook_event_type": "meter.created", "meter_id": leap_sim.meter_ids()[0]}
        )
        client.delete_webhook(hook_id)
        assert client.list_webhooks() == []
        with pytest.raises(LeapNotFound):
            client.delete_webhook(hook_id)
    assert result.is_successful is True
    assert len(received) == 1
