"""process_delivery in a real Celery worker (Redis broker, PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest

from dispatch import tasks
from dispatch.models import DispatchDelivery, DispatchTimeslot
from meters.models import Meter
from tests.dispatch.helpers import meter_notification, post, slot


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_received_notification_is_processed_by_the_worker(celery_worker, client):
    meter = Meter.objects.create(meter_id=uuid.uuid4(), global_enrollment_status="ACTIVE")
    event = uuid.uuid4()

    response = post(client, meter_notification((meter.pk, [slot(event)])))
    assert response.status_code == 202
    delivery_id = response.json()["delivery_id"]

    celery_worker.wait_for(
        lambda: DispatchDelivery.objects.get(pk=delivery_id).status == "processed"
    )
    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.meter == meter and ts.allocations.get().followed
    # Redelivered by the broker (acks_late): the second run does nothing.
    tasks.process_delivery.delay(delivery_id)
    response = post(client, meter_notification((meter.pk, [slot(event)])))
    celery_worker.wait_for(
        lambda: (
            DispatchDelivery.objects.get(pk=response.json()["delivery_id"]).status == "duplicate"
        )
    )
    assert ts.versions.count() == 1
