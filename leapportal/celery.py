"""The Celery application. Configuration comes from Django settings (CELERY_ namespace)."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")

app = Celery("leapportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def first_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    """A worker that has just started beats at once, not only at beat's next tick.

    Until then the sync-health page said "worker never seen" (up to WORKER_HEARTBEAT_SECONDS
    after `make demo` started). The beat goes through the queue like any other, so it also
    shows that the worker takes tasks; a broker that refuses it is only logged.
    """
    # Imported here, not at the top: Django imports this module (the Celery app) while it sets up,
    # before the app registry is ready; the tasks module imports models.
    from leapportal.tasks import record_worker_heartbeat

    if not settings.WORKER_STARTUP_HEARTBEAT:
        return
    try:
        record_worker_heartbeat.delay()
    except Exception:  # noqa: BLE001 - the worker runs without it; beat's tick comes anyway
        logging.getLogger(__name__).exception("could not queue the worker's first heartbeat")
