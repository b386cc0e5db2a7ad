"""The one door meters' code queues its Celery tasks through, so domain code never imports tasks.

meters/tasks.py imports the domain code it runs, so each function here imports it when called,
and queues the task exactly as its callers did before.
"""

from __future__ import annotations


def run_sync_on_commit(run_id: int) -> None:
    """Queue the sync run once the transaction that created (or revived) it commits."""
    from meters import tasks

    tasks.run_sync.delay_on_commit(run_id)  # type: ignore[attr-defined]  # DjangoTask


def process_meter_webhook(delivery_id: int) -> None:
    """Queue the processing of one stored meter-event delivery now."""
    from meters import tasks

    tasks.process_meter_webhook.delay(delivery_id)
