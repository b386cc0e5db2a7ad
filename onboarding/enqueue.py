"""The one door onboarding's code queues its Celery tasks through, so domain code never imports
tasks. onboarding/tasks.py imports the domain code it runs (and that code queues through here), so
this module names its task instead of importing it (leapportal/task_lookup.py says why).
"""

from __future__ import annotations

from django.db import transaction

from leapportal.task_lookup import task


def send_job_on_commit(job_id: int) -> None:
    """Queue sending a create-meters job to Leap once the transaction that made it commits."""
    transaction.on_commit(lambda: task("onboarding.tasks.send_job").delay(job_id))
