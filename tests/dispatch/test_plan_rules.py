"""Issue 14's rules, end to end: Leap-shaped bodies through our real receiver, processed by a real
Celery worker, with the Leap simulator served over HTTP answering the dispatch searches.

Each test posts notifications the way Leap does and checks what a device would be told: the
stored event, its plan (kW, limit, intervals), what is handed on, and what ops pages show.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.models import (
    DispatchAllocation,
    DispatchDelivery,
    DispatchTimeslot,
    OutboundEndpoint,
    OutboundMessage,
    RejectedTimeslot,
    UnknownMeterAlert,
)
from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer
from leapportal.models import CalendarToken
from meters.models import CapabilityOverride, Meter
from tests.dispatch.helpers import T0, iso, meter_notification, post, slot
from tests.dispatch.test_outbound import Receiver

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def sim_server():
    """The Leap simulator over HTTP, for the worker's dispatch searches (one per module)."""
    sim = Simulator(seed=14, meters=12, changes_per_hour=0)
    server = SimulatorServer(sim).serve_in_thread()
    yield server
    server.stop()


@pytest.fixture
def sim(sim_server):
    """The served simulator, its dispatches emptied for each test."""
    sim_server.sim.dispatches.clear()
    return sim_server.sim


@pytest.fixture
def worker(celery_workers, celery_eager_off, sim_server):
    """A real worker whose Leap client talks to the served simulator."""
    running = celery_workers.get(
        extra_env={"LEAP_BASE_URL": sim_server.url, "LEAP_SIMULATOR": "true"}
    )
    celery_workers.purge()
    yield running
    celery_workers.purge()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def endpoint(receiver):
    return OutboundEndpoint.objects.create(name="devices", url=receiver.url)


def send(client, worker, payload, *, level="meter"):
    """POST a notification to our receiver and wait until the worker has handled it."""
    response = post(client, payload, level=level)
    assert response.status_code == 202, response.content
    delivery_id = response.json()["delivery_id"]
    return worker.wait_for(
        lambda: DispatchDelivery.objects.exclude(status="received").filter(pk=delivery_id).first(),
        what=f"delivery {delivery_id} to be processed",
    )


def handed_on(event_id):
    """The types of the messages queued for an event, oldest first."""
    return list(
        OutboundMessage.objects.filter(timeslot__event_id=event_id)
        .order_by("pk")
        .values_list("event_type", flat=True)
    )


def our_meter(meter_id=None, **fields):
    return Meter.objects.create(
        meter_id=meter_id or uuid.uuid4(), global_enrollment_status="ACTIVE", **fields
    )


# --- redeliveries ---------------------------------------------------------------------------------


def test_a_b_a_each_differing_body_is_applied_and_the_current_state_again_is_a_no_op(
    client, worker, endpoint
):
    meter, event = our_meter(), uuid.uuid4()
    a = meter_notification((meter.pk, [slot(event, energy_kw=5.0)]))
    b = meter_notification((meter.pk, [slot(event, energy_kw=7.0)]))

    send(client, worker, a)
    send(client, worker, b)
    third = send(client, worker, a)  # Leap puts the kW back: the same body as the first
    fourth = send(client, worker, a)  # and redelivers it: nothing changes

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert (ts.energy_kw, ts.version) == (5.0, 3)
    assert [v.changes for v in ts.versions.order_by("version")][1:] == [
        {"energy_kw": [5.0, 7.0]},
        {"energy_kw": [7.0, 5.0]},
    ]
    assert third.status == "processed" and fourth.status == "duplicate"
    assert fourth.duplicate_of_id == third.pk
    assert ts.allocations.get().planned_kw == 5.0
    worker.wait_for(lambda: len(handed_on(event)) == 3, what="three hand-ons")
    assert handed_on(event) == ["timeslot.created", "timeslot.updated", "timeslot.updated"]


# --- cancelled events coming back: Leap's search decides -----------------------------------------


def _leap_event(sim, meter, **fields):
    """An event Leap holds for our meter (no webhook sent), and its body as Leap would send it."""
    (event_id,) = sim.create_dispatch(
        meter_ids=[str(meter.pk)], start=T0, end=T0 + timedelta(hours=2), notify=False, **fields
    )
    return event_id, sim.notification([sim.dispatches[event_id]])


def _sim_meter(sim):
    return our_meter(uuid.UUID(sim.meter_ids()[0]))


def test_a_reinstatement_leap_lists_as_active_brings_the_event_back(client, worker, sim, endpoint):
    meter = _sim_meter(sim)
    event_id, original = _leap_event(sim, meter)
    send(client, worker, original)
    sim.cancel_dispatch(event_id)
    send(client, worker, sim.notification([sim.dispatches[event_id]]))
    assert DispatchTimeslot.objects.get(event_id=event_id).cancelled

    sim.update_dispatch(event_id, cancelled=False, energy_kw=4.0)  # Leap reinstates it
    send(client, worker, sim.notification([sim.dispatches[event_id]]))

    ts = worker.wait_for(
        lambda: (
            DispatchTimeslot.objects.filter(event_id=event_id).exclude(recheck="pending").first()
        ),
        what="Leap's search to be asked",
    )
    assert (ts.recheck, ts.cancelled, ts.energy_kw) == ("confirmed", False, 4.0)
    kinds = list(ts.versions.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["created", "cancelled", "held", "reinstated"]
    alloc = ts.allocations.get()
    assert alloc.followed and alloc.share_kw == 4.0
    worker.wait_for(lambda: len(handed_on(event_id)) == 3, what="three hand-ons")
    assert handed_on(event_id) == ["timeslot.created", "timeslot.cancelled", "timeslot.updated"]


def test_a_reinstating_body_leap_still_lists_cancelled_changes_nothing(
    client, worker, sim, endpoint
):
    """A -> B -> A with B a cancellation: the third body is checked, and Leap says cancelled."""
    meter = _sim_meter(sim)
    event_id, original = _leap_event(sim, meter)
    send(client, worker, original)
    sim.cancel_dispatch(event_id)
    send(client, worker, sim.notification([sim.dispatches[event_id]]))

    send(client, worker, original)  # an old body, arriving late

    ts = worker.wait_for(
        lambda: (
            DispatchTimeslot.objects.filter(event_id=event_id).exclude(recheck="pending").first()
        ),
        what="Leap's search to be asked",
    )
    assert (ts.recheck, ts.cancelled) == ("refused", True)
    assert "lists it cancelled" in ts.recheck_note
    assert not ts.allocations.get().followed
    assert list(ts.versions.order_by("pk").values_list("kind", flat=True)) == [
        "created",
        "cancelled",
        "held",
        "checked",
    ]
    assert handed_on(event_id) == ["timeslot.created", "timeslot.cancelled"]


@pytest.mark.parametrize("leap_says", ["cancelled", "active", "nothing"])
def test_a_late_original_after_its_tombstone_is_decided_by_leaps_search(
    client, worker, sim, endpoint, leap_says
):
    meter = _sim_meter(sim)
    event_id, original = _leap_event(sim, meter)
    sim.cancel_dispatch(event_id)
    cancellation = sim.notification([sim.dispatches[event_id]])
    if leap_says == "active":
        sim.update_dispatch(event_id, cancelled=False)
    elif leap_says == "nothing":
        del sim.dispatches[event_id]

    # The cancellation of an id we never saw: a tombstone, handed on as nothing.
    first = send(client, worker, cancellation)
    tomb = DispatchTimeslot.objects.get(event_id=event_id)
    assert first.status == "processed" and tomb.cancelled and tomb.version == 1
    assert not tomb.allocations.get().followed
    assert handed_on(event_id) == []

    send(client, worker, original)  # the original, after its cancellation

    ts = worker.wait_for(
        lambda: (
            DispatchTimeslot.objects.filter(event_id=event_id).exclude(recheck="pending").first()
        ),
        what="Leap's search to be asked",
    )
    expected = {"cancelled": "refused", "active": "confirmed", "nothing": "not_listed"}[leap_says]
    assert ts.recheck == expected
    assert ts.cancelled is (leap_says != "active")
    if leap_says == "active":
        worker.wait_for(lambda: handed_on(event_id), what="the hand-on")
        assert handed_on(event_id) == ["timeslot.created"]
        assert ts.allocations.get().followed
    else:
        assert handed_on(event_id) == []
        assert not ts.allocations.get().followed


# --- past and running events ----------------------------------------------------------------------


def test_an_ended_event_is_stored_but_never_planned_nor_handed_on_and_a_running_one_from_now(
    client, worker, endpoint
):
    meter, ended, running = our_meter(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC).replace(microsecond=0)
    body = meter_notification(
        (
            meter.pk,
            [
                slot(ended, start=now - timedelta(hours=3), hours=1),
                slot(running, start=now - timedelta(hours=1), hours=2),
            ],
        )
    )
    send(client, worker, body)

    past = DispatchTimeslot.objects.get(event_id=ended)
    alloc = past.allocations.get()
    assert (alloc.followed, alloc.segments) == (False, [])
    assert "ended before it reached us" in alloc.reason
    assert handed_on(ended) == []

    live = DispatchTimeslot.objects.get(event_id=running)
    plan = live.allocations.get()
    assert plan.followed
    assert plan.segments == [[iso(live.first_seen_at), iso(live.end_time)]]
    assert live.first_seen_at > live.start_time
    worker.wait_for(lambda: handed_on(running), what="the running event's hand-on")
    message = OutboundMessage.objects.get(timeslot=live)
    assert message.payload["data"]["plan_from"] == iso(live.first_seen_at)

    # A late cancellation of the ended event: stored, still not handed on.
    send(client, worker, meter_notification((meter.pk, [slot(ended, start=now - timedelta(hours=3), hours=1, cancelled=True)])))  # fmt: skip
    assert DispatchTimeslot.objects.get(event_id=ended).cancelled
    assert handed_on(ended) == []


# --- validation -----------------------------------------------------------------------------------


def test_bad_timeslots_are_kept_with_their_errors_and_the_rest_of_the_notification_applies(
    client, worker, make_user
):
    meter, good = our_meter(), uuid.uuid4()
    bad = {
        "negative kW": slot(energy_kw=-5),
        "unknown program": slot(programs=["NOT-A-PROGRAM"]),
        "unknown cap": slot(performance_compensation_cap="up-to-the-moon"),
        "unknown event type": slot(dispatch_event_types=["next-week"]),
        "end before start": slot(start=T0, end=T0 - timedelta(minutes=5)),
        "no priority": {k: v for k, v in slot().items() if k != "priority"},
    }
    known = uuid.uuid4()
    send(client, worker, meter_notification((meter.pk, [slot(known, energy_kw=6.0)])))
    # The same event with a negative kW later: kept aside, the stored event is not touched.
    bad["bad update"] = slot(known, energy_kw=-1)
    delivery = send(client, worker, meter_notification((meter.pk, [slot(good), *bad.values()])))

    assert delivery.status == "processed"
    assert delivery.summary["created"] == 1 and delivery.summary["invalid"] == len(bad)
    assert set(DispatchTimeslot.objects.values_list("event_id", flat=True)) == {good, known}
    assert DispatchTimeslot.objects.get(event_id=known).energy_kw == 6.0
    errors = {
        uuid.UUID(str(r.raw.get("meter_event_id"))): " ".join(r.errors)
        for r in RejectedTimeslot.objects.filter(delivery=delivery)
    }
    assert len(errors) == len(bad)
    for name, body in bad.items():
        text = errors[uuid.UUID(body["meter_event_id"])]
        assert {
            "negative kW": "energy_kw -5",
            "unknown program": "unknown program NOT-A-PROGRAM",
            "unknown cap": "unknown performance_compensation_cap",
            "unknown event type": "unknown dispatch_event_types next-week",
            "end before start": "is not after start_time",
            "no priority": "priority",
            "bad update": "energy_kw -1",
        }[name] in text

    client.force_login(make_user("viewer"))
    page = client.get("/meters/sync/").content.decode()
    assert "unknown program NOT-A-PROGRAM" in page and "energy_kw -1" in page
    event_page = client.get(f"/dispatch/events/{known}/").content.decode()
    assert "broke Leap's rules" in event_page and "energy_kw -1" in event_page


# --- caps, capability and the limit that bound each plan ----------------------------------------


def _planned(event_id):
    a = DispatchAllocation.objects.get(timeslot__event_id=event_id)
    return a.planned_kw, a.bound_by


def test_plans_respect_the_compensation_cap_and_the_meters_capability(client, worker, make_user):
    battery = our_meter(
        battery_max_discharge_rate_kw=6.0,
        battery_energy_capacity_kwh=40.0,
        battery_min_soc_percent=10.0,
        battery_max_soc_percent=100.0,
    )
    small = our_meter(battery_max_discharge_rate_kw=10.0, battery_energy_capacity_kwh=13.5,
                      battery_min_soc_percent=10.0, battery_max_soc_percent=100.0)  # fmt: skip
    unknown = our_meter()
    e = {name: uuid.uuid4() for name in "abcdefg"}
    hours = timedelta(hours=1)
    send(client, worker, meter_notification(
        (unknown.pk, [
            # 12 kW on a 10 kW nomination, up-to-nomination: 10.
            slot(e["a"], energy_kw=12.0, nomination_kw=10.0, performance_compensation_cap="up-to-nomination"),
            # null kW, nothing known of the meter: the nomination, said so.
            slot(e["b"], start=T0 + 2 * hours, energy_kw=None, nomination_kw=10.0),
            # up-to-site-load may exceed the nomination.
            slot(e["c"], start=T0 + 4 * hours, energy_kw=12.0, nomination_kw=10.0),
        ]),
        (battery.pk, [
            # null kW, grid exports allowed: what the battery can do, 6 kW.
            slot(e["d"], energy_kw=None, performance_compensation_cap="grid-exports-allowed", programs=["ELRP"]),
            # an award below capability stands.
            slot(e["e"], start=T0 + 2 * hours, energy_kw=4.0),
        ]),
        # 4 hours from 13.5 kWh between 10 and 100 %: 12.15 kWh / 4 h = 3.0375 kW.
        (small.pk, [slot(e["f"], hours=4, energy_kw=None, performance_compensation_cap="grid-exports-allowed")]),
    ))  # fmt: skip

    assert _planned(e["a"]) == (10.0, "nomination")
    assert _planned(e["b"]) == (10.0, "nomination_default")
    assert _planned(e["c"]) == (12.0, "award")
    assert _planned(e["d"]) == (6.0, "capability")
    assert _planned(e["e"]) == (4.0, "award")
    assert _planned(e["f"]) == (3.038, "state_of_charge")

    # An admin's override (site load under up-to-site-load) re-plans the meter's events.
    CapabilityOverride.objects.create(meter=unknown, site_load_kw=7.5, max_discharge_kw=20.0)
    worker.wait_for(lambda: _planned(e["c"]) == (7.5, "site_load"), what="the re-plan")
    assert _planned(e["a"]) == (10.0, "nomination")
    client.force_login(make_user("viewer"))
    page = client.get(f"/dispatch/events/{e['c']}/").content.decode()
    assert 'data-bound-by="site_load"' in page and "never below 0 kW" in page
    assert "not below 0 kW site load (no export)" in page
    # null kW, up-to-site-load: the override's 20 kW capability, but the site load is lower.
    assert _planned(e["b"]) == (7.5, "site_load")
    CapabilityOverride.objects.filter(meter=unknown).update(site_load_kw=None)
    CapabilityOverride.objects.get(meter=unknown).save()  # saved again (the admin's way)
    worker.wait_for(lambda: _planned(e["b"]) == (20.0, "capability"), what="the re-plan")

    page = client.get(f"/dispatch/events/{e['d']}/").content.decode()
    assert "may export to the grid" in page and "discharge rate" in page


# --- overlaps, per interval -----------------------------------------------------------------------


def test_a_long_event_overlapping_a_higher_ranked_one_runs_outside_the_overlap(
    client, worker, endpoint, make_user
):
    meter, long, high = our_meter(), uuid.uuid4(), uuid.uuid4()
    send(client, worker, meter_notification((meter.pk, [slot(long, priority=3, hours=4, energy_kw=5.0)])))  # fmt: skip
    send(client, worker, meter_notification((meter.pk, [slot(high, priority=1, start=T0 + timedelta(hours=1), hours=1, energy_kw=9.0)])))  # fmt: skip

    loser = DispatchAllocation.objects.get(timeslot__event_id=long)
    h = [iso(T0 + timedelta(hours=n)) for n in range(5)]
    assert loser.segments == [[h[0], h[1]], [h[2], h[4]]]
    assert loser.followed and loser.overruled_by.event_id == high
    assert "loses 1 h" in loser.reason
    assert DispatchAllocation.objects.get(timeslot__event_id=high).segments == [[h[1], h[2]]]
    worker.wait_for(lambda: len(handed_on(long)) == 2, what="the long event's update")
    segments = OutboundMessage.objects.filter(timeslot__event_id=long).latest("pk")
    assert segments.payload["data"]["meters"][0]["segments"] == [[h[0], h[1]], [h[2], h[4]]]

    client.force_login(make_user("viewer"))
    page = client.get(f"/dispatch/events/{long}/").content.decode()
    assert page.count("<rect ") == 3  # two intervals of this event, one of the other
    assert "kW over time" in page and "overruled in part by" in page


# --- special event types --------------------------------------------------------------------------


def test_a_capacity_test_is_flagged_on_every_surface(client, worker, endpoint, make_user):
    meter, event = our_meter(), uuid.uuid4()
    send(client, worker, meter_notification((meter.pk, [slot(event, dispatch_event_types=["capacity-test"], programs=["CCA"], priority=1, performance_compensation_cap="up-to-nomination")])))  # fmt: skip

    worker.wait_for(lambda: handed_on(event), what="the hand-on")
    data = OutboundMessage.objects.get(timeslot__event_id=event).payload["data"]
    assert data["capacity_test"] is True and data["special"] == ["capacity-test"]
    user = make_user("viewer")
    client.force_login(user)
    timeline = client.get("/dispatch/", {"date": T0.date().isoformat(), "view": "day"})
    assert "data-special>capacity test</span>" in timeline.content.decode()
    page = client.get(f"/dispatch/events/{event}/").content.decode()
    assert "data-special>capacity test</span>" in page
    token = CalendarToken.issue(user)
    ical = b"".join(client.get(f"/dispatch/calendar/{token}.ics").streaming_content).decode()
    assert "[CAPACITY TEST]" in ical.replace("\r\n ", "")


# --- unknown meters -------------------------------------------------------------------------------


def test_an_event_for_an_unknown_meter_raises_an_alert_until_the_meter_arrives_or_is_dismissed(
    client, worker, make_user
):
    stranger, other, event = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    send(client, worker, meter_notification((stranger, [slot(event)]), (other, [slot()])))

    alerts = {a.meter_uuid: a for a in UnknownMeterAlert.open()}
    assert set(alerts) == {stranger, other}
    assert alerts[stranger].first_event.event_id == event
    client.force_login(make_user("operator"))
    for url in ("/", "/meters/sync/"):
        page = client.get(url).content.decode()
        assert str(stranger) in page and str(other) in page and "Dismiss" in page

    our_meter(stranger)  # the meter arrives (the sync inserts it): the alert closes
    worker.wait_for(
        lambda: UnknownMeterAlert.objects.get(meter_uuid=stranger).resolution == "arrived",
        what="the alert to close",
    )
    assert DispatchTimeslot.objects.get(event_id=event).meter_id == stranger

    response = client.post(
        f"/dispatch/alerts/{alerts[other].pk}/dismiss", {"next": "/meters/sync/"}
    )
    assert response.status_code == 302 and response["Location"] == "/meters/sync/"
    assert UnknownMeterAlert.objects.get(meter_uuid=other).resolution == "dismissed"
    page = client.get("/").content.decode()
    assert f'id="unknown-meter-{alerts[other].pk}"' not in page
    assert "Every dispatched meter is in our portfolio" in page

    assert not UnknownMeterAlert.open().exists()

    # Viewers read; dismissing is an operator's job.
    client.force_login(make_user("viewer", username="v2"))
    assert client.post(f"/dispatch/alerts/{alerts[other].pk}/dismiss").status_code == 403
