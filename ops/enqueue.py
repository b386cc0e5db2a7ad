"""The one door ops' code queues its Celery tasks through, as in every other app.

ops/tasks.py imports the workflow it runs (and the workflow queues through here), so this module
names its task instead of importing it (leapportal/task_lookup.py says why).
"""

from __future__ import annotations

from leapportal.task_lookup import task


def apply_bulk_update_on_commit(record_id: int) -> None:
    """Queue a recorded bulk update once the transaction that recorded it commits."""
    task("ops.tasks.apply_bulk_update").delay_on_commit(record_id)  # type: ignore[attr-defined]  # DjangoTask
