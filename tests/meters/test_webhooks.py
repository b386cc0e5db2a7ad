"""Leap's meter webhooks: registration, the receiver, and processing against the simulator."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from leapportal import timezones
from leapportal.models import WebhookAuthFailure
from meters.models import (
    GroupAssignment,
    Meter,
    MeterChange,
    MeterEvent,
    ProgramEnrollment,
    RequiredAction,
    SyncRun,
    WebhookDelivery,
)

URL = "/meters/webhooks/leap"
SECRET = "dev-meter-webhook-secret-0001"


@pytest.fixture
def subscribed(leap_sim, client, leap_sim_django_sender, run_sync, settings):
    """The simulator delivers to our receiver through the test client; the portfolio is synced."""
    settings.LEAP_METER_WEBHOOK_SECRETS = [SECRET]
    leap_sim.deliver_to = leap_sim_django_sender(client)
    call_command("register_leap_webhooks", "--no-test")
    run_sync("full")
    return leap_sim


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """deliver(sim) -> the outcomes; the processing tasks run (eagerly) after each commit."""

    def run(sim):
        with django_capture_on_commit_callbacks(execute=True):
            return sim.deliver_due()

    return run


def some_meter(sim, predicate=lambda s: True):
    for meter_id in sim.meter_ids():
        state = sim.meter(meter_id)
        if not state.is_archived and predicate(state):
            return meter_id
    raise AssertionError("no meter fits")


@pytest.mark.leap_sim(meters=30, changes_per_hour=0)
def test_registration_is_idempotent_and_sends_a_test_event(
    db, leap_sim, client, leap_sim_django_sender, django_capture_on_commit_callbacks, settings
):
    settings.LEAP_METER_WEBHOOK_SECRETS = [SECRET, "an-older-secret-still-accepted"]
    leap_sim.deliver_to = leap_sim_django_sender(client)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("register_leap_webhooks")
        call_command("register_leap_webhooks")

    hooks = list(leap_sim.webhooks.values())
    assert len(hooks) == 1
    assert hooks[0]["receiver_url"].endswith(URL)
    assert {"name": settings.LEAP_WEBHOOK_HEADER, "value": SECRET} in hooks[0]["headers"]
    assert "meter.enrollment.group.updated" in hooks[0]["event_types"]
    tests = WebhookDelivery.objects.filter(event_type="meter.created")
    assert tests.count() == 2 and {d.status for d in tests} == {"processed"}


@pytest.mark.leap_sim(meters=30, changes_per_hour=0)
def test_a_status_event_makes_us_fetch_the_meters_current_state(subscribed, deliver):
    meter_id = some_meter(subscribed, lambda s: s.global_status != "ACTIVE")
    subscribed.set_global_status(meter_id, "ACTIVE")

    outcomes = deliver(subscribed)

    assert [o.status for _, o in outcomes] == [202]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "processed" and delivery.event_type.endswith("global-status.updated")
    assert SECRET not in json.dumps(delivery.headers)
    assert Meter.objects.get(pk=meter_id).global_enrollment_status == "ACTIVE"
    change = MeterChange.objects.get(meter_id=meter_id, field="global_enrollment_status")
    assert change.source == "webhook" and change.sync_run.kind == SyncRun.Kind.WEBHOOK
    assert MeterEvent.objects.filter(
        meter_id=meter_id, kind="became_active", source="webhook"
    ).exists()


@pytest.mark.leap_sim(meters=30, changes_per_hour=0)
def test_a_duplicated_event_is_stored_once_and_applied_once(subscribed, deliver):
    subscribed.duplicate_deliveries = True
    meter_id = some_meter(subscribed, lambda s: s.programs)
    subscribed.open_action(meter_id, "AUTH_0001")

    outcomes = deliver(subscribed)

    assert sorted(o.status for _, o in outcomes) == [200, 202]  # the copy: "duplicate"
    assert WebhookDelivery.objects.count() == 1
    assert RequiredAction.objects.filter(meter_id=meter_id, code="AUTH_0001").count() == 1
    assert MeterEvent.objects.filter(meter_id=meter_id, kind="action_opened").count() == 1


@pytest.mark.leap_sim(meters=30, changes_per_hour=0)
def test_events_out_of_order_still_end_in_leaps_current_state(subscribed, deliver):
    subscribed.out_of_order = True
    meter_id = some_meter(subscribed)
    subscribed.set_global_status(meter_id, "PENDING")
    subscribed.set_global_status(meter_id, "ELIGIBLE")
    subscribed.set_global_status(meter_id, "INELIGIBLE")

    deliver(subscribed)  # newest first

    assert WebhookDelivery.objects.filter(status="processed").count() == 3
    assert Meter.objects.get(pk=meter_id).global_enrollment_status == "INELIGIBLE"


@pytest.mark.leap_sim(meters=30, changes_per_hour=0)
def test_meter_created_brings_in_the_new_meter(subscribed, deliver):
    state = subscribed.add_meter(region="ERCOT", partner_reference="WEBHOOK-NEW-1")

    deliver(subscribed)

    meter = Meter.objects.get(pk=state.meter_id)
    assert meter.partner_reference == "WEBHOOK-NEW-1" and meter.details_raw is not None
    assert MeterEvent.objects.filter(meter=meter, kind="new_meter", source="webhook").exists()


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_a_group_event_sets_the_groups_members_for_its_window(
    subscribed, client, django_capture_on_commit_callbacks
):

    now = timezone.now()
    grouped = GroupAssignment.objects.filter(
        trade_date=timezones.trade_date("CAISO", now), meter__transmission_region="CAISO"
    ).select_related("market_group")
    assignment = grouped.first()
    assert assignment, "no CAISO meter in a group today in the seeded portfolio"
    group = assignment.market_group
    members = set(
        GroupAssignment.objects.filter(
            market_group=group, trade_date=assignment.trade_date
        ).values_list("meter_id", flat=True)
    )
    leaving = assignment.meter_id
    joining = (
        Meter.objects.filter(transmission_region="CAISO").exclude(meter_id__in=members).first()
    )
    window = ProgramEnrollment.objects.filter(market_group=group).first()
    body = {
        "webhook_event_id": str(uuid.uuid4()),
        "payload": {
            "webhook_event_type": "meter.enrollment.group.updated",
            "market_group_id": str(group.pk),
            "market_group_name": group.name,
            "start_date_time": window.delivery_period_start.isoformat(),
            "end_date_time": window.delivery_period_end.isoformat(),
            "meter_ids": [str(m) for m in (members - {leaving}) | {joining.pk}],
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body)

    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get(event_type="meter.enrollment.group.updated")
    assert delivery.status == "processed", delivery.error
    today = assignment.trade_date
    in_group = set(
        GroupAssignment.objects.filter(market_group=group, trade_date=today).values_list(
            "meter_id", flat=True
        )
    )
    assert in_group == (members - {leaving}) | {joining.pk}
    assert (
        GroupAssignment.objects.get(meter=joining, market_group=group, trade_date=today).source
        == "webhook"
    )
    # Both were fetched from Leap (its current state) before the event was applied.
    assert delivery.sync_run.kind == SyncRun.Kind.WEBHOOK
    assert subscribed.requests.count("POST /v2/meters/enrollments/search") >= 2


# --- the receiver's refusals ---------------------------------------------------------------------


def post(client, body, secret=SECRET, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    extra = {"x-leapportal-secret": secret} if secret is not None else {}
    return client.post(URL, data, content_type="application/json", headers={**extra, **headers})


def event(kind="meter.created", **payload):
    payload.setdefault("meter_id", str(uuid.uuid4()))
    payload.setdefault("transmission_region", "CAISO")
    return {
        "webhook_event_id": str(uuid.uuid4()),
        "payload": {"webhook_event_type": kind, **payload},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("secret", [None, "", "wrong-secret-of-some-length", SECRET + "x"])
def test_a_wrong_or_missing_secret_is_refused_and_counted(client, secret, settings):
    settings.LEAP_METER_WEBHOOK_SECRETS = [SECRET]
    response = post(client, event(), secret=secret)

    assert response.status_code == 401
    # Counted per day (like the dispatch receivers), never stored: junk must not fill the table.
    assert not WebhookDelivery.objects.exists()
    assert WebhookAuthFailure.objects.get(level="events").count == 1


@pytest.mark.django_db
def test_any_of_the_rotating_secrets_is_accepted(
    client, settings, django_capture_on_commit_callbacks
):
    settings.LEAP_METER_WEBHOOK_SECRETS = ["the-new-secret-0000001", SECRET]
    with django_capture_on_commit_callbacks() as queued:
        response = post(client, event())
    assert response.status_code == 202
    assert len(queued) == 1  # processing waits for the commit


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "invalid JSON"),
        ([1, 2], "not a webhook event"),
        ({"payload": {"webhook_event_type": "meter.created"}}, "webhook_event_id"),
        ({"webhook_event_id": "nope", "payload": {"webhook_event_type": "x"}}, "webhook_event_id"),
        (event("meter.created", meter_id=None), "needs payload.meter_id"),
        (
            event(
                "meter.enrollment.group.updated",
                market_group_id=str(uuid.uuid4()),
                start_date_time="2026-05-01T00:00:00Z",
                end_date_time="2026-04-01T00:00:00Z",
            ),
            "end_date_time must be after",
        ),
    ],
)
def test_bad_bodies_get_400_and_are_kept_for_inspection(client, settings, body, reason):
    settings.LEAP_METER_WEBHOOK_SECRETS = [SECRET]
    response = post(client, body)

    assert response.status_code == 400
    assert reason in response.json()["error"]
    kept = WebhookDelivery.objects.get()
    assert kept.status == "rejected" and reason in kept.error
    assert kept.body == (body if isinstance(body, str) else json.dumps(body))


@pytest.mark.django_db
def test_connect_session_events_are_stored_and_ignored(
    client, settings, django_capture_on_commit_callbacks
):
    settings.LEAP_METER_WEBHOOK_SECRETS = [SECRET]
    body = {
        "webhook_event_id": str(uuid.uuid4()),
        "payload": {
            "webhook_event_type": "connect_session.updated",
            "partner_reference": "ref-1",
            "status": "CREATED",
        },
    }
    with django_capture_on_commit_callbacks() as queued:
        response = post(client, body)
    assert response.status_code == 202 and response.json() == {"status": "ignored"}
    assert WebhookDelivery.objects.get().status == "ignored"
    assert queued == []


@pytest.mark.django_db
def test_the_receiver_answers_fast(client, settings, django_capture_on_commit_callbacks):
    settings.LEAP_METER_WEBHOOK_SECRETS = [SECRET]
    started = time.perf_counter()
    with django_capture_on_commit_callbacks():  # the fetch happens later, in the worker
        response = post(client, event())
    elapsed = time.perf_counter() - started
    assert response.status_code == 202
    assert elapsed < 1.0, f"{elapsed:.2f}s: Leap allows 10 s, we aim far below"


@pytest.mark.django_db
def test_only_post_is_allowed(client):
    assert client.get(URL).status_code == 405
