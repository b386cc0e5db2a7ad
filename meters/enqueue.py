"""The one door meters' code queues its Celery tasks through, so domain code never imports tasks.

meters/tasks.py imports the domain code it runs (and that code queues runs through here), so this
module names its tasks instead of importing them (leapportal/task_lookup.py says why), and queues
each exactly as its callers did before.
"""

from __future__ import annotations

from leapportal.task_lookup import task


def run_sync_on_commit(run_id: int) -> None:
    """Queue the sync run once the transaction that created (or revived) it commits."""
    task("meters.tasks.run_sync").delay_on_commit(run_id)  # type: ignore[attr-defined]  # DjangoTask


def process_meter_webhook(delivery_id: int) -> None:
    """Queue the processing of one stored meter-event delivery now."""
    task("meters.tasks.process_meter_webhook").delay(delivery_id)
