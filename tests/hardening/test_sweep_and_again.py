"""Deliveries whose task was lost are swept up; failed ones are shown with "Process again"."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dispatch import inbox
from dispatch.models import DeliverySweep, DispatchDelivery, DispatchTimeslot
from dispatch.tasks import sweep_deliveries
from meters.models import Meter, WebhookDelivery
from tests.dashboard.factories import make_meter
from tests.dispatch import helpers

pytestmark = pytest.mark.django_db


def store_without_task(client, django_capture_on_commit_callbacks, payload) -> int:
    """Post a notification but drop its wake-up (as when the broker was down)."""
    with django_capture_on_commit_callbacks(execute=False):
        response = helpers.post(client, payload)
    assert response.status_code == 202
    return response.json()["delivery_id"]


def test_the_sweep_queues_deliveries_whose_task_was_lost_and_says_how_many(
    client, operator_client, django_capture_on_commit_callbacks
):
    meter = make_meter()
    event_ids = [uuid.uuid4() for _ in range(3)]
    ids = [
        store_without_task(client, django_capture_on_commit_callbacks,
                           helpers.meter_notification((meter.pk, [helpers.slot(e)])))
        for e in event_ids
    ]  # fmt: skip
    assert set(DispatchDelivery.objects.values_list("status", flat=True)) == {"received"}
    assert sweep_deliveries() == {"dispatch": 0, "meter": 0}  # within the grace period

    DispatchDelivery.objects.filter(pk__in=ids).update(
        received_at=timezone.now() - timedelta(minutes=3)
    )
    assert sweep_deliveries() == {"dispatch": 3, "meter": 0}

    assert set(DispatchDelivery.objects.values_list("status", flat=True)) == {"processed"}
    assert DispatchTimeslot.objects.filter(event_id__in=event_ids).count() == 3
    sweep = DeliverySweep.objects.get()
    assert sweep.dispatch_requeued == 3
    page = operator_client.get("/meters/sync/").content.decode()
    assert "re-queued 3 dispatch and 0 meter deliveries" in page.split('id="sweeps"')[1]
    assert sweep_deliveries() == {"dispatch": 0, "meter": 0}  # nothing left


def test_a_failed_delivery_is_shown_and_processed_again_by_an_operator(
    client, operator_client, make_user, django_capture_on_commit_callbacks
):
    viewer_client = Client()
    viewer_client.force_login(make_user("viewer"))
    meter = make_meter()
    event_id = uuid.uuid4()
    delivery_id = store_without_task(
        client, django_capture_on_commit_callbacks,
        helpers.meter_notification((meter.pk, [helpers.slot(event_id)])),
    )  # fmt: skip
    inbox.mark_failed(delivery_id, "OperationalError: the database went away")

    page = operator_client.get("/meters/sync/").content.decode()
    section = page.split('id="failed-deliveries"')[1].split("</section>")[0]
    assert f'id="failed-dispatch-{delivery_id}"' in section
    assert "the database went away" in section and "Process again" in section
    viewer_page = viewer_client.get("/meters/sync/").content.decode()
    assert "Process again" not in viewer_page.split('id="failed-deliveries"')[1]
    url = f"/meters/sync/deliveries/dispatch/{delivery_id}/again"
    assert viewer_client.post(url).status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(url)
    assert response.status_code == 302 and response["Location"].endswith("#failed-deliveries")
    delivery = DispatchDelivery.objects.get(pk=delivery_id)
    assert delivery.status == "processed"
    assert delivery.error == ""  # the success replaced the old error
    assert DispatchTimeslot.objects.filter(event_id=event_id).count() == 1
    again = operator_client.post(url, follow=True).content.decode()
    assert "is not failed" in again  # a second click changes nothing


def test_a_failed_meter_event_can_be_processed_again(
    client, operator_client, django_capture_on_commit_callbacks, leap_sim
):
    [meter_id] = leap_sim.meter_ids(1)
    body = {
        "webhook_event_id": str(uuid.uuid4()),
        "payload": {"webhook_event_type": "meter.created", "meter_id": str(meter_id)},
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/meters/webhooks/leap", json.dumps(body), content_type="application/json",
            headers={"x-leapportal-secret": "dev-meter-webhook-secret-0001"},
        )  # fmt: skip
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", error="gave up")
    assert f'id="failed-meter-{delivery.pk}"' in operator_client.get("/meters/sync/").text

    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/meters/sync/deliveries/meter/{delivery.pk}/again")
    delivery.refresh_from_db()
    assert delivery.status == "processed"
    assert Meter.objects.filter(pk=meter_id).exists()
