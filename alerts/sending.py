"""Sending queued messages: email through Django's email backend (SMTP), chat to a webhook URL.

A message is written (queued) before anything is sent, so a crash or an SMTP server that is down
loses nothing. Each attempt locks its row (SKIP LOCKED: two workers never send the same message);
a failure records the error and schedules the next try after NOTIFY_RETRY_DELAYS; when they are
used up the message is FAILED, shown on sync health, and can be retried by hand.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from alerts.models import OutboundMessage
from ops import workflow
from ops.models import ActionWorkItem, ActionWorkItemChange

log = logging.getLogger(__name__)

M = OutboundMessage


class SendError(Exception):
    """The transport refused or could not be reached; the message stays queued."""


def _send_email(message: OutboundMessage) -> None:
    email = EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        connection=get_connection(fail_silently=False),
    )
    try:
        sent = email.send()
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        # OSError: refused, down, timed out; ValueError: a header Django refuses to write
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    if sent != 1:
        raise SendError("the email backend accepted no message")


def _send_chat(message: OutboundMessage) -> None:
    # Slack-compatible incoming webhook: {"text": ...}; mrkdwn-free plain text.
    text = f"*{message.subject}*\n{message.body}"
    try:
        response = httpx.post(
            message.to, json={"text": text}, timeout=settings.NOTIFY_CHAT_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise SendError(f"HTTP {response.status_code}: {response.text[:200]}")


def send(message_id: int) -> str:
    """Try to send one message now, if it is still pending; returns its status afterwards."""
    with transaction.atomic():
        message = (
            M.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status__in=M.PENDING_STATUSES)
            .first()
        )
        if message is None:  # sent already, refused, failed for good, or another worker has it
            return M.objects.filter(pk=message_id).values_list("status", flat=True).first() or ""
        now = timezone.now()
        message.attempts += 1
        try:
            if message.channel == M.Channel.EMAIL:
                _send_email(message)
            else:
                _send_chat(message)
        except SendError as exc:
            _schedule_retry(message, str(exc), now)
            log.warning("message %s attempt %s failed: %s", message.pk, message.attempts, exc)
        else:
            message.status = M.Status.SENT
            message.sent_at = now
            message.next_attempt_at = None
            message.last_error = ""
            message.save()
            if message.purpose == M.Purpose.OUTREACH:
                _record_outreach(message)
    return message.status


def _schedule_retry(message: OutboundMessage, error: str, now: datetime) -> None:
    delays = settings.NOTIFY_RETRY_DELAYS
    message.last_error = error[:2000]
    if message.attempts <= len(delays):
        message.status = M.Status.RETRYING
        message.next_attempt_at = now + timedelta(seconds=delays[message.attempts - 1])
    else:
        message.status = M.Status.FAILED
        message.next_attempt_at = None
    message.save()


def _record_outreach(message: OutboundMessage) -> None:
    """A sent customer email goes into the action's history and makes it "contacted"."""
    if message.action is None:
        return
    item, _ = workflow.update_work_item(
        message.action, actor=message.created_by, state=ActionWorkItem.State.CONTACTED
    )
    ActionWorkItemChange.objects.create(
        work_item=item,
        changed_by=message.created_by,
        changed_at=message.sent_at,
        changes={"customer_email": [None, f"sent to {message.to}: {message.subject}"]},
    )


def _due(now: datetime | None) -> Any:
    return (
        M.objects.filter(status__in=M.PENDING_STATUSES)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now or timezone.now()))
        .order_by("created_at", "id")
    )


def due(now: datetime | None = None) -> list[int]:
    """Pending messages whose (re)try time has come, oldest first."""
    return list(_due(now).values_list("id", flat=True)[:1000])


def send_due(now: datetime | None = None) -> dict[str, int]:
    """One attempt at each due message, oldest first.

    When a transport fails (the SMTP server, or one chat webhook URL), the rest of its messages
    wait for the next sweep instead of each waiting out its own timeout now.
    """
    broken: set[str] = set()
    counts = {"sent": 0, "failed": 0, "deferred": 0}
    for message_id, channel, to in _due(now).values_list("id", "channel", "to")[:1000]:
        transport = "smtp" if channel == M.Channel.EMAIL else f"chat {to}"
        if transport in broken:
            counts["deferred"] += 1
            continue
        if send(message_id) == M.Status.SENT:
            counts["sent"] += 1
        else:
            counts["failed"] += 1
            broken.add(transport)
    return counts


def retry_now(message: OutboundMessage, *, by: Any = None) -> bool:
    """Put a failed (or waiting) message back in the queue for the next send pass."""
    updated = M.objects.filter(
        pk=message.pk, status__in=[M.Status.FAILED, M.Status.RETRYING]
    ).update(status=M.Status.QUEUED, next_attempt_at=None)
    return bool(updated)


def health(now: datetime | None = None) -> dict[str, Any]:
    """For sync health: what is waiting, what failed, the latest problems."""
    now = now or timezone.now()
    since = now - timedelta(days=1)
    counts = M.objects.filter(
        Q(status__in=[*M.PENDING_STATUSES, M.Status.FAILED]) | Q(sent_at__gte=since)
    ).aggregate(
        queued=Count("id", filter=Q(status__in=M.PENDING_STATUSES)),
        retrying=Count("id", filter=Q(status=M.Status.RETRYING)),
        failed=Count("id", filter=Q(status=M.Status.FAILED)),
        sent_24h=Count("id", filter=Q(status=M.Status.SENT, sent_at__gte=since)),
    )  # one query: the page's cost does not grow with this card
    return {
        **counts,
        "problems": list(
            M.objects.filter(status__in=[M.Status.RETRYING, M.Status.FAILED])
            .select_related("recipient_user")
            .order_by("-created_at")[:10]
        ),
    }
