"""The one door alerts' code queues its Celery tasks through, so domain code never imports tasks.

alerts/tasks.py imports the domain code it runs, so each function here imports it when called.
"""

from __future__ import annotations

from django.db import transaction


def send_message(message_id: int) -> None:
    """Queue one attempt at one message now."""
    from alerts import tasks

    tasks.send_message.delay(message_id)


def send_on_commit(message_ids: list[int]) -> None:
    """Start sending these messages once the transaction that queued them commits."""
    from alerts import tasks

    if len(message_ids) > 20:  # "send to all": one task works through them in order
        transaction.on_commit(tasks.send_due_messages.delay)
    elif message_ids:
        transaction.on_commit(lambda: [tasks.send_message.delay(i) for i in message_ids])
