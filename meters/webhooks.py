"""Leap's webhook platform -> our meter inbox, and the processing of what arrived.

The receiver does the least that makes an event safe, well inside Leap's 10 seconds: check the
header we registered (constant time, any of the accepted secrets), parse and check the envelope,
store it raw in one INSERT (a unique webhook_event_id drops duplicates), queue processing after
commit, answer 202. Leap promises neither order nor single delivery (DIGEST §5.6), so processing
does not apply the payload: it fetches the meter's current state from Leap. The exception is
group.updated, which is about a group, not a meter: its membership is applied for its window, and
the meters concerned are fetched too.
"""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from leap.schemas import WebhookEvent
from leapportal import receivers, timezones
from meters import groups, sync
from meters.models import ChangeSource, GroupAssignment, Meter, SyncRun, WebhookDelivery
from meters.writer import Context

METER_EVENTS = {
    "meter.created",
    "meter.enrollment.global-status.updated",
    "meter.enrollment.participation-status.updated",
    "meter.enrollment.required-actions.updated",
}
GROUP_EVENT = "meter.enrollment.group.updated"
# Stored and acknowledged, nothing to do for the meter portfolio.
IGNORED_PREFIXES = ("connect_session.",)

_NEVER_STORED = {"authorization", "cookie", "proxy-authorization"}


def secret_matches(presented: str) -> bool:
    """True if `presented` is one of the accepted secrets; compares against all, in constant time."""
    candidate = presented.encode()
    matched = False
    for secret in settings.LEAP_METER_WEBHOOK_SECRETS:
        matched |= hmac.compare_digest(candidate, secret.encode())
    return matched and bool(presented)


def _headers(request: HttpRequest) -> dict[str, str]:
    drop = _NEVER_STORED | {settings.LEAP_WEBHOOK_HEADER.lower()}
    return {k: v for k, v in request.headers.items() if k.lower() not in drop}


def shape_error(event: WebhookEvent) -> str | None:
    """Why a parsed event lacks what its type requires (DIGEST §5.3), or None."""
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
        if payload.end_date_time <= payload.start_date_time:
            return f"{kind}: end_date_time must be after start_date_time"
    return None


def _reject(
    request: HttpRequest, body: str, error: str, *, status: int = 400, **fields: Any
) -> JsonResponse:
    WebhookDelivery.objects.create(
        headers=_headers(request),
        body=body,
        status=WebhookDelivery.Status.REJECTED,
        error=error,
        processed_at=timezone.now(),
        **fields,
    )
    return JsonResponse({"error": error}, status=status)


@csrf_exempt
@login_not_required
@require_POST
def receive(request: HttpRequest) -> JsonResponse:
    """POST /meters/webhooks/leap: one delivery of Leap's webhook platform."""
    if not secret_matches(request.headers.get(settings.LEAP_WEBHOOK_HEADER, "")):
        # Counted, not stored, and the body is not read: it is not Leap's, and must not fill the
        # database (the dispatch receivers' counter, per day and receiver).
        from dispatch.models import Receiver
        from dispatch.webhooks import count_auth_failure

        presented = request.headers.get(settings.LEAP_WEBHOOK_HEADER, "")
        count_auth_failure(
            Receiver.METER_EVENTS,
            reason="wrong secret" if presented else "missing secret",
            remote_addr=request.META.get("REMOTE_ADDR") or None,
        )
        return JsonResponse({"error": "unauthorized"}, status=401)

    limit = settings.METERS_WEBHOOK_MAX_BYTES
    raw, too_big = receivers.read_bounded(request, limit)
    # PostgreSQL text cannot hold NUL: such a body is still kept (for inspection), with U+FFFD.
    body = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    if problem := receivers.content_type_problem(request):
        return _reject(request, body, problem, status=415)
    if too_big:
        return _reject(
            request, body, f"body larger than {limit} bytes; the first {len(raw)} bytes were kept",
            status=413,
        )  # fmt: skip
    try:
        data = json.loads(body)
    except ValueError as exc:
        return _reject(request, body, f"invalid JSON: {exc}")
    try:
        event = WebhookEvent.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:5]
        )
        return _reject(request, body, f"not a webhook event: {problems}")
    kind = event.payload.webhook_event_type
    problem = shape_error(event)
    if problem:
        return _reject(request, body, problem, event_type=kind[:64])

    acted_on = kind in METER_EVENTS or kind == GROUP_EVENT
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                webhook_event_id=event.webhook_event_id,
                event_type=kind[:64],
                meter_id=event.payload.meter_id,
                headers=_headers(request),
                body=body,
                status=(
                    WebhookDelivery.Status.RECEIVED if acted_on else WebhookDelivery.Status.IGNORED
                ),
                processed_at=None if acted_on else timezone.now(),
            )
    except IntegrityError:
        # Leap delivers at least once: the same event again is acknowledged and dropped.
        return JsonResponse({"status": "duplicate"}, status=200)
    if acted_on:
        from meters.tasks import process_meter_webhook

        # Best effort: with the broker down the stored delivery still gets its 2xx, and the
        # sweep (beat's webhook-sweep, dispatch/sweep.py) queues it once the broker is back.
        delivery_id = delivery.pk
        transaction.on_commit(
            lambda: receivers.publish_quietly(
                process_meter_webhook.delay, delivery_id, what=f"meter delivery {delivery_id}"
            )
        )
    return JsonResponse({"status": "accepted" if acted_on else "ignored"}, status=202)


# --- processing ----------------------------------------------------------------------------------


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


def process(client: Any, delivery: WebhookDelivery) -> SyncRun:
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
            sync.resync_meter(client, run, payload.meter_id, source=ChangeSource.WEBHOOK)
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


def _process_group_event(client: Any, run: SyncRun, payload: Any) -> None:
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
    sync.resync_meters(client, run, before | set(payload.meter_ids), source=ChangeSource.WEBHOOK)
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
