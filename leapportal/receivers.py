"""What both webhook receivers (meter events, dispatch notifications) do the same way.

- The body is read bounded, never whole: a sender without a size limit of its own cannot make a
  web process hold an arbitrary amount of memory.
- Only JSON is taken (`Content-Type: application/json`, any parameters); anything else is answered
  415 and kept as a rejected delivery.
- A delivery that has committed always gets its 2xx: waking its task through the broker is best
  effort. With the broker down the publish fails, the failure is logged, and the periodic sweep
  (dispatch: every reconcile; meters: every incremental sync) queues the delivery once the broker
  is back. Answering 500 instead would make Leap deliver the same event again and again for 50
  minutes, each one stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

log = logging.getLogger(__name__)

JSON_TYPES = {"application/json"}


def content_type_problem(request: HttpRequest) -> str | None:
    """Why the request's Content-Type is not JSON, or None when it is."""
    raw = request.META.get("CONTENT_TYPE", "")
    media = raw.split(";", 1)[0].strip().lower()
    if media in JSON_TYPES:
        return None
    shown = raw[:80] if raw else "none"
    return f"Content-Type must be application/json, got {shown}"


def read_bounded(request: HttpRequest, limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of the body; the flag says whether there was more."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    # read() goes to the (Content-Length bounded) stream, not request.body, so an oversized body
    # is never loaded whole.
    body = request.read(limit + 1)
    too_big = len(body) > limit or (declared.isdigit() and int(declared) > limit)
    return body[:limit], too_big


def publish_quietly(publish: Callable[..., Any], *args: Any, what: str) -> bool:
    """Call `publish(*args)`; a broker failure is logged, not raised. True when it went out."""
    try:
        publish(*args)
    except Exception:  # kombu's OperationalError, redis' ConnectionError, a timeout, ...
        log.warning("could not queue %s (broker down?); the sweep will pick it up", what,
                    exc_info=True)  # fmt: skip
        return False
    return True
