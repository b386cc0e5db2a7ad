"""The one door revenue's code queues its Celery tasks through, so domain code never imports tasks
(revenue/tasks.py imports the domain code it runs, so each function imports it when called).
"""

from __future__ import annotations

from django.db import transaction


def run_revenue_sync_on_commit(run_id: int) -> None:
    """Queue the revenue sync run once the transaction that created it commits."""
    from revenue import tasks

    transaction.on_commit(lambda: tasks.run_revenue_sync.delay(run_id))
