"""The one door onboarding's code queues its Celery tasks through, so domain code never imports
tasks (onboarding/tasks.py imports the domain code it runs, so each function imports it when called).
"""

from __future__ import annotations

from django.db import transaction


def send_job_on_commit(job_id: int) -> None:
    """Queue sending a create-meters job to Leap once the transaction that made it commits."""
    from onboarding import tasks

    transaction.on_commit(lambda: tasks.send_job.delay(job_id))
