"""The Leap simulator in-process: portfolio, paging, filters, auth, errors, time, webhooks, faults."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import leap
from leap.simulator import Simulator
from leap.simulator.delivery import PLATFORM_LADDER

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
BASE = "http://leap.test"


def http(sim: Simulator, key: str | None = "default") -> httpx.Client:
    headers = (
        {}
        if key is None
        else {"Authorization": f"Bearer {sim.api_key if key == 'default' else key}"}
    )
    return httpx.Client(base_url=BASE, transport=sim.transport(), headers=headers)


def all_pages(client: httpx.Client, path: str, body: dict) -> list[list[dict]]:
    pages, token = [], None
    while True:
        answer = client.post(path, json={**body, **({"page_token": token} if token else {})})
        assert answer.status_code == 200, answer.text
        data = answer.json()
        pages.append(data["meters"])
        token = data.get("next_page_token")
        if not token:
            return pages


@pytest.fixture
def sim():
    return Simulator(seed=7, meters=200, now=NOW)


def test_the_portfolio_is_deterministic_for_seed_and_size():
    first = Simulator(seed=3, meters=60, now=NOW)
    again = Simulator(seed=3, meters=60, now=NOW)
    other = Simulator(seed=4, meters=60, now=NOW)
    ids = first.meter_ids()
    assert ids == again.meter_ids() and len(set(ids)) == 60
    assert set(ids).isdisjoint(other.meter_ids())
    assert first.meter(ids[17]).detail_json() == again.meter(ids[17]).detail_json()
    assert first.meter(ids[17]).enrollment_json() == again.meter(ids[17]).enrollment_json()


def test_searches_page_through_every_meter_exactly_once(sim):
    client = http(sim)
    pages = all_pages(client, "/v2/meters/search", {"page_size": 60})
    assert [len(p) for p in pages] == [60, 60, 60, 20]
    ids = [m["meter_id"] for page in pages for m in page]
    assert ids == sim.meter_ids()
    enrollment_ids = [
        m["meter_id"]
        for page in all_pages(client, "/v2/meters/enrollments/search", {"page_size": 500})
        for m in page
    ]
    assert enrollment_ids == ids


def test_page_tokens_are_opaque_bound_to_their_filters_and_expire(sim):
    client = http(sim)
    first = client.post("/v2/meters/search", json={"page_size": 10}).json()
    token = first["next_page_token"]
    assert "=" not in token and not token.isdigit()
    other_filter = client.post(
        "/v2/meters/search", json={"page_size": 10, "page_token": token, "exclude_archived": True}
    )
    assert other_filter.status_code == 400
    assert "page_token" in other_filter.json()["details"]
    garbage = client.post("/v2/meters/search", json={"page_token": "not-a-token"})
    assert garbage.status_code == 400
    sim.advance(minutes=61, changes=0)
    expired = client.post("/v2/meters/search", json={"page_size": 10, "page_token": token})
    assert expired.status_code == 400
    assert "expired" in expired.json()["details"]["page_token"]


@pytest.mark.parametrize(
    "body",
    [
        {"page_size": 501},
        {"page_size": 0},
        {"page_size": "10"},
        {"transmission_region": "MARS"},
        {"meter_ids": ["not-a-uuid"]},
        {"global_enrollment_statuses": []},
        {"last_modified_date_time": "yesterday"},
        {"last_modified_date_time": "2026-01-01T00:00:00"},
        {"exclude_archived": "yes"},
        [],
    ],
)
def test_bad_search_bodies_get_400_in_the_meters_envelope(sim, body):
    answer = http(sim).post("/v2/meters/search", json=body)
    assert answer.status_code == 400
    data = answer.json()
    assert data["status"] == 400 and data["title"] == "Bad Request"
    assert isinstance(data["details"], dict) and data["details"]


def test_get_meter_errors_follow_leap(sim):
    client = http(sim)
    bad = client.get("/v2/meters/not-a-uuid")
    assert bad.status_code == 400 and bad.json()["details"] == {"meter_id": "not-a-uuid"}
    missing_id = "00000000-0000-4000-8000-000000000000"
    missing = client.get(f"/v2/meters/{missing_id}/enrollments")
    assert missing.status_code == 404
    assert missing.json() == {
        "title": "Meter not found",
        "status": 404,
        "details": {"meter_id": missing_id},
    }
    assert client.get("/v1/meters/search").status_code == 410
    assert client.post(f"/v2/meters/{sim.meter_ids(1)[0]}").status_code == 405


@pytest.mark.parametrize(
    ("method", "path", "envelope"),
    [
        ("GET", "/v2/meters/00000000-0000-4000-8000-000000000000", {"title", "status", "details"}),
        ("POST", "/v2/meters/enrollments/search", {"title", "status", "details"}),
        ("POST", "/v2/dispatch/meter/search", {"code", "message", "error_code"}),
        ("GET", "/v1.1/webhooks", {"error", "message"}),
    ],
)
def test_auth_is_401_without_a_bearer_header_and_403_for_an_unknown_key(
    sim, method, path, envelope
):
    for key, status in ((None, 401), ("Token abc", 401), ("wrong-key", 403)):
        if key == "Token abc":
            client = httpx.Client(
                base_url=BASE, transport=sim.transport(), headers={"Authorization": key}
            )
        else:
            client = http(sim, key)
        answer = client.request(method, path, json={})
        assert answer.status_code == status
        assert set(answer.json()) == envelope


def test_filters_are_anded_and_match_a_brute_force_reading(sim):
    client = http(sim)
    everything = [sim.meter(m) for m in sim.meter_ids()]
    cutoff = sorted(m.created_at for m in everything)[120]
    cases = {
        "region": ({"transmission_region": "CAISO"}, lambda m: m.region == "CAISO"),
        "statuses": (
            {"global_enrollment_statuses": ["ELIGIBLE", "PENDING"]},
            lambda m: m.global_status in ("ELIGIBLE", "PENDING"),
        ),
        "actions and not archived": (
            {"partner_action_required": True, "exclude_archived": True},
            lambda m: bool(m.partner_actions) and not m.is_archived,
        ),
        "created window": (
            {
                "created_after_date_time": "2025-01-01T00:00:00Z",
                "created_before_date_time": cutoff.isoformat(),
            },
            lambda m: datetime(2025, 1, 1, tzinfo=UTC) < m.created_at < cutoff,
        ),
        "load types and meter types": (
            {
                "load_types": ["HVAC"],
                "meter_types": ["UTILITY_METER"],
                "customer_classification": "RESIDENTIAL",
            },
            lambda m: (
                "HVAC" in m.load_types
                and m.meter_type == "UTILITY_METER"
                and m.customer_classification == "RESIDENTIAL"
            ),
        ),
        "action type": (
            {"action_type": ["IS_ASSIGNED_TO_A_RESOURCE"]},
            lambda m: any(
                a["action_type"] == "IS_ASSIGNED_TO_A_RESOURCE"
                for a in m.partner_actions + m.leap_actions
            ),
        ),
        "tags": ({"tags": ["pilot"]}, lambda m: "pilot" in m.tags),
    }
    for name, (body, predicate) in cases.items():
        expected = [m.meter_id for m in everything if predicate(m)]
        got = [
            m["meter_id"]
            for page in all_pages(client, "/v2/meters/search", {**body, "page_size": 37})
            for m in page
        ]
        assert got == expected, name
        assert expected, f"{name}: the portfolio should hold some such meters"
    some = sim.meter_ids()[5:9]
    refs = [sim.meter(m).partner_reference for m in some if sim.meter(m).partner_reference]
    by_ids = client.post(
        "/v2/meters/search", json={"meter_ids": [s.upper() for s in reversed(some)]}
    ).json()
    assert [m["meter_id"] for m in by_ids["meters"]] == some
    by_refs = client.post("/v2/meters/enrollments/search", json={"partner_references": refs}).json()
    assert {m["partner_reference"] for m in by_refs["meters"]} == set(refs)


def test_the_portfolio_looks_like_a_real_one():
    sim = Simulator(seed=11, meters=2000, now=NOW)
    meters = [sim.meter(m) for m in sim.meter_ids()]
    regions = Counter(m.region for m in meters)
    assert {"CAISO", "ERCOT", "NYISO", "ISONE", "PJM"} <= set(regions)
    with_actions = sum(1 for m in meters if m.partner_actions) / len(meters)
    assert 0.06 <= with_actions <= 0.16  # about one meter in ten
    codes = {a["action_code"] for m in meters for a in m.partner_actions}
    assert {"AUTH_0001", "SERV_0002", "SERV_0005", "MRKT_0002", "XYZ_0042"} <= codes
    assert any(a["action_code"] == "LEAP_0001" for m in meters for a in m.leap_actions)
    ends = {p.get("end_time") for m in meters for p in m.participation}
    assert "9000-12-31T23:59:59.999999999Z" in ends
    assert any(m.is_archived for m in meters) and any(not m.is_archived for m in meters)
    assert any(m.partner_reference is None for m in meters)
    assert any(m.partner_reference for m in meters)
    rows_per_meter = [len(m.programs) for m in meters]
    assert min(rows_per_meter) >= 2 and max(rows_per_meter) >= 4
    group_sizes = Counter(
        r["market_group_id"] for m in meters for r in m.programs if r.get("market_group_id")
    )
    assert max(group_sizes.values()) < 600 and len(group_sizes) > 5
    for m in meters[:50]:
        utility = m.details["utility"]["utility_name"]
        assert m.details["customer"]["postal_code"][:5].isdigit()
        if m.region == "CAISO":
            assert utility in ("PGE", "SCE", "SDGE")
        if m.region == "ERCOT":
            assert m.details["customer"]["state_or_province_code"] == "TX"


def test_a_large_portfolio_is_lazy():
    sim = Simulator(seed=1, meters=200_000, now=NOW)
    assert len(sim.portfolio) == 200_000 and not sim.portfolio.overlay
    client = http(sim)
    page = client.post("/v2/meters/search", json={"page_size": 500}).json()
    assert len(page["meters"]) == 500 and page["next_page_token"]
    last_id = sim.portfolio.generator.meter_id(199_999)
    assert client.get(f"/v2/meters/{last_id}/enrollments").status_code == 200


def test_changes_move_last_modified_and_show_in_searches(sim):
    client = http(sim)
    before = sim.now
    sim.advance(minutes=5, changes=0)
    target = sim.meter_ids()[3]
    sim.set_global_status(target, "INELIGIBLE")
    newer = client.post(
        "/v2/meters/enrollments/search", json={"last_modified_date_time": before.isoformat()}
    ).json()
    assert [m["meter_id"] for m in newer["meters"]] == [target]
    assert newer["meters"][0]["global_enrollment_status"] == "INELIGIBLE"
    assert newer["meters"][0]["audit"]["updated_at"].startswith(sim.now.strftime("%Y-%m-%dT%H:%M"))
    sim.open_action(target, "XYZ_0042")
    actions = client.get(f"/v2/meters/{target}/enrollments").json()["required_actions"]["partner"]
    assert [a["action_code"] for a in actions][-1] == "XYZ_0042"
    sim.resolve_action(target, "XYZ_0042")
    assert "XYZ_0042" not in json.dumps(client.get(f"/v2/meters/{target}/enrollments").json())
    sim.archive(target)
    kept = client.post(
        "/v2/meters/search", json={"meter_ids": [target], "exclude_archived": True}
    ).json()
    assert kept["meters"] == []
    added = sim.add_meter(region="ERCOT")
    assert client.get(f"/v2/meters/{added.meter_id}").json()["transmission_region"] == "ERCOT"
    sim.remove_meter(added.meter_id)
    assert client.get(f"/v2/meters/{added.meter_id}").status_code == 404


def test_advance_makes_random_changes_reproducibly():
    runs = []
    for _ in range(2):
        sim = Simulator(seed=5, meters=100, now=NOW, changes_per_hour=6)
        runs.append(sim.advance(hours=2))
    assert runs[0] == runs[1] and len(runs[0]) >= 6
    assert {c["change"] for c in runs[0]} & {"status", "action_opened", "action_resolved"}


class Inbox:
    """A deliver_to that records deliveries and answers from a script."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.got: list[tuple[str, dict, dict]] = []

    def __call__(self, url, headers, content):
        self.got.append((url, headers, json.loads(content)))
        return self.statuses.pop(0) if self.statuses else 200


def test_platform_events_use_the_envelope_registered_headers_and_the_retry_ladder(sim):
    client = http(sim)
    created = client.post(
        "/v1.1/webhooks",
        json={
            "receiver_url": "https://portal.test/leap/webhooks/meters",
            "event_types": [
                "meter.enrollment.global-status.updated",
                "meter.enrollment.required-actions.updated",
            ],
            "headers": [{"name": "X-LeapPortal-Secret", "value": "s3cret"}],
        },
    )
    assert created.status_code == 200
    inbox = Inbox(*([500] * 9))
    sim.deliver_to = inbox
    target = sim.meter_ids()[0]
    sim.set_global_status(target, "ACTIVE")
    sim.deliver_due()
    url, headers, body = inbox.got[0]
    assert url == "https://portal.test/leap/webhooks/meters"
    assert headers["x-leapportal-secret"] == "s3cret" and "X-LeapPortal-Secret" not in headers
    assert set(body) == {"webhook_event_id", "payload"}
    assert body["payload"] == {
        "webhook_event_type": "meter.enrollment.global-status.updated",
        "meter_id": target,
        **(
            {"partner_reference": sim.meter(target).partner_reference}
            if sim.meter(target).partner_reference
            else {}
        ),
        "transmission_region": sim.meter(target).region,
        "meter_type": sim.meter(target).meter_type,
        "global_enrollment_status": "ACTIVE",
    }
    sim.advance(hours=9, changes=0)
    delivery = sim.deliveries[0]
    assert delivery.state == "delivered" and len(delivery.attempts) == 10
    waits = [
        (b.at - a.at) / timedelta(minutes=1)
        for a, b in zip(delivery.attempts, delivery.attempts[1:], strict=False)
    ]
    assert waits == list(PLATFORM_LADDER[1:])
    assert {b["webhook_event_id"] for _, _, b in inbox.got} == {body["webhook_event_id"]}


def test_partner_action_events_carry_only_the_partner_list(sim):
    sim.register_webhook("https://portal.test/hook", headers={"X-Secret": "a"})
    inbox = Inbox()
    sim.deliver_to = inbox
    target = sim.meter_ids()[1]
    sim.open_action(target, "MRKT_0002")
    sim.open_action(target, "LEAP_0001", side="leap")  # Leap's own list: no platform event
    sim.resolve_action(target, "MRKT_0002")
    sim.deliver_due()
    payloads = [b["payload"] for _, _, b in inbox.got]
    assert [p["webhook_event_type"] for p in payloads] == [
        "meter.enrollment.required-actions.updated"
    ] * 2
    assert set(payloads[0]["required_actions"]) == {"partner"}
    assert "MRKT_0002" in [a["action_code"] for a in payloads[0]["required_actions"]["partner"]]
    assert "MRKT_0002" not in [a["action_code"] for a in payloads[1]["required_actions"]["partner"]]


def test_group_reassignment_sends_the_full_membership_of_both_groups():
    sim = Simulator(seed=2, meters=2000, now=NOW)
    sim.register_webhook("https://portal.test/hook", ["meter.enrollment.group.updated"])
    inbox = Inbox()
    sim.deliver_to = inbox
    meter = sim.find_meters(
        lambda m: any(
            r.get("market_group_id") and r["program_identifier"] == "CCA" for r in m.programs
        ),
        1,
    )[0]
    row = next(
        r for r in meter.programs if r.get("market_group_id") and r["program_identifier"] == "CCA"
    )
    other = next(
        g
        for g in sim.market_groups.values()
        if g.program == row["program_identifier"]
        and g.period.name == row["delivery_period"]
        and g.market_group_id != row["market_group_id"]
    )
    sim.reassign_group(meter.meter_id, other.market_group_id)
    sim.deliver_due()
    events = {b["payload"]["market_group_id"]: b["payload"] for _, _, b in inbox.got}
    assert meter.meter_id in events[other.market_group_id]["meter_ids"]
    assert meter.meter_id not in events[row["market_group_id"]]["meter_ids"]
    assert events[other.market_group_id]["market_group_name"] == other.name
    elsewhere = next(g for g in sim.market_groups.values() if g.region != meter.region)
    with pytest.raises(ValueError):
        sim.reassign_group(meter.meter_id, elsewhere.market_group_id)


def test_duplicate_and_out_of_order_delivery_modes(sim):
    sim.register_webhook("https://portal.test/hook")
    inbox = Inbox()
    sim.deliver_to = inbox
    sim.duplicate_deliveries = True
    sim.out_of_order = True
    first, second = sim.meter_ids()[:2]
    sim.set_global_status(first, "PENDING")
    sim.set_global_status(second, "ELIGIBLE")
    sim.deliver_due()
    ids = [b["webhook_event_id"] for _, _, b in inbox.got]
    assert len(ids) == 4 and len(set(ids)) == 2
    assert inbox.got[0][2]["payload"]["meter_id"] == second  # the newer one arrives first


def test_dispatches_are_sent_in_their_wrapper_and_updates_reuse_the_event_id(sim):
    client = http(sim)
    assert (
        client.put(
            "/v2/dispatch/meter/webhook",
            json={
                "url": "https://portal.test/leap/dispatch",
                "headers": [{"name": "X-Dispatch-Secret", "value": "d"}],
            },
        ).status_code
        == 200
    )
    inbox = Inbox()
    sim.deliver_to = inbox
    meters = sim.meter_ids()[:3]
    start = NOW + timedelta(hours=20)
    ids = sim.create_dispatch(
        meter_ids=meters[:2], program="ELRP", start=start, end=start + timedelta(hours=4)
    )
    sim.update_dispatch(ids[0], energy_kw=12.5, end_time=start + timedelta(hours=3))
    sim.cancel_dispatch(ids[1])
    sim.deliver_due()
    bodies = [b for _, _, b in inbox.got]
    assert all(
        b["integration_test_notification"] is False and b["communication_test"] is False
        for b in bodies
    )
    first = bodies[0]["meter_dispatches"]
    assert [d["meter_id"] for d in first] == meters[:2]
    slot = first[0]["timeslots"][0]
    assert (
        slot["energy_kw"] is None and slot["programs"] == ["ELRP"] and slot["is_voluntary"] is True
    )
    assert slot["priority"] == 3 and slot["performance_compensation_cap"] == "grid-exports-allowed"
    updated = bodies[1]["meter_dispatches"][0]["timeslots"][0]
    assert updated["meter_event_id"] == ids[0] and updated["energy_kw"] == 12.5
    cancelled = bodies[2]["meter_dispatches"][0]["timeslots"][0]
    assert cancelled["meter_event_id"] == ids[1] and cancelled["cancelled"] is True
    assert inbox.got[0][1]["x-dispatch-secret"] == "d"
    found = client.post(
        "/v2/dispatch/meter/search",
        json={"start_date": NOW.isoformat(), "end_date": (NOW + timedelta(days=2)).isoformat()},
    ).json()["results"]
    slots = {s["meter_event_id"]: s for r in found for s in r["timeslots"]}
    assert slots[ids[0]]["energy_kw"] == 12.5 and slots[ids[1]]["cancelled"] is True
    assert "energy_kw" not in slots[ids[1]]  # null energy is left out of search results
    voluntary_excluded = client.post(
        "/v2/dispatch/meter/search",
        json={
            "start_date": NOW.isoformat(),
            "end_date": (NOW + timedelta(days=2)).isoformat(),
            "exclude_voluntary_events": True,
        },
    ).json()["results"]
    assert voluntary_excluded == []


def test_group_dispatches_carry_members_and_partner_references():
    sim = Simulator(seed=2, meters=400, now=NOW)
    sim.set_dispatch_webhook("group", "https://portal.test/leap/dispatch/group", {"X-Secret": "g"})
    inbox = Inbox()
    sim.deliver_to = inbox
    group = max(sim.market_groups.values(), key=lambda g: len(sim.portfolio.group_members(g)))
    [event_id] = sim.create_dispatch(market_group_id=group.market_group_id)
    sim.deliver_due()
    entry = inbox.got[0][2]["group_dispatches"][0]
    members = sim.portfolio.group_members(group)
    assert (
        entry["market_group_id"] == group.market_group_id
        and entry["meter_ids"] == members
        and members
    )
    assert set(entry["partner_references"]) <= {sim.meter(m).partner_reference for m in members}
    assert entry["timeslots"][0]["market_group_event_id"] == event_id
    assert entry["timeslots"][0]["programs"] == [group.program]


def test_dispatch_retries_every_minute_fifty_times(sim):
    sim.set_dispatch_webhook("meter", "https://portal.test/d")
    sim.deliver_to = Inbox(*([503] * 100))
    sim.create_dispatch(meter_ids=sim.meter_ids(1))
    sim.advance(hours=2, changes=0)
    delivery = sim.deliveries[0]
    assert delivery.state == "failed" and len(delivery.attempts) == 51
    assert delivery.attempts[-1].at - delivery.attempts[0].at == timedelta(minutes=50)


def test_retry_scale_shrinks_the_ladder(sim):
    sim.retry_scale = 1 / 60  # minutes become seconds
    sim.register_webhook("https://portal.test/hook")
    sim.deliver_to = Inbox(500, 500)
    sim.set_global_status(sim.meter_ids()[0], "ACTIVE")
    sim.advance(minutes=1, changes=0)
    attempts = sim.deliveries[0].attempts
    assert len(attempts) == 3 and attempts[2].at - attempts[0].at == timedelta(seconds=3)


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


def test_every_dispatch_scenario_sends_what_it_promises():
    from leap.simulator.scenarios import SCENARIOS

    sim = Simulator(seed=8, meters=2000, now=NOW, changes_per_hour=0)
    sim.set_dispatch_webhook("meter", "https://portal.test/m", {"X-Secret": "right"})
    sim.set_dispatch_webhook("group", "https://portal.test/g", {"X-Secret": "right"})
    inbox = Inbox()
    sim.deliver_to = inbox
    seen = {}
    for name in SCENARIOS:
        inbox.got.clear()
        result = sim.run_scenario(name)
        sim.deliver_due()
        seen[name] = [body for _, _, body in inbox.got]
        assert result["event_ids"] and seen[name], name

    def slots(bodies):
        return [t for b in bodies for d in b.get("meter_dispatches", []) for t in d["timeslots"]]

    assert (
        len(seen["exact_redelivery"]) == 2
        and seen["exact_redelivery"][0] == seen["exact_redelivery"][1]
    )
    assert [t.get("energy_kw") for t in slots(seen["update_kw_and_window"])][1] == 4.25
    assert slots(seen["cancellation"])[-1]["cancelled"] is True
    assert all(t["energy_kw"] is None for t in slots(seen["null_energy"]))
    assert {t["priority"] for t in slots(seen["overlapping_priorities"])} == {1, 3}
    assert "group_dispatches" in seen["group_dispatch"][0]
    assert slots(seen["day_ahead_changed_hour_ahead"])[1]["dispatch_event_types"] == ["hour-ahead"]
    assert slots(seen["real_time_event"])[0]["dispatch_event_types"] == ["5m"]
    assert seen["communication_test"][0]["communication_test"] is True
    updated, created = slots(seen["out_of_order_update"])
    assert updated["energy_kw"] == 1.5 and updated["meter_event_id"] == created["meter_event_id"]
    late = slots(seen["late_cancellation"])
    assert late[-1]["cancelled"] is True and late[-1]["end_time"] < iso_now(sim)


def iso_now(sim):
    return sim.now.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_forged_notification_carries_the_wrong_secret():
    sim = Simulator(seed=8, meters=100, now=NOW)
    sim.set_dispatch_webhook("meter", "https://portal.test/m", {"X-Secret": "right"})
    inbox = Inbox()
    sim.deliver_to = inbox
    sim.run_scenario("bad_secret")
    sim.deliver_due()
    [(url, headers, body)] = inbox.got
    assert url == "https://portal.test/m" and headers["x-secret"] != "right"
    assert body["meter_dispatches"][0]["timeslots"]
