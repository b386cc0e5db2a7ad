"""Celery tasks of the ops app: thin, take ids, idempotent; the work is in ops.workflow.

On the default queue (leapportal/queues.py): a bulk change of the action queue is a few seconds
of database work at most, nothing a dispatch or a sync would wait behind.
"""

from __future__ import annotations

from celery import shared_task

from ops import workflow


@shared_task(acks_late=True)
def apply_bulk_update(bulk_id: int) -> str:
    """Apply one queued BulkWorkUpdate (claimed once: a second delivery does nothing)."""
    return workflow.run_queued_bulk_update(bulk_id)
