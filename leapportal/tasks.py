"""Project-level Celery tasks."""

from __future__ import annotations

import socket
from typing import Any

from celery import shared_task

from leapportal.heartbeat import record_heartbeat


@shared_task(bind=True, acks_late=True, ignore_result=True)
def record_worker_heartbeat(self: Any) -> str:
    """Record that the worker running this task is alive (beat every WORKER_HEARTBEAT_SECONDS)."""
    # request.hostname is the worker's node name (celery@host); an eager call has none.
    hostname = self.request.hostname or f"eager@{socket.gethostname()}"
    record_heartbeat(hostname)
    return hostname
