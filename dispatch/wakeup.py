"""Wake the drain task after a delivery is stored, without a Celery publish per request.

Publishing a task costs the receiver about half a millisecond of CPU (kombu builds a Redis client
per publish), more than the rest of the receiver's own work, and under load nearly every one of
those tasks only found its delivery already handled by a neighbour's batch. So the receivers share
one flag in Redis, "a drain is pending": a receiver publishes `drain_deliveries` only when it is
the one that sets the flag (`SET NX`), and the drain task clears the flag *before* its last look
for waiting deliveries. Why no delivery is ever stranded:

- a receiver sets (or finds) the flag only after its delivery has committed;
- if it set the flag, it publishes a task, which looks after it starts: it sees the delivery;
- if it found the flag set, the drain holding the flag has not yet cleared it, so that drain's last
  look (which comes after the clearing, hence after this commit) sees the delivery.

The flag expires (PENDING_TTL) so that a lost task (broker restart, worker killed) cannot silence
the receivers for long; the drain refreshes it between batches, and the beat sweep re-queues
anything still waiting after two minutes regardless. Without a Redis broker, or with eager tasks
(tests, the demo), every delivery simply publishes.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any
from urllib.parse import urlparse

import redis
from django.conf import settings

from dispatch import enqueue
from leapportal.celery import app

log = logging.getLogger(__name__)

PENDING_TTL = 60  # seconds; longer than a batch, short enough that a lost task is soon replaced


def _redis() -> Any:
    """The broker's Redis when tasks really go through it; None when eager or not Redis."""
    return None if app.conf.task_always_eager else _client(settings.CELERY_BROKER_URL)


@cache
def _client(url: str) -> Any:
    """A Redis client with its own connection pool (one per process), or None if not Redis."""
    if urlparse(url).scheme not in {"redis", "rediss"}:
        return None
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _key() -> str:
    # Per queue: parallel test runs and benches share a Redis db but not their queues.
    return f"leapportal:dispatch:drain-pending:{settings.CELERY_TASK_DEFAULT_QUEUE}"


def request_drain() -> None:
    """After a delivery committed: queue a drain unless one is pending that will still look."""
    client = _redis()
    if client is not None:
        try:
            if not client.set(_key(), "1", nx=True, ex=PENDING_TTL):
                return
        except Exception:  # Redis trouble: publishing anyway is always safe
            log.warning("drain flag unavailable; publishing", exc_info=True)
    enqueue.drain_deliveries()


def keep_pending() -> None:
    """A drain is running and will look again: receivers need not publish (refreshes the TTL)."""
    client = _redis()
    if client is not None:
        try:
            client.set(_key(), "1", ex=PENDING_TTL)
        except Exception:  # only costs extra publishes
            log.warning("could not refresh the drain flag", exc_info=True)


def clear_pending() -> None:
    """Called by the drain before its last look: from now on receivers publish again."""
    client = _redis()
    if client is not None:
        # No try: if the flag cannot be cleared, the drain must fail (and be retried) rather than
        # end while receivers still think it will look.
        client.delete(_key())


def is_pending() -> bool:
    """Whether the flag is set."""
    client = _client(settings.CELERY_BROKER_URL)
    return bool(client is not None and client.exists(_key()))


def forget() -> None:
    """Drop the flag whatever the mode (tests purging their queue drop its task with it)."""
    client = _client(settings.CELERY_BROKER_URL)
    if client is not None:
        client.delete(_key())
