"""The one door ops' code queues its Celery tasks through, as in every other app.

ops/tasks.py imports the workflow it runs, so the function imports it when called.
"""

from __future__ import annotations


def apply_bulk_update_on_commit(record_id: int) -> None:
    """Queue a recorded bulk update once the transaction that recorded it commits."""
    from ops import tasks

    tasks.apply_bulk_update.delay_on_commit(record_id)  # type: ignore[attr-defined]  # DjangoTask
