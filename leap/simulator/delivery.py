"""Outgoing webhook deliveries with Leap's retry ladders.

Leap's webhook platform tries 10 times over about 8 hours; dispatch notifications are retried
every minute, 50 times. Waits are multiplied by `retry_scale` so a demo or a
test can run the ladder in seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

# Minutes to wait before attempt 1..10 of a platform delivery.
PLATFORM_LADDER = (0, 1, 2, 4, 8, 16, 29, 60, 120, 240)
# Dispatch: at once, then every minute for 50 retries.
DISPATCH_LADDER = (0,) + (1,) * 50
TIMEOUT_SECONDS = 10.0


@dataclass
class Attempt:
    """One try at a delivery."""

    at: datetime
    status: int | None
    error: str | None
    seconds: float


@dataclass
class Delivery:
    """One webhook body on its way to one URL."""

    id: int
    kind: str  # "platform" or "dispatch"
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    due: datetime
    ladder: tuple[int, ...]
    event_type: str
    attempts: list[Attempt] = field(default_factory=list)
    state: str = "pending"  # pending, delivered, failed
    in_flight: bool = False  # being sent right now (by another thread, perhaps)

    @property
    def content(self) -> bytes:
        """The exact bytes Leap posts."""
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass
class Outcome:
    """What a receiver answered."""

    status: int | None
    headers: dict[str, list[str]]
    text: str
    error: str | None
    seconds: float


Sender = Callable[[str, dict[str, str], bytes], Any]


def http_send(url: str, headers: dict[str, str], content: bytes) -> Any:
    """POST over HTTP with Leap's 10-second limit."""
    return httpx.post(url, content=content, headers=headers, timeout=TIMEOUT_SECONDS)


def send(sender: Sender, url: str, headers: dict[str, str], content: bytes) -> Outcome:
    """Call a sender and normalise what it returns (httpx or Django test response, or an int)."""
    started = time.perf_counter()
    try:
        answer = sender(url, headers, content)
    except Exception as exc:  # noqa: BLE001 - any failure is a failed attempt, as at Leap
        return Outcome(None, {}, "", f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if isinstance(answer, int):
        return Outcome(answer, {}, "", None, seconds)
    status = getattr(answer, "status_code", None)
    raw_headers: dict[str, list[str]] = {}
    items = getattr(answer, "headers", {}) or {}
    for name, value in items.items():
        raw_headers.setdefault(name.lower(), []).append(str(value))
    text = getattr(answer, "text", None)
    if text is None:
        body = getattr(answer, "content", b"")
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    error = None
    if seconds > TIMEOUT_SECONDS:
        error = f"no answer within {TIMEOUT_SECONDS:.0f} s"
    return Outcome(status, raw_headers, text, error, seconds)


class Outbox:
    """Deliveries waiting, delivered and given up, in creation order."""

    def __init__(self) -> None:
        self.items: list[Delivery] = []
        self._next_id = 1

    def add(
        self,
        *,
        kind: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any],
        due: datetime,
        event_type: str,
    ) -> Delivery:
        """Queue one delivery."""
        ladder = PLATFORM_LADDER if kind == "platform" else DISPATCH_LADDER
        delivery = Delivery(self._next_id, kind, url, headers, body, due, ladder, event_type)
        self._next_id += 1
        self.items.append(delivery)
        return delivery

    def pending(self) -> list[Delivery]:
        """Deliveries still to be tried."""
        return [d for d in self.items if d.state == "pending"]

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery is due."""
        due = [d.due for d in self.items if d.state == "pending" and not d.in_flight]
        return min(due) if due else None

    def record(self, delivery: Delivery, outcome: Outcome, now: datetime, scale: float) -> Outcome:
        """Note one attempt's outcome and move the delivery along its ladder."""
        delivery.in_flight = False
        delivery.attempts.append(Attempt(now, outcome.status, outcome.error, outcome.seconds))
        ok = outcome.error is None and outcome.status is not None and 200 <= outcome.status < 300
        if ok:
            delivery.state = "delivered"
        elif len(delivery.attempts) >= len(delivery.ladder):
            delivery.state = "failed"
        else:
            wait = delivery.ladder[len(delivery.attempts)]
            delivery.due = now + timedelta(minutes=wait * scale)
        return outcome
