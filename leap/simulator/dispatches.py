"""The simulator's dispatch events: created, updated and cancelled by the admin API and the
scenarios, each change notified to the registered dispatch webhook."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import catalog
from .delivery import Sender
from .meter_state import MeterState, iso
from .portfolio import Portfolio


@dataclass
class DispatchEvent:
    """One dispatch timeslot as Leap holds it; the id stays the same across updates."""

    event_id: str
    level: str  # "meter" or "group"
    target_id: str  # meter_id or market_group_id
    slot: dict[str, Any]  # timeslot fields, datetimes as datetime
    partner_reference: str | None = None
    meter_ids: list[str] = field(default_factory=list)
    partner_references: list[str] = field(default_factory=list)
    version: int = 1
    communication_test: bool = False

    def timeslot(self, *, for_search: bool) -> dict[str, Any]:
        """The timeslot JSON; search results omit a null energy_kw (the spec has no null)."""
        id_key = "meter_event_id" if self.level == "meter" else "market_group_event_id"
        slot = self.slot
        out: dict[str, Any] = {
            id_key: self.event_id,
            "start_time": iso(slot["start_time"]),
            "end_time": iso(slot["end_time"]),
        }
        if slot.get("energy_kw") is not None or not for_search:
            out["energy_kw"] = slot.get("energy_kw")
        if slot.get("nomination_kw") is not None:
            out["nomination_kw"] = slot["nomination_kw"]
        out.update(
            cancelled=slot["cancelled"],
            programs=list(slot["programs"]),
            priority=slot["priority"],
            is_voluntary=slot["is_voluntary"],
            performance_compensation_cap=slot["performance_compensation_cap"],
            dispatch_event_types=list(slot["dispatch_event_types"]),
        )
        if self.level == "meter" and for_search:
            out["communication_test"] = self.communication_test
        return out


class DispatchDesk:
    """The dispatch events of a Simulator (a base class of it: these methods use its state)."""

    if TYPE_CHECKING:
        dispatches: dict[str, DispatchEvent]
        dispatch_webhooks: dict[str, dict[str, Any]]
        deliver_to: Sender | None
        lock: threading.RLock
        portfolio: Portfolio

        @property
        def now(self) -> datetime: ...
        def meter(self, meter_id: str) -> MeterState: ...
        def _next_id(self, kind: str) -> str: ...
        def _queue(
            self,
            kind: str,
            url: str,
            headers: list[dict[str, str]],
            body: dict[str, Any],
            event_type: str,
        ) -> None: ...

    def create_dispatch(
        self,
        *,
        meter_ids: Iterable[str] | None = None,
        market_group_id: str | None = None,
        program: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        communication_test: bool = False,
        notify: bool = True,
        **fields: Any,
    ) -> list[str]:
        """Leap dispatches meters (one event per meter) or a group; returns the event ids."""
        if (meter_ids is None) == (market_group_id is None):
            raise ValueError("give meter_ids or market_group_id")
        with self.lock:
            now = self.now
            start = start or (now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2))
            end = end or start + timedelta(hours=2)
            if end <= start:
                raise ValueError("end must be after start")
            created: list[DispatchEvent] = []
            if market_group_id is not None:
                group = self.portfolio.groups.get(str(market_group_id))
                if group is None:
                    raise KeyError(f"unknown market group {market_group_id}")
                if not group.period.start <= start < group.period.end:
                    # Leap dispatches a market group only while it delivers: its members on
                    # another date are another group's (an ELRP group of May-October dispatched
                    # in December made every member look "not in group").
                    raise ValueError(
                        f"market group {group.name} delivers {group.period.name} "
                        f"({iso(group.period.start)} to {iso(group.period.end)}), "
                        f"not at {iso(start)}"
                    )
                members = self.portfolio.group_members(group)
                refs = [
                    ref
                    for ref in (self.meter(m).partner_reference for m in members)
                    if ref is not None
                ]
                slot = self._slot(program or group.program, start, end, len(members), fields)
                event = DispatchEvent(
                    self._next_id("group-event"),
                    "group",
                    group.market_group_id,
                    slot,
                    meter_ids=members,
                    partner_references=refs,
                    communication_test=communication_test,
                )
                created.append(event)
            else:
                for meter_id in meter_ids or ():
                    state = self.meter(str(meter_id))
                    chosen = program or (
                        state.programs[0]["program_identifier"] if state.programs else "CCA"
                    )
                    slot = self._slot(chosen, start, end, 1, fields, state)
                    created.append(
                        DispatchEvent(
                            self._next_id("meter-event"),
                            "meter",
                            state.meter_id,
                            slot,
                            partner_reference=state.partner_reference,
                            communication_test=communication_test,
                        )
                    )
            for event in created:
                self.dispatches[event.event_id] = event
            if notify:
                self._notify(created)
            return [e.event_id for e in created]

    def _slot(
        self,
        program: str,
        start: datetime,
        end: datetime,
        size: int,
        fields: dict[str, Any],
        state: MeterState | None = None,
    ) -> dict[str, Any]:
        priority, voluntary, cap, kinds, share = catalog.DISPATCH_TEMPLATES.get(
            program, (2, False, "up-to-nomination", ("standard",), 1.0)
        )
        nomination = 10.0
        if state is not None:
            devices = (state.details.get("site") or {}).get("site_devices", [])
            power = sum(d.get("power_capacity_kw", 0) for d in devices)
            nomination = round(max(power * 0.8, 2.0), 2)
        else:
            nomination = round(max(size, 1) * 8.5, 2)
        slot: dict[str, Any] = {
            "start_time": start,
            "end_time": end,
            "energy_kw": None if share is None else round(nomination * share, 2),
            "nomination_kw": nomination,
            "cancelled": False,
            "programs": [program],
            "priority": priority,
            "is_voluntary": voluntary,
            "performance_compensation_cap": cap,
            "dispatch_event_types": list(kinds),
        }
        for key, value in fields.items():
            if key not in slot:
                raise TypeError(f"unknown timeslot field {key!r}")
            slot[key] = value
        return slot

    def update_dispatch(self, event_id: str, **fields: Any) -> DispatchEvent:
        """Leap changes a dispatch: same event id, new values; sends it again."""
        with self.lock:
            event = self.dispatches[str(event_id)]
            for key, value in fields.items():
                if key == "communication_test":
                    event.communication_test = bool(value)
                elif key in event.slot:
                    event.slot[key] = value
                else:
                    raise TypeError(f"unknown timeslot field {key!r}")
            event.version += 1
            self._notify([event])
            return event

    def cancel_dispatch(self, event_id: str) -> DispatchEvent:
        """Leap withdraws a dispatch: same event id with cancelled=true."""
        return self.update_dispatch(event_id, cancelled=True)

    def _notify(self, events: list[DispatchEvent]) -> None:
        for level in ("meter", "group"):
            chosen = [e for e in events if e.level == level]
            hook = self.dispatch_webhooks.get(level)
            if not chosen or hook is None:
                continue
            body = self.notification(chosen)
            self._queue("dispatch", hook["url"], hook["headers"], body, f"{level}_dispatches")

    def notification(
        self, events: list[DispatchEvent], *, integration_test: bool = False
    ) -> dict[str, Any]:
        """The body Leap POSTs to a dispatch webhook for these events (one level)."""
        level = events[0].level
        body: dict[str, Any] = {
            "integration_test_notification": integration_test,
            "communication_test": any(e.communication_test for e in events),
        }
        if level == "meter":
            by_meter: dict[str, dict[str, Any]] = {}
            for event in events:
                entry = by_meter.setdefault(event.target_id, {"meter_id": event.target_id})
                if event.partner_reference is not None:
                    entry["partner_reference"] = event.partner_reference
                entry.setdefault("timeslots", []).append(event.timeslot(for_search=False))
            body["meter_dispatches"] = list(by_meter.values())
        else:
            body["group_dispatches"] = [
                {
                    "market_group_id": e.target_id,
                    "meter_ids": list(e.meter_ids),
                    "partner_references": list(e.partner_references),
                    "timeslots": [e.timeslot(for_search=False)],
                }
                for e in events
            ]
        return body
