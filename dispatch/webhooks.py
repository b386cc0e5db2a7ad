"""Receivers for Leap's dispatch notifications (meter level and group level).

Leap counts an answer slower than 10 s as a failure and retries every minute for 50 minutes, so
the receiver does the least that makes the notification safe: check the secret, read the body
(bounded), check the wrapper's shape, store it in ONE insert, wake the drain task after commit
(dispatch.wakeup), answer 202. Everything else happens in the worker
(dispatch.tasks.drain_deliveries).

The checks both receivers make are the webhook inbox base's (leapportal.receivers.Inbox); this
module adds the shape of Leap's notification wrapper and the one INSERT. Refusals:
- no or wrong secret: 401, counted per day and level (WebhookAuthFailure), body not kept: it is
  not Leap's, and keeping it would let anyone fill the database;
- body over settings.DISPATCH_WEBHOOK_MAX_BYTES: 413, the first bytes kept as a rejected delivery;
- a Content-Type other than application/json: 415, kept as a rejected delivery;
- invalid JSON or a wrapper of the wrong shape: 400 with the reason, kept as a rejected delivery.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dispatch import wakeup
from dispatch.models import DispatchDelivery, Level, Source
from leapportal import receivers
from leapportal.models import WebhookAuthFailure

# Level members are str, and shape_error is given the level as a str.
_LIST_KEY: dict[str, str] = {Level.METER: "meter_dispatches", Level.GROUP: "group_dispatches"}
_RECIPIENT_KEY: dict[str, str] = {Level.METER: "meter_id", Level.GROUP: "market_group_id"}
_EVENT_KEY: dict[str, str] = {Level.METER: "meter_event_id", Level.GROUP: "market_group_event_id"}


def shape_error(payload: Any, level: str) -> str | None:
    """Why the payload is not Leap's notification wrapper for this level, or None if it is."""
    if not isinstance(payload, dict):
        return "the body must be a JSON object"
    for flag in ("integration_test_notification", "communication_test"):
        if flag in payload and not isinstance(payload[flag], bool):
            return f"{flag} must be true or false"
    key = _LIST_KEY[level]
    if key not in payload:
        other = _LIST_KEY[Level.GROUP if level == Level.METER else Level.METER]
        hint = f" (this is the {level}-level receiver; {other} go to the other one)"
        return f"{key} is missing" + (hint if other in payload else "")
    items = payload[key]
    if not isinstance(items, list):
        return f"{key} must be a list"
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return f"{key}[{i}] must be an object"
        if not isinstance(item.get(_RECIPIENT_KEY[level]), str):
            return f"{key}[{i}].{_RECIPIENT_KEY[level]} is missing"
        slots = item.get("timeslots")
        if not isinstance(slots, list):
            return f"{key}[{i}].timeslots must be a list"
        for j, slot in enumerate(slots):
            if not isinstance(slot, dict) or not isinstance(slot.get(_EVENT_KEY[level]), str):
                return f"{key}[{i}].timeslots[{j}].{_EVENT_KEY[level]} is missing"
    return None


_INSERT_COLUMNS = (
    "source", "level", "status", "received_at", "processed_at", "body", "body_sha256", "size",
    "truncated", "headers", "remote_addr", "error", "attempts", "integration_test",
    "communication_test", "summary",
)  # fmt: skip
# Identifiers are fixed above; every value is a parameter.
_INSERT_SQL = (
    f"INSERT INTO {DispatchDelivery._meta.db_table} ({', '.join(_INSERT_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(['%s'] * len(_INSERT_COLUMNS))}) RETURNING id"
)


def _store(
    request: HttpRequest,
    level: str,
    body: bytes,
    *,
    status: str = DispatchDelivery.Status.RECEIVED,
    error: str = "",
    processed_at: datetime | None = None,
    truncated: bool = False,
    integration_test: bool = False,
    communication_test: bool = False,
) -> int:
    """The one INSERT of a delivery, with its headers and receipt time; returns its id.

    Raw SQL rather than the ORM's create(): a model instance, its field preparation and the
    compiler are a third of the receiver's CPU, and this is the hot path under load.
    """
    params = [
        Source.WEBHOOK, level, status, timezone.now(), processed_at, body,
        DispatchDelivery.hash_body(body), len(body), truncated,
        json.dumps(receivers.stored_headers(request)), request.META.get("REMOTE_ADDR") or None,
        error, 0, integration_test, communication_test, "{}",
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)
        return cursor.fetchone()[0]


class DispatchInbox(receivers.Inbox):
    """The receiver of one level: the inbox base's checks, then the wrapper's shape, then _store."""

    secrets_setting = "LEAP_DISPATCH_WEBHOOK_SECRETS"
    max_bytes_setting = "DISPATCH_WEBHOOK_MAX_BYTES"
    refusals = WebhookAuthFailure

    def reject(
        self, request: HttpRequest, body: bytes, status: int, error: str, *, truncated: bool = False
    ) -> JsonResponse:
        """Keep a refused body for inspection and tell the sender why."""
        delivery_id = _store(
            request,
            self.receiver,
            body,
            status=DispatchDelivery.Status.REJECTED,
            error=error,
            processed_at=timezone.now(),
            truncated=truncated,
        )
        return JsonResponse({"error": error, "delivery_id": delivery_id}, status=status)

    def accept(self, request: HttpRequest, body: bytes, payload: Any) -> JsonResponse:
        """Store one notification and wake the drain after commit."""
        level = self.receiver
        if error := shape_error(payload, level):
            return self.reject(request, body, 400, f"not a {level} dispatch notification: {error}")

        delivery_id = _store(
            request,
            level,
            body,
            integration_test=bool(payload.get("integration_test_notification")),
            communication_test=bool(payload.get("communication_test")),
        )
        # After commit, so the drain can see it; dispatch.wakeup publishes only if no drain is
        # pending. Best effort: with the broker down the delivery is safe and the sweep queues it.
        transaction.on_commit(
            lambda: receivers.publish_quietly(wakeup.request_drain, what=f"delivery {delivery_id}")
        )
        return JsonResponse({"delivery_id": delivery_id, "status": "received"}, status=202)


METER_INBOX = DispatchInbox(Level.METER)
GROUP_INBOX = DispatchInbox(Level.GROUP)


@csrf_exempt
@login_not_required
@require_POST
def meter_webhook(request: HttpRequest) -> JsonResponse:
    """Leap's meter-level dispatch notifications."""
    return METER_INBOX.receive(request)


@csrf_exempt
@login_not_required
@require_POST
def group_webhook(request: HttpRequest) -> JsonResponse:
    """Leap's group-level dispatch notifications."""
    return GROUP_INBOX.receive(request)
