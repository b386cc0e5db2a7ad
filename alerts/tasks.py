"""Celery tasks of the alerts app: the evaluation pass, notifications, sending with retries."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from alerts import evaluate, notify, sending


@shared_task(acks_late=True, ignore_result=True)
def evaluate_alerts() -> dict[str, Any]:
    """Every minute (beat): raise and resolve alerts, then queue whatever notifications are due."""
    result = evaluate.evaluate()
    notify_people.delay()
    return {"raised": result.raised, "resolved": result.resolved, "seconds": result.seconds}


@shared_task(acks_late=True, ignore_result=True)
def notify_people() -> int:
    """Queue each person's due notification or digest and start sending them."""
    queued = notify.notify_all()
    for message_id in queued:
        send_message.delay(message_id)
    return len(queued)


@shared_task(acks_late=True, ignore_result=True)
def send_message(message_id: int) -> str:
    """One attempt at one queued message (a failure is recorded and retried by the sweep)."""
    return sending.send(message_id)


@shared_task(acks_late=True, ignore_result=True)
def send_due_messages() -> dict[str, int]:
    """Every 30 s (beat): one attempt at every message whose (re)try time has come."""
    return sending.send_due()
