"""The client's counters, which the sync-health page shows."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leap.errors import LeapError


def _now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


@dataclass
class ClientStats:
    """Counters the sync-health page shows: requests, retries, failures and the last error."""

    requests: int = 0
    retries: int = 0
    failures: int = 0
    last_status: int | None = None
    last_request_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_request(self, status: int | None) -> None:
        """Count one HTTP attempt (status None when no response arrived)."""
        with self._lock:
            self.requests += 1
            self.last_status = status
            self.last_request_at = _now()

    def record_retry(self) -> None:
        """Count one retry of a transient failure."""
        with self._lock:
            self.retries += 1

    def record_error(self, error: LeapError | str) -> None:
        """Remember the latest failure (transient or permanent) with its time."""
        with self._lock:
            self.failures += 1
            self.last_error = str(error)
            self.last_error_at = _now()

    def counters(self) -> dict[str, Any]:
        """What `merge` adds elsewhere: the counts and the latest status and error."""
        return self.as_dict()

    def merge(self, other: dict[str, Any]) -> None:
        """Add another client's `counters()` (one in another process) to these ones."""
        with self._lock:
            self.requests += other.get("requests", 0)
            self.retries += other.get("retries", 0)
            self.failures += other.get("failures", 0)
            if other.get("last_request_at") and (
                self.last_request_at is None or other["last_request_at"] >= self.last_request_at
            ):
                self.last_request_at = other["last_request_at"]
                self.last_status = other.get("last_status")
            if other.get("last_error_at") and (
                self.last_error_at is None or other["last_error_at"] >= self.last_error_at
            ):
                self.last_error_at = other["last_error_at"]
                self.last_error = other.get("last_error")

    def as_dict(self) -> dict[str, Any]:
        """A plain snapshot for templates and JSON."""
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "failures": self.failures,
                "last_status": self.last_status,
                "last_request_at": self.last_request_at,
                "last_error": self.last_error,
                "last_error_at": self.last_error_at,
            }
