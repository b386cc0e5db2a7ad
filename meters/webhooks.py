"""Leap's webhook platform -> our meter inbox: the receiver only.

The receiver does the least that makes an event safe, well inside Leap's 10 seconds: the webhook
inbox base (leapportal.receivers.Inbox) checks the secret, reads the body bounded and parses the
JSON; here the envelope is checked, stored raw in one INSERT (a unique webhook_event_id drops
duplicates), processing is queued after commit, and the answer is 202. Processing (fetching the
meter's current state from Leap) is meters/webhook_processing.py, run by
meters.tasks.process_meter_webhook.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from leap.schemas import WebhookEvent
from leapportal import receivers
from leapportal.models import Receiver, WebhookAuthFailure
from meters import enqueue
from meters.models import WebhookDelivery
from meters.webhook_processing import GROUP_EVENT, METER_EVENTS


def shape_error(event: WebhookEvent) -> str | None:
    """Why a parsed event lacks the payload fields its event type requires, or None."""
    payload = event.payload
    kind = payload.webhook_event_type
    if kind in METER_EVENTS and payload.meter_id is None:
        return f"{kind} needs payload.meter_id"
    if kind == GROUP_EVENT:
        missing = [
            name
            for name in ("market_group_id", "start_date_time", "end_date_time")
            if getattr(payload, name) is None
        ]
        if missing:
            return f"{kind} needs payload.{', payload.'.join(missing)}"
        start, end = payload.start_date_time, payload.end_date_time
        if start is not None and end is not None and end <= start:
            return f"{kind}: end_date_time must be after start_date_time"
    return None


class MeterEventInbox(receivers.Inbox):
    """The meter-event receiver: the inbox base's checks, then the event envelope, then one row."""

    secrets_setting = "LEAP_METER_WEBHOOK_SECRETS"
    max_bytes_setting = "METERS_WEBHOOK_MAX_BYTES"
    # Refusals share the dispatch receivers' counter, per day and receiver.
    refusals = WebhookAuthFailure
    unauthorized = "unauthorized"

    def decode(self, raw: bytes) -> str:
        """Text, as the body column is: PostgreSQL text cannot hold NUL, so it becomes U+FFFD."""
        # Such a body is still kept (for inspection); bytes that are not UTF-8 become U+FFFD too.
        return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")

    def reject(
        self,
        request: HttpRequest,
        body: str,
        status: int,
        error: str,
        *,
        truncated: bool = False,
        **fields: Any,
    ) -> JsonResponse:
        """Keep a refused body for inspection and tell the sender why."""
        # `truncated` is in the error text: the meter inbox has no column for it.
        WebhookDelivery.objects.create(
            headers=receivers.stored_headers(request),
            body=body,
            status=WebhookDelivery.Status.REJECTED,
            error=error,
            processed_at=timezone.now(),
            **fields,
        )
        return JsonResponse({"error": error}, status=status)

    def accept(self, request: HttpRequest, body: str, data: Any) -> JsonResponse:
        """Check the envelope, store it (once per event id), queue the processing after commit."""
        try:
            event = WebhookEvent.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
                for e in exc.errors(include_url=False)[:5]
            )
            return self.reject(request, body, 400, f"not a webhook event: {problems}")
        kind = event.payload.webhook_event_type
        if problem := shape_error(event):
            return self.reject(request, body, 400, problem, event_type=kind[:64])

        acted_on = kind in METER_EVENTS or kind == GROUP_EVENT
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    webhook_event_id=event.webhook_event_id,
                    event_type=kind[:64],
                    meter_id=event.payload.meter_id,
                    headers=receivers.stored_headers(request),
                    body=body,
                    status=(
                        WebhookDelivery.Status.RECEIVED
                        if acted_on
                        else WebhookDelivery.Status.IGNORED
                    ),
                    processed_at=None if acted_on else timezone.now(),
                )
        except IntegrityError:
            # Leap delivers at least once: the same event again is acknowledged and dropped.
            return JsonResponse({"status": "duplicate"}, status=200)
        if acted_on:
            # Best effort: with the broker down the stored delivery still gets its 2xx, and the
            # sweep (beat's webhook-sweep, dispatch/sweep.py) queues it once the broker is back.
            delivery_id = delivery.pk
            transaction.on_commit(
                lambda: receivers.publish_quietly(
                    enqueue.process_meter_webhook,
                    delivery_id,
                    what=f"meter delivery {delivery_id}",
                )
            )
        return JsonResponse({"status": "accepted" if acted_on else "ignored"}, status=202)


INBOX = MeterEventInbox(Receiver.METER_EVENTS)


@csrf_exempt
@login_not_required
@require_POST
def receive(request: HttpRequest) -> JsonResponse:
    """POST /meters/webhooks/leap: one delivery of Leap's webhook platform."""
    return INBOX.receive(request)
