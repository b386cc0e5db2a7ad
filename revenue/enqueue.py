"""The one door revenue's code queues its Celery tasks through, so domain code never imports tasks.
revenue/tasks.py imports the domain code it runs (and that code queues runs through here), so this
module names its task instead of importing it (leapportal/task_lookup.py says why).
"""

from __future__ import annotations

from django.db import transaction

from leapportal.task_lookup import task


def run_revenue_sync_on_commit(run_id: int) -> None:
    """Queue the revenue sync run once the transaction that created it commits."""
    transaction.on_commit(lambda: task("revenue.tasks.run_revenue_sync").delay(run_id))
