"""The Simulator: one generated portfolio, a clock, and everything Leap would send about it."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .api import Api
from .delivery import Outbox, Sender
from .dispatches import DispatchDesk, DispatchEvent
from .faults import Faults
from .jobs import Jobs
from .meter_changes import MeterChanges
from .meter_state import MarketGroup, MeterState, iso
from .outgoing import Outgoing
from .portfolio import Portfolio
from .revenue import RevenueBook
from .scenarios import run
from .transport import SimulatorTransport

DEFAULT_API_KEY = "simulator-key-0000000000000000"
DEFAULT_ADMIN_TOKEN = "simulator-admin-0000000000000000"  # noqa: S105 - a local test double


class RequestLog(list[tuple[str, str, int]]):
    """Every API request served: (method, path, status); `count("POST /v2/meters/search")`."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: list[str] = []  # "GET /v2/meters/{meter_id}" for each entry

    def record(self, method: str, path: str, status: int, route: str | None) -> None:
        """Note one request."""
        self.append((method, path, status))
        self.routes.append(f"{method} {route}" if route else f"{method} {path}")

    def count(self, key: str) -> int:  # type: ignore[override]  # by route, not by item
        """Requests matching "METHOD /path" exactly or "METHOD /route/{template}"."""
        exact = sum(1 for method, path, _ in self if f"{method} {path}" == key)
        return exact or sum(1 for route in self.routes if route == key)


class Simulator(DispatchDesk, MeterChanges, Outgoing):
    """A local Leap: the partner API over one generated portfolio, with time, webhooks and faults."""

    def __init__(
        self,
        seed: int = 42,
        meters: int = 200,
        now: datetime | None = None,
        *,
        api_key: str = DEFAULT_API_KEY,
        admin_token: str = DEFAULT_ADMIN_TOKEN,
        realtime: bool = False,
        retry_scale: float = 1.0,
        changes_per_hour: float = 2.0,
        device_names: str = "lf",
        page_token_ttl: timedelta = timedelta(hours=1),
        revenue_history: str = "created",
        job_seconds: float = 5.0,
    ) -> None:
        now = now or datetime.now(UTC).replace(microsecond=0)
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.seed = seed
        self.api_key = api_key
        self.admin_token = admin_token
        self.realtime = realtime
        self.retry_scale = retry_scale
        self.changes_per_hour = changes_per_hour
        self.device_names = device_names
        self.page_token_ttl = page_token_ttl
        self.epoch = now.astimezone(UTC)
        self._now = self.epoch
        self._t0 = time.monotonic()
        self.portfolio = Portfolio(seed, meters, self.epoch)
        self.faults = Faults()
        self.requests = RequestLog()
        self.outbox = Outbox()
        self.lock = threading.RLock()
        self.webhooks: dict[str, dict[str, Any]] = {}  # webhook platform subscriptions
        self.dispatch_webhooks: dict[str, dict[str, Any]] = {}  # "meter"/"group" -> {url, headers}
        self.dispatches: dict[str, DispatchEvent] = {}
        self.dispatch_pages: dict[str, tuple[str, int]] = {}  # page token -> (query key, offset)
        self.deliver_to: Sender | None = None
        self.duplicate_deliveries = False
        self.out_of_order = False
        self._counter = 0
        self._rng = random.Random(f"changes:{seed}")
        self._api: Any = None
        self.revenue = RevenueBook(self, history=revenue_history)
        # Create-meters jobs: processed `job_seconds` after they are accepted (leap/simulator/jobs.py).
        self.jobs = Jobs(self, job_seconds)

    # --- clock -----------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The simulator's clock (wall-clock driven when realtime, else moved by advance())."""
        if self.realtime:
            return self._now + timedelta(seconds=time.monotonic() - self._t0)
        return self._now

    def advance(
        self, minutes: float = 0, *, hours: float = 0, changes: int | None = None
    ) -> list[dict[str, Any]]:
        """Move the clock; random realistic changes happen on the way; due webhooks are sent.

        `changes` fixes how many random changes happen (default: `changes_per_hour` pro rata).
        Returns the changes made.
        """
        delta = timedelta(minutes=minutes, hours=hours)
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self.lock:
            start, target = self.now, self.now + delta
            if changes is None:
                expected = self.changes_per_hour * delta.total_seconds() / 3600
                changes = int(expected) + (1 if self._rng.random() < expected % 1 else 0)
            moments = sorted(
                start + timedelta(seconds=self._rng.random() * delta.total_seconds())
                for _ in range(changes)
            )
        made: list[dict[str, Any]] = []
        # Step from one due moment to the next, so each retry happens at its own time; the lock
        # is released around deliveries (see deliver_due).
        while True:
            with self.lock:
                due = self.outbox.next_due()
                nxt = moments[0] if moments else None
                candidates = [t for t in (due, nxt) if t is not None and t <= target]
                if not candidates:
                    self._set_now(max(target, self.now))
                    break
                moment = min(candidates)
                self._set_now(max(moment, self.now))
                if nxt is not None and moment == nxt:
                    moments.pop(0)
                    change = self._random_change()
                    if change:
                        made.append(change)
            self.deliver_due()
        with self.lock:
            self.jobs.process_due()
        self.deliver_due()
        return made

    def _set_now(self, when: datetime) -> None:
        if self.realtime:
            self._now = when - timedelta(seconds=time.monotonic() - self._t0)
        else:
            self._now = when

    # --- reading ---------------------------------------------------------------------------------

    def meter_ids(self, limit: int | None = None) -> list[str]:
        """Meter ids in portfolio order (the first `limit`)."""
        found, _ = self.portfolio.scan(0, None, lambda s: True, limit or len(self.portfolio))
        return [m.meter_id for m in found]

    def meter(self, meter_id: str) -> MeterState:
        """The meter's current state (KeyError if Leap has no such meter)."""
        state = self.portfolio.get_by_id(str(meter_id))
        if state is None:
            raise KeyError(meter_id)
        return state

    def find_meters(
        self, predicate: Callable[[MeterState], bool], limit: int = 10
    ) -> list[MeterState]:
        """The first meters satisfying a predicate (for tests and the demo)."""
        found, _ = self.portfolio.scan(0, None, predicate, limit)
        return found

    @property
    def market_groups(self) -> dict[str, MarketGroup]:
        """Market groups by id."""
        return self.portfolio.groups

    def run_scenario(self, name: str) -> dict[str, Any]:
        """Run one scripted dispatch scenario (leap.simulator.scenarios.SCENARIOS)."""
        with self.lock:
            return run(self, name)

    # --- HTTP ------------------------------------------------------------------------------------

    @property
    def api(self) -> Any:
        """The HTTP layer (routing, auth, faults) over this simulator."""
        if self._api is None:
            self._api = Api(self)
        return self._api

    def transport(self) -> Any:
        """An httpx transport that serves the API in-process."""
        return SimulatorTransport(self.api)

    @property
    def wsgi_app(self) -> Any:
        """The API as a WSGI application."""
        return self.api.wsgi

    def summary(self) -> dict[str, Any]:
        """Counts for the admin endpoint and the management command."""
        states = Counter(d.state for d in self.outbox.items)
        return {
            "now": iso(self.now, millis=True),
            "seed": self.seed,
            "meters": len(self.portfolio),
            "changed_meters": len(self.portfolio.overlay),
            "market_groups": len(self.portfolio.groups),
            "dispatch_events": len(self.dispatches),
            "webhooks": len(self.webhooks),
            "dispatch_webhooks": sorted(self.dispatch_webhooks),
            "deliveries": dict(states),
            "requests": len(self.requests),
        }
