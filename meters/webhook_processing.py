"""Processing a stored meter webhook delivery, in the worker, after the receiver answered 202.

Leap promises neither order nor single delivery on its webhook platform (an older event may
arrive after a newer one, the same one more than once), so processing does not apply the
payload: it fetches the meter's current state from Leap. The exception is group.updated, which
is about a group, not a meter: its membership is applied for its window, and the meters
concerned are fetched too. The receiver is meters/webhooks.py; the task is
meters.tasks.process_meter_webhook.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from leap.client import LeapClient
from leap.schemas import WebhookEvent
from leapportal import timezones
from meters import groups
from meters.models import ChangeSource, GroupAssignment, Meter, SyncRun, WebhookDelivery
from meters.sync import engine
from meters.sync.context import Context

# The event types processing acts on; every other type is stored and acknowledged as ignored
# (connect_session.* for example: nothing to do for the meter portfolio).
METER_EVENTS = {
    "meter.created",
    "meter.enrollment.global-status.updated",
    "meter.enrollment.participation-status.updated",
    "meter.enrollment.required-actions.updated",
}
GROUP_EVENT = "meter.enrollment.group.updated"


def claim(delivery_id: int) -> WebhookDelivery | None:
    """received -> processing (conditional UPDATE). Processing twice is harmless: it re-fetches."""
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status__in=[WebhookDelivery.Status.RECEIVED, WebhookDelivery.Status.PROCESSING],
    ).update(status=WebhookDelivery.Status.PROCESSING, attempts=F("attempts") + 1)
    return WebhookDelivery.objects.get(pk=delivery_id) if claimed else None


def fail(delivery_id: int, error: str) -> None:
    """Give up on a delivery, saying why."""
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=WebhookDelivery.Status.FAILED, error=error[:5000], processed_at=timezone.now()
    )


def process(client: LeapClient, delivery: WebhookDelivery) -> SyncRun:
    """Bring our tables up to Leap's current state for what the delivery is about."""
    event = WebhookEvent.model_validate_json(delivery.body)
    payload = event.payload
    run = SyncRun.objects.create(
        kind=SyncRun.Kind.WEBHOOK,
        status=SyncRun.Status.RUNNING,
        meter_id=payload.meter_id,
        trigger=payload.webhook_event_type[:32],
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        attempts=1,
    )
    try:
        if payload.webhook_event_type == GROUP_EVENT:
            _process_group_event(client, run, payload)
        else:
            assert payload.meter_id is not None  # a meter event without one is refused on receipt
            engine.resync_meter(client, run, payload.meter_id, source=ChangeSource.WEBHOOK)
    except Exception as exc:
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:5000],
            finished_at=timezone.now(),
        )
        raise
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PROCESSED,
        processed_at=timezone.now(),
        sync_run=run,
        error="",
    )
    return run


def _process_group_event(client: LeapClient, run: SyncRun, payload: Any) -> None:
    """Fetch the group's members before and after, then apply the event's membership."""
    # Both old and new members may have moved. The event is applied last, over the rows the
    # enrollments gave: for its window it is the fresher, group-centric truth.
    region = _group_region(payload.market_group_id, payload.meter_ids)
    first_day = timezones.trade_days(region, timezone.now())[0]
    before = set(
        GroupAssignment.objects.filter(
            market_group_id=payload.market_group_id, trade_date__gte=first_day
        ).values_list("meter_id", flat=True)
    )
    engine.resync_meters(client, run, before | set(payload.meter_ids), source=ChangeSource.WEBHOOK)
    ctx = Context(run=run, source=ChangeSource.WEBHOOK, now=timezone.now())
    with transaction.atomic():
        groups.apply_group_event(ctx, payload)


def _group_region(group_id: uuid.UUID, meter_ids: list[uuid.UUID]) -> str:
    region = (
        Meter.objects.filter(program_enrollments__market_group_id=group_id)
        .values_list("transmission_region", flat=True)
        .first()
    )
    if region:
        return region
    return groups._common_region(set(meter_ids))
