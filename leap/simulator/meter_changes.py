"""Changes to meters, as Leap makes them: each moves the meter's updated_at and queues the
webhook events Leap would send. A base class of Simulator (these methods use its state)."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import catalog
from .meter_state import STATUSES, MarketGroup, MeterState, iso, stable_uuid
from .portfolio import Portfolio, action_row


class MeterChanges:
    """The meter changes of a Simulator: status, actions, participation, groups, archive."""

    if TYPE_CHECKING:
        seed: int
        lock: threading.RLock
        portfolio: Portfolio
        _rng: random.Random

        @property
        def now(self) -> datetime: ...
        def _emit(self, event_type: str, state: MeterState, extra: dict[str, Any]) -> None: ...
        def _emit_actions(self, state: MeterState) -> None: ...
        def _emit_group(self, group: MarketGroup) -> None: ...

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
