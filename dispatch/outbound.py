"""Hand each change of a timeslot's effective state on to our device and event system.

The effective state is the timeslot as Leap last told us plus our plan for it (each meter's share,
whether the meter follows it or which event overrules it). Whenever its hash changes, one
OutboundMessage per active endpoint is written in the same transaction and sent after commit,
signed the Standard Webhooks way (https://www.standardwebhooks.com/):

    webhook-id:        msg_<uuid hex>   (the same on every retry, so receivers can deduplicate)
    webhook-timestamp: unix seconds of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256 over "id.timestamp.body" with the whsec_ key>

A non-2xx answer or a network error is retried after settings.DISPATCH_OUTBOUND_RETRY_DELAYS;
after the last delay the message is marked failed. Every attempt is logged (OutboundAttempt).
This module talks HTTP to our own systems, not to Leap, so it uses httpx directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from dispatch import enqueue
from dispatch.comparable import comparable
from dispatch.models import (
    DispatchTimeslot,
    OutboundAttempt,
    OutboundEndpoint,
    OutboundMessage,
)
from leap.schemas import SPECIAL_EVENT_TYPES

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 5 * 60  # how old a signature a verifier accepts (Standard Webhooks' default)


def effective_state(ts: DispatchTimeslot) -> dict[str, Any]:
    """The state we hand on for a timeslot (without delivery bookkeeping)."""
    allocations = sorted(ts.allocations.all(), key=lambda a: str(a.meter_uuid))
    return {
        "event_id": str(ts.event_id),
        "level": ts.level,
        "meter_id": comparable(ts.meter_uuid),
        "market_group_id": comparable(ts.market_group_uuid),
        "group_meter_ids": ts.group_meter_ids,
        "start_time": comparable(ts.start_time),
        "end_time": comparable(ts.end_time),
        "cancelled": ts.cancelled,
        "energy_kw": ts.energy_kw,
        "nomination_kw": ts.nomination_kw,
        "performance_compensation_cap": ts.performance_compensation_cap,
        "priority": ts.priority,
        "is_voluntary": ts.is_voluntary,
        "dispatch_event_types": ts.dispatch_event_types,
        "programs": ts.programs,
        "communication_test": ts.communication_test,
        "integration_test": ts.integration_test,
        # Flags a device system must not miss: a capacity test, a real-time event.
        "special": sorted(t for t in ts.dispatch_event_types if t in SPECIAL_EVENT_TYPES),
        "capacity_test": ts.is_capacity_test,
        # up-to-site-load: reduce down to 0 kW site load at most; grid-exports-allowed: export.
        "may_export": ts.performance_compensation_cap == "grid-exports-allowed",
        "plan_from": comparable(ts.plan_from),
        "meters": [
            {
                "meter_id": str(a.meter_uuid),
                "share_kw": a.share_kw,
                "planned_kw": a.planned_kw,
                "bound_by": a.bound_by,
                "segments": a.segments,
                "follow": a.followed,
                "overruled_by": None if a.overruled_by is None else str(a.overruled_by.event_id),
                "reason": a.reason,
                "flags": sorted(a.flags),
            }
            for a in allocations
        ],
    }


def state_hash(state: dict[str, Any]) -> str:
    """SHA-256 of a state, stable across key order."""
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def hand_on(timeslot_ids: Iterable[int]) -> list[OutboundMessage]:
    """Queue a message per active endpoint for each timeslot whose effective state changed."""
    ids = list(timeslot_ids)
    if not ids:
        return []
    endpoints = list(OutboundEndpoint.objects.filter(active=True))
    if not endpoints:
        # Nothing to hand on to. effective_hash records what was last handed on, so a later
        # endpoint first hears of a timeslot at its next change (the feed has the full picture).
        return []
    now = timezone.now()
    # Ended timeslots are history, not work: never handed on (new, changed or cancelled).
    timeslots = DispatchTimeslot.objects.filter(pk__in=ids, end_time__gt=now).prefetch_related(
        "allocations__overruled_by"
    )
    messages = []
    for ts in timeslots:
        if ts.cancelled and not ts.effective_hash:
            # Cancelled before our systems ever heard of it (a tombstone for an id we never saw,
            # or an event withdrawn before it was handed on): nothing to cancel, nothing sent.
            continue
        state = effective_state(ts)
        digest = state_hash(state)
        if digest == ts.effective_hash:
            continue
        if not ts.effective_hash:
            event_type = "timeslot.created"
        elif ts.cancelled:
            event_type = "timeslot.cancelled"
        else:
            event_type = "timeslot.updated"
        # Compare-and-set: a concurrent worker that handed this change on first wins; ours then
        # updates nothing and queues nothing (PostgreSQL re-checks the WHERE after the wait).
        if not DispatchTimeslot.objects.filter(pk=ts.pk, effective_hash=ts.effective_hash).update(
            effective_hash=digest
        ):
            continue
        for endpoint in endpoints:
            if ts.integration_test and not endpoint.include_tests:
                continue
            payload = {"type": event_type, "timestamp": comparable(timezone.now()), "data": state}
            messages.append(
                OutboundMessage.objects.create(
                    endpoint=endpoint,
                    timeslot=ts,
                    webhook_id=f"msg_{uuid.uuid4().hex}",
                    event_type=event_type,
                    effective_hash=digest,
                    payload=payload,
                )
            )
    if messages:
        for msg in messages:
            enqueue.send_outbound_on_commit(msg.pk)
    return messages


def _key(secret: str) -> bytes:
    """The HMAC key of a whsec_ secret (base64 after the prefix)."""
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode()  # a plain (non-base64) secret from the admin: used as it is


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header value for one body."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None) -> bool:
    """What a receiver does: check the signature and the timestamp's freshness."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, ts = lower["webhook-id"], int(lower["webhook-timestamp"])
        presented = lower["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - ts) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, msg_id, ts, body)
    return any(hmac.compare_digest(expected, p) for p in presented)


def signed_request(msg: OutboundMessage, *, now: datetime | None = None) -> tuple[bytes, dict]:
    """The body and headers of one attempt."""
    body = json.dumps(msg.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int((now or timezone.now()).timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "leapportal-dispatch",
        "webhook-id": msg.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(msg.endpoint.secret, msg.webhook_id, timestamp, body),
    }
    return body, headers


def claim(message_id: int) -> OutboundMessage | None:
    """Take a due message for sending; None when it is not due, sent, or taken by someone else."""
    now = timezone.now()
    due = Q(status__in=[OutboundMessage.Status.PENDING, OutboundMessage.Status.RETRYING]) & Q(
        next_attempt_at__lte=now
    )
    # A worker that died mid-send leaves "sending"; after the timeout it may be taken again.
    abandoned = Q(status=OutboundMessage.Status.SENDING) & Q(
        next_attempt_at__lte=now - timedelta(minutes=5)
    )
    if not OutboundMessage.objects.filter(due | abandoned, pk=message_id).update(
        status=OutboundMessage.Status.SENDING, next_attempt_at=now
    ):
        return None
    return OutboundMessage.objects.select_related("endpoint").get(pk=message_id)


def send(message_id: int, *, transport: httpx.BaseTransport | None = None) -> float | None:
    """One delivery attempt. Returns seconds until the next attempt, or None when finished."""
    msg = claim(message_id)
    if msg is None:
        return None
    body, headers = signed_request(msg)
    started = time.monotonic()
    status_code, error = None, ""
    try:
        with httpx.Client(
            timeout=settings.DISPATCH_OUTBOUND_TIMEOUT_SECONDS, transport=transport
        ) as client:
            response = client.post(msg.endpoint.url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:500]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    now = timezone.now()
    OutboundAttempt.objects.create(
        message=msg, attempted_at=now, status_code=status_code, error=error, duration_ms=duration_ms
    )
    msg.attempts += 1
    msg.last_status_code = status_code
    msg.last_error = error
    delay: float | None = None
    if not error:
        msg.status, msg.delivered_at = OutboundMessage.Status.DELIVERED, now
    elif msg.attempts > len(settings.DISPATCH_OUTBOUND_RETRY_DELAYS):
        msg.status = OutboundMessage.Status.FAILED
        log.warning("outbound %s to %s failed for good: %s", msg.webhook_id, msg.endpoint, error)
    else:
        delay = settings.DISPATCH_OUTBOUND_RETRY_DELAYS[msg.attempts - 1]
        msg.status = OutboundMessage.Status.RETRYING
        msg.next_attempt_at = now + timedelta(seconds=delay)
    msg.save()
    return delay


def due_message_ids(*, now: datetime | None = None) -> list[int]:
    """Messages whose (re)try time has come; the beat sweep re-queues them in case a retry
    scheduled in the broker was lost."""
    now = now or timezone.now()
    return list(
        OutboundMessage.objects.filter(
            status__in=[OutboundMessage.Status.PENDING, OutboundMessage.Status.RETRYING],
            next_attempt_at__lte=now - timedelta(seconds=30),
        ).values_list("pk", flat=True)[:500]
    )
