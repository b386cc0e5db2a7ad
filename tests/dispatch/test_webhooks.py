"""The receivers: authentication, bounded reading, shape checks, storing before the 2xx."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import override_settings

from dispatch.models import DispatchDelivery, DispatchTimeslot
from leapportal.models import WebhookAuthFailure
from tests.dispatch.helpers import SECRET, group_notification, meter_notification, post, slot

pytestmark = pytest.mark.django_db
OLD, NEW = "old-dispatch-secret-0000001", "new-dispatch-secret-0000002"


def test_a_good_notification_is_stored_acknowledged_and_processed(deliver, make_meter):
    meter = make_meter()
    payload = meter_notification((meter.pk, [slot()]))

    response = deliver(payload)

    assert response.status_code == 202
    delivery = DispatchDelivery.objects.get()
    assert response.json() == {"delivery_id": delivery.pk, "status": "received"}
    assert bytes(delivery.body) == json.dumps(payload).encode()
    assert delivery.source == "webhook" and delivery.level == "meter"
    assert delivery.status == "processed"
    assert DispatchTimeslot.objects.get().meter == meter


def test_the_secret_is_not_stored_with_the_headers(deliver, settings, resyncs):
    # The meter is unknown, so dispatch asks for its resync: `resyncs` records it instead of
    # fetching it from a Leap at the settings' default URL (nothing listens there: ~8 s of retries).
    deliver(meter_notification((uuid.uuid4(), [slot()])))

    headers = {k.lower(): v for k, v in DispatchDelivery.objects.get().headers.items()}
    assert settings.LEAP_WEBHOOK_HEADER not in headers
    assert SECRET not in json.dumps(headers)
    assert headers["content-type"] == "application/json"


def test_processing_happens_after_the_acknowledgement_not_in_it(client, make_meter):
    # Without running on-commit callbacks, only the raw delivery exists: the view did one insert.
    response = post(client, meter_notification((make_meter().pk, [slot()])))

    assert response.status_code == 202
    assert DispatchDelivery.objects.get().status == "received"
    assert not DispatchTimeslot.objects.exists()


@pytest.mark.parametrize("secret", ["wrong-secret-but-long-enough", "", None])
def test_a_missing_or_wrong_secret_gets_401_and_is_counted_not_stored(client, secret):
    response = post(client, meter_notification((uuid.uuid4(), [slot()])), secret=secret)
    post(client, {"junk": True}, level="group", secret=secret)
    post(client, {"junk": True}, level="group", secret=secret)

    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong webhook secret"}
    assert not DispatchDelivery.objects.exists()
    counts = dict(WebhookAuthFailure.objects.values_list("level", "count"))
    assert counts == {"meter": 1, "group": 2}
    assert WebhookAuthFailure.objects.get(level="meter").last_reason in {
        "wrong secret",
        "missing secret",
    }


def test_both_secrets_are_accepted_during_a_rotation_and_the_old_one_stops_after(client):
    payload = meter_notification((uuid.uuid4(), [slot()]))
    with override_settings(LEAP_DISPATCH_WEBHOOK_SECRETS=[NEW, OLD]):
        assert post(client, payload, secret=OLD).status_code == 202
        assert post(client, payload, secret=NEW).status_code == 202
    with override_settings(LEAP_DISPATCH_WEBHOOK_SECRETS=[NEW]):
        assert post(client, payload, secret=OLD).status_code == 401
        assert post(client, payload, secret=NEW).status_code == 202
    assert DispatchDelivery.objects.count() == 3


def test_invalid_json_gets_400_and_is_kept_as_rejected(client):
    response = post(client, None, raw=b'{"meter_dispatches": [')

    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid JSON")
    delivery = DispatchDelivery.objects.get()
    assert delivery.status == "rejected"
    assert bytes(delivery.body) == b'{"meter_dispatches": ['
    assert delivery.error.startswith("invalid JSON")


def test_a_body_that_is_not_utf8_is_kept_byte_for_byte(client):
    response = post(client, None, raw=b"\xff\xfe{}")

    assert response.status_code == 400
    assert bytes(DispatchDelivery.objects.get().body) == b"\xff\xfe{}"


@pytest.mark.parametrize(
    ("payload", "level", "message"),
    [
        ([], "meter", "the body must be a JSON object"),
        ({"communication_test": False}, "meter", "meter_dispatches is missing"),
        ({"meter_dispatches": {}}, "meter", "meter_dispatches must be a list"),
        ({"meter_dispatches": [{"timeslots": []}]}, "meter", "meter_dispatches[0].meter_id"),
        (
            {"meter_dispatches": [{"meter_id": str(uuid.uuid4()), "timeslots": [{}]}]},
            "meter",
            "timeslots[0].meter_event_id is missing",
        ),
        ({"integration_test_notification": "yes", "meter_dispatches": []}, "meter", "true or"),
        (group_notification(uuid.uuid4(), [], [slot(level="group")]), "meter", "other one"),
        (meter_notification((uuid.uuid4(), [slot()])), "group", "group_dispatches is missing"),
    ],
)
def test_a_wrong_shape_gets_400_with_the_reason_and_is_kept(client, payload, level, message):
    response = post(client, payload, level=level)

    assert response.status_code == 400
    assert message in response.json()["error"]
    delivery = DispatchDelivery.objects.get()
    assert delivery.status == "rejected" and message in delivery.error


def test_an_oversized_body_gets_413_and_its_first_bytes_are_kept(client):
    big = meter_notification((uuid.uuid4(), [slot(programs=["CCA"] * 400)]))
    body = json.dumps(big).encode()
    with override_settings(DISPATCH_WEBHOOK_MAX_BYTES=2048):
        response = post(client, None, raw=body)

    assert len(body) > 2048
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["error"]
    delivery = DispatchDelivery.objects.get()
    assert delivery.status == "rejected" and delivery.truncated
    assert bytes(delivery.body) == body[:2048]


def test_only_post_is_allowed(client):
    assert client.get("/dispatch/webhooks/meter").status_code == 405


def test_a_duplicate_body_is_stored_too(deliver, make_meter):
    payload = meter_notification((make_meter().pk, [slot()]))
    deliver(payload)
    deliver(payload)

    first, second = DispatchDelivery.objects.order_by("pk")
    assert (first.status, second.status) == ("processed", "duplicate")
    assert second.duplicate_of == first
    assert DispatchTimeslot.objects.count() == 1
