"""The Leap-shaped dispatch notifications bench/webhook_load.py (and bench/dispatch_cpu.py) send,
decided up front from a seed: new events, exact redeliveries, updates, cancellations, reverts."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Plan:
    """The notifications to send, decided up front from the seed."""

    def __init__(self, n: int, meters: list[str], seed: int, gap: int) -> None:
        self.rng = random.Random(seed)
        self.meters = meters
        self.bodies: list[bytes] = []
        self.kinds: list[str] = []
        self.events: dict[str, dict] = {}  # event id -> {"meter", "first": index}
        self.event_list: list[str] = []
        self.last_sent: dict[str, tuple[int, dict]] = {}  # event id -> (index, slot)
        self.previous: dict[str, dict] = {}  # event id -> the slot it had before its last change
        self.body_events: list[list[str]] = []  # the events each body carries
        self.origin: list[int] = []  # the index of the body each one is (a copy of)
        base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)
        self.base = base
        for i in range(n):
            roll = self.rng.random()
            # Redeliveries, updates and cancels refer to notifications at least `gap` earlier, so
            # that (with `gap` >= the client's concurrency) the earlier one was acknowledged first.
            earlier = i - gap
            if roll < 0.20 and earlier > 0:
                # An exact redelivery of the current state: a body none of whose events changed
                # since (a body that repeats an older version is a revert, applied by design).
                for _ in range(20):
                    j = self.origin[self.rng.randrange(earlier)]  # the body it copies, if a copy
                    if all(self.last_sent[e][0] == j for e in self.body_events[j]):
                        self.bodies.append(self.bodies[j])
                        self.body_events.append(self.body_events[j])
                        self.origin.append(j)
                        self.kinds.append("redelivery")
                        break
                else:
                    j = None
                if j is not None:
                    continue
            if roll < 0.38 and earlier > 0:
                kind = "update" if roll < 0.30 else ("cancel" if roll < 0.35 else "revert")
                body = self._change(i, earlier, kind=kind)
                if body is not None:
                    self.bodies.append(body)
                    self.kinds.append(kind)
                    continue
            self.bodies.append(self._new(i))
            self.kinds.append("new")

    def _slot(self, event_id: str) -> dict:
        start = self.base + timedelta(minutes=15 * self.rng.randrange(0, 4 * 40))
        return {
            "meter_event_id": event_id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(minutes=15 * self.rng.randint(2, 8))),
            "cancelled": False,
            "energy_kw": round(self.rng.uniform(1, 50), 2) if self.rng.random() > 0.1 else None,
            "nomination_kw": 50.0,
            "performance_compensation_cap": "up-to-site-load",
            "priority": self.rng.randint(1, 5),
            "is_voluntary": self.rng.random() < 0.3,
            "dispatch_event_types": ["day-ahead"],
            "programs": ["CCA"],
        }

    def _body(self, by_meter: dict[str, list[dict]]) -> bytes:
        return json.dumps(
            {
                "integration_test_notification": False,
                "communication_test": False,
                "meter_dispatches": [
                    {"meter_id": m, "partner_reference": f"ref-{m[:8]}", "timeslots": slots}
                    for m, slots in by_meter.items()
                ],
            }
        ).encode()

    def _new(self, i: int) -> bytes:
        by_meter: dict[str, list[dict]] = {}
        events: list[str] = []
        self.body_events.append(events)
        self.origin.append(i)
        for meter in self.rng.sample(self.meters, self.rng.randint(1, 5)):
            slots = []
            for _ in range(self.rng.randint(1, 3)):
                event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                slot = self._slot(event_id)
                self.events[event_id] = {"meter": meter, "first": i}
                self.event_list.append(event_id)
                self.last_sent[event_id] = (i, slot)
                events.append(event_id)
                slots.append(slot)
            by_meter[meter] = slots
        return self._body(by_meter)

    def _change(self, i: int, earlier: int, *, kind: str) -> bytes | None:
        chosen: list[str] = []
        for _ in range(20 * 3):  # random picks among the events sent early enough
            if len(chosen) >= self.rng.randint(1, 3) or not self.event_list:
                break
            e = self.event_list[self.rng.randrange(len(self.event_list))]
            if (
                e not in chosen
                and self.last_sent[e][0] < earlier
                and not self.last_sent[e][1]["cancelled"]
                and (kind != "revert" or e in self.previous)
            ):
                chosen.append(e)
        if not chosen:
            return None
        by_meter: dict[str, list[dict]] = {}
        self.body_events.append(chosen)
        self.origin.append(i)
        for event_id in chosen:
            current = self.last_sent[event_id][1]
            slot = dict(current)
            if kind == "revert":  # back to the version before the last change: A -> B -> A
                slot = dict(self.previous[event_id])
            elif kind == "cancel":
                slot["cancelled"] = True
            elif self.rng.random() < 0.5:
                slot["energy_kw"] = round(self.rng.uniform(1, 50), 2)
            else:
                start = datetime.fromisoformat(slot["start_time"]) + timedelta(minutes=15)
                slot["start_time"] = iso(start)
                slot["end_time"] = iso(start + timedelta(minutes=60))
            self.previous[event_id] = current
            self.last_sent[event_id] = (i, slot)
            by_meter.setdefault(self.events[event_id]["meter"], []).append(slot)
        return self._body(by_meter)
