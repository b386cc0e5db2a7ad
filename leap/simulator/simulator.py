"""The Simulator: one generated portfolio, a clock, and everything Leap would send about it."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from . import catalog
from .delivery import Outbox, Sender
from .dispatches import DispatchDesk, DispatchEvent
from .faults import Faults
from .meter_state import STATUSES, MarketGroup, MeterState, iso, stable_uuid
from .outgoing import Outgoing
from .portfolio import Portfolio, action_row

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


class Simulator(DispatchDesk, Outgoing):
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
        from .revenue import RevenueBook

        self.revenue = RevenueBook(self, history=revenue_history)
        from .jobs import Jobs

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

    # --- changes (each moves updated_at and queues what Leap would send) -------------------------

    def _touch(self, state: MeterState) -> None:
        state.updated_at = max(self.now, state.updated_at + timedelta(milliseconds=1))

    def add_meter(
        self,
        *,
        region: str | None = None,
        partner_reference: str | None = None,
        status: str = "PENDING",
        like: str | None = None,
        emit: bool = True,
    ) -> MeterState:
        """A new meter appears (partner-created or customer-authorized); sends meter.created."""
        with self.lock:
            gen = self.portfolio.generator
            # Borrow a realistic record from a generated meter of the wanted region.
            template_index = None
            if like is not None:
                template_index = self.portfolio.index_of(like)
            else:
                for index in range(self._rng.randrange(gen.size), gen.size * 2):
                    core = gen.core(index % gen.size)
                    if region is None or core.region.code == region:
                        template_index = index % gen.size
                        break
            if template_index is None:
                raise ValueError(f"no meter to model a {region} meter on")
            now = self.now

            def build(index: int, meter_id: str) -> MeterState:
                state = gen.build(template_index)
                _ = state.details  # generate the template's details before the index changes
                state.index, state.meter_id = index, meter_id
                state.partner_reference = partner_reference or f"NEW-{self.seed}-{index:07d}"
                state.created_at = state.updated_at = now
                state.is_archived = False
                state.global_status = status
                for row in state.programs:
                    row["enrollment_status"] = status
                    row.pop("market_group_id", None)
                    row.pop("market_group_name", None)
                state.partner_actions = []
                state.leap_actions = []
                state.participation = [
                    {
                        "participation_preference": "PARTICIPATE",
                        "start_time": iso(now.replace(hour=0, minute=0, second=0)),
                        "end_time": catalog.FOREVER[0],
                    }
                ]
                state.created_by = "PARTNER"
                return state

            state = self.portfolio.add(build)
            if emit:
                self._emit("meter.created", state, {})
            return state

    def set_global_status(self, meter_id: str, status: str) -> MeterState:
        """Leap changes a meter's global status (program rows follow); sends the status event."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self.lock:
            state = self.portfolio.materialise(str(meter_id))
            state.global_status = status
            now = self.now
            for row in state.programs:
                if row["end"] > now:
                    row["enrollment_status"] = status
                    if status != "ACTIVE":
                        row.pop("market_group_id", None)
                        row.pop("market_group_name", None)
            self._touch(state)
            self._emit(
                "meter.enrollment.global-status.updated",
                state,
                {"global_enrollment_status": status},
            )
            return state

    def set_program_status(self, meter_id: str, program: str, status: str) -> MeterState:
        """Leap changes a meter's status in one program (its current and coming periods; a
        program the meter was not in is added, Leap having assessed the meter for it). The
        global status becomes the best of the programs' and its event is sent when
        it changes: Leap has no per-program event, the meter sync's polling sees the rest."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self.lock:
            state = self.portfolio.materialise(str(meter_id))
            now = self.now
            rows = [
                r for r in state.programs if r["program_identifier"] == program and r["end"] > now
            ]
            if not rows:
                region = catalog.REGION_BY_CODE[state.region]
                found = [p for p in region.programs if p.identifier == program]
                if not found:
                    raise ValueError(f"no program {program} in {state.region}")
                periods = self.portfolio.generator.periods(region, found[0])
                rows = [
                    {"program_identifier": program, "delivery_period": period.name,
                     "start": period.start, "end": period.end, "period": period}
                    for period in periods
                ]  # fmt: skip
                state.programs.extend(rows)
            for row in rows:
                row["enrollment_status"] = status
                if status != "ACTIVE":
                    row.pop("market_group_id", None)
                    row.pop("market_group_name", None)
            rank = ("ACTIVE", "ELIGIBLE", "PENDING", "INELIGIBLE", "NOT_PARTICIPATING")
            statuses = {r["enrollment_status"] for r in state.programs if r["end"] > now}
            best = min(statuses, key=lambda s: rank.index(s) if s in rank else len(rank))
            self._touch(state)
            if best != state.global_status:
                state.global_status = best
                self._emit(
                    "meter.enrollment.global-status.updated",
                    state,
                    {"global_enrollment_status": best},
                )
            return state

    def open_action(
        self,
        meter_id: str,
        code: str = "AUTH_0001",
        *,
        side: str = "partner",
        action_type: str | None = None,
        description: str | None = None,
        program: str | None = None,
    ) -> dict[str, Any]:
        """A required action opens for the partner or for Leap; partner ones are sent."""
        if side not in ("partner", "leap"):
            raise ValueError("side is 'partner' or 'leap'")
        known = {c: (t, d) for c, t, d in catalog.PARTNER_ACTIONS + catalog.LEAP_ACTIONS}
        default_type, default_text = known.get(
            code, ("MEETS_EXTRA_PROGRAM_REQUIREMENTS", f"Action {code} is required.")
        )
        with self.lock:
            state = self.portfolio.materialise(str(meter_id))
            rows = [
                r for r in state.programs if program is None or r["program_identifier"] == program
            ]
            if not rows:
                raise ValueError(f"meter has no enrollment in {program}")
            # A newly opened action is due at the next rolling deadline, one to four weeks out.
            days = 7 + int(stable_uuid("deadline", state.meter_id, code)[:8], 16) % 22
            action = action_row(
                rows[-1], code, action_type or default_type, description or default_text,
                deadline=(self.now + timedelta(days=days)).replace(minute=0, second=0, microsecond=0),
            )  # fmt: skip
            target = state.partner_actions if side == "partner" else state.leap_actions
            target.append(action)
            self._touch(state)
            if side == "partner":
                self._emit_actions(state)
            return action

    def resolve_action(self, meter_id: str, code: str) -> list[dict[str, Any]]:
        """Every open action with this code is resolved; sends the partner-actions event."""
        with self.lock:
            state = self.portfolio.materialise(str(meter_id))
            gone = [
                a for a in state.partner_actions + state.leap_actions if a["action_code"] == code
            ]
            if not gone:
                raise KeyError(f"no open action {code} on {meter_id}")
            partner_changed = any(a["action_code"] == code for a in state.partner_actions)
            state.partner_actions = [a for a in state.partner_actions if a["action_code"] != code]
            state.leap_actions = [a for a in state.leap_actions if a["action_code"] != code]
            self._touch(state)
            if partner_changed:
                self._emit_actions(state)
            return gone

    def set_participation(
        self,
        meter_id: str,
        preference: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        reason: str | None = None,
    ) -> MeterState:
        """The partner idles, disenrolls or re-enrolls a meter; sends the participation event."""
        if preference not in ("PARTICIPATE", "IDLE", "DISENROLL"):
            raise ValueError(f"unknown participation preference {preference!r}")
        with self.lock:
            state = self.portfolio.materialise(str(meter_id))
            start = start or self.now
            window: dict[str, Any] = {
                "participation_preference": preference,
                "start_time": iso(start),
                "end_time": iso(end) if end else catalog.FOREVER[0],
            }
            if reason:
                window["reason"] = reason
            state.participation.append(window)
            self._touch(state)
            extra = {"participation_preference": preference, "start_time": window["start_time"]}
            extra["end_time"] = window["end_time"]
            self._emit("meter.enrollment.participation-status.updated", state, extra)
            return state

    def reassign_group(self, meter_id: str, market_group_id: str) -> MeterState:
        """Leap moves a meter into another market group of the same program and period."""
        with self.lock:
            group = self.portfolio.groups.get(str(market_group_id))
            if group is None:
                raise KeyError(f"unknown market group {market_group_id}")
            state = self.portfolio.materialise(str(meter_id))
            if group.region != state.region:
                raise ValueError(
                    f"{group.name} is a {group.region} group; the meter is in {state.region}"
                )
            rows = [
                r
                for r in state.programs
                if r["program_identifier"] == group.program
                and r["delivery_period"] == group.period.name
            ]
            if not rows:
                raise ValueError(f"meter is not enrolled in {group.program} {group.period.name}")
            old: set[str] = {
                r["market_group_id"]
                for r in rows
                if r.get("market_group_id") not in (None, group.market_group_id)
            }
            for row in rows:
                row["market_group_id"] = group.market_group_id
                row["market_group_name"] = group.name
            self._touch(state)
            for gid in [group.market_group_id, *sorted(old)]:
                self._emit_group(self.portfolio.groups[gid])
            return state

    def archive(self, meter_id: str, archived: bool = True) -> MeterState:
        """The meter is archived (or restored); Leap sends no event for this."""
        with self.lock:
            state = self.portfolio.materialise(str(meter_id))
            state.is_archived = archived
            self._touch(state)
            return state

    def remove_meter(self, meter_id: str) -> None:
        """Leap no longer returns this meter (404; absent from searches)."""
        with self.lock:
            self.portfolio.remove(str(meter_id))

    def _random_change(self) -> dict[str, Any] | None:
        """One realistic change to a random meter."""
        rng = self._rng
        portfolio = self.portfolio
        index = rng.randrange(portfolio.next_index)
        if index in portfolio.removed:
            return None
        state = portfolio.get(index)
        meter_id = state.meter_id
        roll = rng.random()
        if state.is_archived:
            return None
        if roll < 0.35:
            status = rng.choice([s for s in STATUSES if s != state.global_status])
            self.set_global_status(meter_id, status)
            return {"change": "status", "meter_id": meter_id, "status": status}
        if roll < 0.75:
            if state.partner_actions:
                code = state.partner_actions[0]["action_code"]
                self.resolve_action(meter_id, code)
                return {"change": "action_resolved", "meter_id": meter_id, "code": code}
            code = rng.choice(catalog.PARTNER_ACTIONS)[0]
            self.open_action(meter_id, code)
            return {"change": "action_opened", "meter_id": meter_id, "code": code}
        if roll < 0.85:
            self.set_participation(meter_id, "IDLE", start=self.now, end=self.now + timedelta(days=2), reason="Idle Time")  # fmt: skip
            return {"change": "participation", "meter_id": meter_id}
        grouped = [r for r in state.programs if r.get("market_group_id")]
        if grouped:
            row = grouped[0]
            options = [
                g
                for g in portfolio.groups.values()
                if g.program == row["program_identifier"]
                and g.period.name == row["delivery_period"]
                and g.region == state.region
                and g.market_group_id != row["market_group_id"]
            ]
            if options:
                group = rng.choice(options)
                self.reassign_group(meter_id, group.market_group_id)
                return {"change": "group", "meter_id": meter_id, "market_group_id": group.market_group_id}  # fmt: skip
        self.archive(meter_id)
        return {"change": "archived", "meter_id": meter_id}

    def run_scenario(self, name: str) -> dict[str, Any]:
        """Run one scripted dispatch scenario (leap.simulator.scenarios.SCENARIOS)."""
        from .scenarios import run

        with self.lock:
            return run(self, name)

    # --- HTTP ------------------------------------------------------------------------------------

    @property
    def api(self) -> Any:
        """The HTTP layer (routing, auth, faults) over this simulator."""
        if self._api is None:
            from .api import Api

            self._api = Api(self)
        return self._api

    def transport(self) -> Any:
        """An httpx transport that serves the API in-process."""
        from .transport import SimulatorTransport

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
