"""The one door alerts' code queues its Celery tasks through, so domain code never imports tasks.

alerts/tasks.py imports the domain code it runs, none of which queues through here, so this module
imports the tasks (no loop: tests/foundation/test_import_graph.py would name one). Should that
code ever queue through here, name the tasks instead, as dispatch/enqueue.py does.
"""

from __future__ import annotations

from django.db import transaction

from alerts import tasks


def send_message(message_id: int) -> None:
    """Queue one attempt at one message now."""
    tasks.send_message.delay(message_id)


def send_on_commit(message_ids: list[int]) -> None:
    """Start sending these messages once the transaction that queued them commits."""
    if len(message_ids) > 20:  # "send to all": one task works through them in order
        transaction.on_commit(tasks.send_due_messages.delay)
    elif message_ids:
        transaction.on_commit(lambda: [tasks.send_message.delay(i) for i in message_ids])
