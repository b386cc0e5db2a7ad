"""The simulator's webhook deliveries: platform events, dispatch notifications, retry ladders."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leap.simulator import Simulator
from leap.simulator.delivery import PLATFORM_LADDER
from tests.leap.simulator_fakes import NOW, Inbox, http


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
