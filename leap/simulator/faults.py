"""Faults the simulator injects on request, the way Leap (or the network) misbehaves."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

KINDS = ("429", "500", "slow", "drop", "torn", "extra_fields", "expired_token", "null_page_token")


@dataclass
class Fault:
    """One queued fault: applies to the next `times` matching API requests."""

    kind: str
    times: int = 1
    path: str | None = None  # only requests whose path starts with this
    method: str | None = None
    retry_after: float | None = 1.0  # 429: seconds in the Retry-After header (None: no header)
    delay: float = 2.0  # slow: seconds before answering
    fired: int = field(default=0)

    def matches(self, method: str, path: str, has_page_token: bool) -> bool:
        """Whether this fault applies to a request."""
        if self.path is not None and not path.startswith(self.path):
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        # An expired token needs a request that carries one.
        return self.kind != "expired_token" or has_page_token


class Faults:
    """The queue of faults; `sim.faults.add("429", times=2, retry_after=0)`."""

    def __init__(self) -> None:
        self._queue: list[Fault] = []
        self._lock = threading.Lock()
        self.fired: list[tuple[str, str, str]] = []  # (kind, method, path) in order

    def add(
        self,
        kind: str,
        *,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
        retry_after: float | None = 1.0,
        delay: float = 2.0,
    ) -> Fault:
        """Queue a fault for the next `times` matching requests."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = Fault(kind, times, path, method, retry_after, delay)
        with self._lock:
            self._queue.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults not yet used up."""
        with self._lock:
            return list(self._queue)

    def take(self, method: str, path: str, has_page_token: bool) -> Fault | None:
        """The first queued fault matching this request, used up by one."""
        with self._lock:
            for fault in self._queue:
                if fault.matches(method, path, has_page_token):
                    fault.fired += 1
                    if fault.fired >= fault.times:
                        self._queue.remove(fault)
                    self.fired.append((fault.kind, method, path))
                    return fault
        return None
