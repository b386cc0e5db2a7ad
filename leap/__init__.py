"""leap: the only code that speaks HTTP to Leap (client, schemas, errors) and its simulator.

    client = leap.get_client()               # built from settings
    with leap.use_transport(sim.transport()):  # tests: every get_client() inside uses it
        ...

See docs/contracts.md §1 for the interface other apps code against.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from leap.client import ClientStats, LeapClient, Page
from leap.errors import (
    LeapBadPayload,
    LeapError,
    LeapNotFound,
    LeapPageTokenExpired,
    LeapRejected,
    LeapUnavailable,
)
from leap.schemas import MeterFilter

__all__ = [
    "ClientStats",
    "LeapBadPayload",
    "LeapClient",
    "LeapError",
    "LeapNotFound",
    "LeapPageTokenExpired",
    "LeapRejected",
    "LeapUnavailable",
    "MeterFilter",
    "Page",
    "client_stats",
    "get_client",
    "set_transport",
    "use_transport",
]

# The transport override is process-wide, not thread-local, on purpose: a test's live_server
# thread and eager Celery tasks must reach the same simulator as the test body.
_override_lock = threading.Lock()
_override: tuple[httpx.BaseTransport, dict[str, Any]] | None = None

# Shared by every client get_client() builds, so the sync-health page sees the process's totals.
_stats = ClientStats()


def client_stats() -> ClientStats:
    """The request/retry/error counters of every client built by get_client() in this process."""
    return _stats


def set_transport(transport: httpx.BaseTransport | None, **client_kwargs: Any) -> None:
    """Make every later get_client() use `transport` (None restores the network).

    `client_kwargs` are passed to LeapClient too, e.g. `sleep=lambda s: None` so that retries
    against a faulty simulator do not wait.
    """
    global _override
    with _override_lock:
        _override = (transport, client_kwargs) if transport is not None else None


@contextlib.contextmanager
def use_transport(transport: httpx.BaseTransport, **client_kwargs: Any) -> Iterator[None]:
    """Within the block, get_client() builds clients on `transport` (nestable)."""
    global _override
    with _override_lock:
        previous = _override
        _override = (transport, client_kwargs)
    try:
        yield
    finally:
        with _override_lock:
            _override = previous


def get_client(**overrides: Any) -> LeapClient:
    """A LeapClient from settings (LEAP_BASE_URL, LEAP_API_KEY, timeouts, retries).

    Keyword arguments override the settings (tests pass `sleep=` or `max_retries=`).
    """
    # Imported here, not at the top: leap/ is usable without Django (the simulator and the
    # benchmarks run it standalone); only this helper reads Django's settings.
    from django.conf import settings

    kwargs: dict[str, Any] = {
        "base_url": settings.LEAP_BASE_URL,
        "api_key": settings.LEAP_API_KEY,
        "timeout": settings.LEAP_TIMEOUT_SECONDS,
        "max_retries": settings.LEAP_MAX_RETRIES,
        "max_total_wait": settings.LEAP_MAX_RETRY_WAIT_SECONDS,
        "user_agent": settings.LEAP_USER_AGENT,
        "stats": _stats,
    }
    with _override_lock:
        override = _override
    if override is not None:
        transport, client_kwargs = override
        kwargs["transport"] = transport
        kwargs.update(client_kwargs)
    kwargs.update(overrides)
    return LeapClient(**kwargs)
