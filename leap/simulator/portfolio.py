"""The simulated Leap portfolio: meters generated lazily from (seed, index), plus an overlay.

Meter i is a pure function of (seed, i, size, epoch), so 200,000 meters cost no memory until they
are read. A mutated or added meter is materialised once into `Portfolio.overlay` and changed
there. The cheap `Core` of a meter (region, status, flags, times) is computed without the full
record, so searches can skip non-matching meters without building them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from . import catalog
from .base_times import BaseTimes, TimeWindow, merged
from .meter_state import (
    COMMERCIAL_LOADS,
    GROUP_SIZE,
    REGION_TOTAL,
    RESIDENTIAL_LOADS,
    Core,
    MarketGroup,
    MeterState,
    Period,
    digest,
    iso,
    periods_around,
    stable_uuid,
)


class Generator:
    """Builds meters from (seed, index): the same inputs always give the same meter."""

    def __init__(self, seed: int, size: int, epoch: datetime) -> None:
        self.seed = seed
        self.size = size
        self.epoch = epoch
        self._periods: dict[tuple[str, str], list[Period]] = {}
        self.groups: dict[str, MarketGroup] = {}
        self._group_keys: dict[tuple[str, str, str, int], MarketGroup] = {}
        self._buckets: dict[tuple[str, str], int] = {}
        for region in catalog.REGIONS:
            share = size * region.weight / REGION_TOTAL
            for program in region.programs:
                # Programs limited to some utilities get fewer meters, hence fewer groups.
                users = share * (
                    len(program.utilities) / len(region.utilities) if program.utilities else 1
                )
                buckets = max(1, math.ceil(users * 0.6 / GROUP_SIZE))
                self._buckets[(region.code, program.identifier)] = buckets
                for period in self.periods(region, program):
                    for bucket in range(buckets):
                        self._make_group(region, program, period, bucket)

    def periods(self, region: catalog.Region, program: catalog.Program) -> list[Period]:
        """The current and next delivery periods of a program in a region (cached)."""
        key = (region.code, program.identifier)
        if key not in self._periods:
            self._periods[key] = periods_around(program, region, self.epoch)
        return self._periods[key]

    def _make_group(
        self, region: catalog.Region, program: catalog.Program, period: Period, bucket: int
    ) -> MarketGroup:
        key = (region.code, program.identifier, period.name, bucket)
        group = self._group_keys.get(key)
        if group is None:
            number = int.from_bytes(digest("gname", self.seed, *key)[:2], "big") % 90 + 10
            group = MarketGroup(
                market_group_id=stable_uuid("group", self.seed, *key),
                name=f"{program.group_prefix}_{bucket + 1}_{region.code[:2]}DRP{number}",
                region=region.code,
                program=program.identifier,
                period=period,
                bucket=bucket,
            )
            self._group_keys[key] = group
            self.groups[group.market_group_id] = group
        return group

    def group_for(self, core: Core, program: catalog.Program, period: Period) -> MarketGroup:
        """The market group a base meter belongs to for one program and period."""
        buckets = self._buckets[(core.region.code, program.identifier)]
        bucket = (core.bucket_bits + len(program.identifier)) % buckets
        return self._make_group(core.region, program, period, bucket)

    def core(self, index: int) -> Core:
        """The cheap, filterable facts of base meter `index`."""
        return Core(self.seed, index, self.size, self.epoch)

    def meter_id(self, index: int) -> str:
        """Leap's UUID for meter `index`."""
        return stable_uuid("meter", self.seed, index)

    def build(self, index: int, core: Core | None = None) -> MeterState:
        """Meter `index`: identifiers and enrollment now, details (customer, site...) on first use."""
        core = core or self.core(index)
        rng = random.Random(self.seed * 1_000_003 + index)
        draw = rng.random
        region = core.region
        commercial = draw() < 0.35
        classification = "COMMERCIAL" if commercial else "RESIDENTIAL"
        if commercial:
            load_types = rng.sample(COMMERCIAL_LOADS, 1 + int(draw() * 3))
        else:
            load_types = rng.sample(RESIDENTIAL_LOADS, 1 + int(draw() * 2))
        roll = draw()
        meter_type = "UTILITY_METER" if roll < 0.7 else "SUBMETER" if roll < 0.8 else "DEVICE"
        reference = (
            f"{region.code[:2]}-{core.utility.code}-{index:07d}" if core.has_reference else None
        )
        status = "NOT_PARTICIPATING" if core.archived else core.status
        programs = self._program_rows(core, status, rng)
        partner_actions, leap_actions = self._actions(core, programs, rng)
        participation = self._participation(core, status, rng)
        tags = rng.sample(catalog.TAGS, (0, 0, 1, 2)[int(draw() * 4)])
        roll = draw()
        created_by = "PARTNER" if roll < 0.6 else "UTILITY" if roll < 0.9 else "LEAP"
        return MeterState(
            index=index,
            meter_id=self.meter_id(index),
            partner_reference=reference,
            region=region.code,
            customer_classification=classification,
            load_types=load_types,
            meter_type=meter_type,
            connection_references=[f"conn-{self.seed}-{index:07d}"] if draw() < 0.5 else [],
            customer_group=catalog.CUSTOMER_GROUPS[int(draw() * len(catalog.CUSTOMER_GROUPS))],
            tags=tags,
            is_archived=core.archived,
            created_by=created_by,
            created_at=core.created_at,
            updated_at=core.updated_at,
            detail_source=(self, core),
            global_status=status,
            participation=participation,
            programs=programs,
            partner_actions=partner_actions,
            leap_actions=leap_actions,
        )

    def _program_rows(self, core: Core, status: str, rng: random.Random) -> list[dict[str, Any]]:
        rows = []
        for position, program in enumerate(core.programs):
            for period_no, period in enumerate(self.periods(core.region, program)):
                if status == "ACTIVE":
                    # The main program is live; a secondary one may conflict.
                    row_status = "ACTIVE" if position == 0 or rng.random() < 0.6 else "INELIGIBLE"
                    if period_no == 1 and row_status == "ACTIVE" and rng.random() < 0.3:
                        row_status = "ELIGIBLE"
                else:
                    row_status = status
                row: dict[str, Any] = {
                    "program_identifier": program.identifier,
                    "delivery_period": period.name,
                    "start": period.start,
                    "end": period.end,
                    "period": period,
                    "enrollment_status": row_status,
                }
                if row_status == "ACTIVE":
                    group = self.group_for(core, program, period)
                    row["market_group_id"] = group.market_group_id
                    row["market_group_name"] = group.name
                rows.append(row)
        return rows

    def _actions(
        self, core: Core, programs: list[dict[str, Any]], rng: random.Random
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        partner: list[dict[str, Any]] = []
        leap: list[dict[str, Any]] = []
        pending_rows = [r for r in programs if r["enrollment_status"] != "ACTIVE"] or programs
        for k in range(core.partner_actions):
            code, action_type, text = catalog.PARTNER_ACTIONS[
                (core.bucket_bits + 7 * k) % len(catalog.PARTNER_ACTIONS)
            ]
            partner.append(
                action_row(
                    rng.choice(pending_rows), code, action_type, text,
                    deadline=self.action_deadline(core.index, k),
                )
            )  # fmt: skip
        if core.leap_action:
            code, action_type, text = rng.choice(catalog.LEAP_ACTIONS)
            leap.append(
                action_row(
                    rng.choice(pending_rows), code, action_type, text,
                    deadline=self.action_deadline(core.index, 9),
                )
            )  # fmt: skip
        return partner, leap

    def action_deadline(self, index: int, k: int) -> datetime:
        """When action `k` of meter `index` is due: spread from a week ago to six weeks ahead.

        Leap's enrollment deadlines roll (a new activation every few weeks), so a real queue holds
        a few overdue actions and many due over the coming weeks, not one date per program. From
        a hash of (seed, index, k), not from the meter's random stream, so the rest of the meter
        stays what it was.
        """
        h = int.from_bytes(digest("deadline", self.seed, index, k)[:4], "big")
        day = (self.epoch + timedelta(days=h % 49 - 7)).replace(minute=0, second=0, microsecond=0)
        return day.replace(hour=7)  # 07:00 UTC: midnight on the US west coast

    def _participation(self, core: Core, status: str, rng: random.Random) -> list[dict[str, Any]]:
        start = core.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
        forever = rng.choice(catalog.FOREVER)
        if status == "NOT_PARTICIPATING":
            stop = self.epoch - timedelta(days=rng.randint(3, 60))
            stop = max(stop, start + timedelta(days=1))
            kind = rng.choice(["IDLE", "DISENROLL"])
            return [
                {
                    "participation_preference": "PARTICIPATE",
                    "start_time": iso(start),
                    "end_time": iso(stop),
                },  # fmt: skip
                {
                    "participation_preference": kind,
                    "start_time": iso(stop),
                    "end_time": forever,
                    "reason": "Customer moved" if kind == "DISENROLL" else "Idle Time",
                },
            ]
        rows = [{"participation_preference": "PARTICIPATE", "start_time": iso(start), "end_time": forever}]  # fmt: skip
        if rng.random() < 0.05:
            # Leap's own examples overlap windows like this (PARTICIPATE to 03-31, IDLE from 03-02).
            idle_start = (self.epoch + timedelta(days=rng.randint(2, 20))).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            rows.append(
                {
                    "participation_preference": "IDLE",
                    "start_time": iso(idle_start),
                    "end_time": iso(idle_start + timedelta(days=7)),
                    "reason": "Idle Time",
                }
            )
        return rows


def action_row(
    row: dict[str, Any],
    code: str,
    action_type: str,
    text: str,
    *,
    deadline: datetime | None = None,
) -> dict[str, Any]:
    """A RequiredAction for one program row, due at `deadline` (default: the row's last one)."""
    return {
        "program_identifier": row["program_identifier"],
        "delivery_period": row["delivery_period"],
        "enrollment_deadline_date_time": (
            iso(deadline) if deadline is not None else row["period"].rendered["last_deadline"]
        ),
        "action_type": action_type,
        "action_description": text,
        "action_code": code,
    }


class Portfolio:
    """All meters: the generated base plus an overlay of changed and added ones."""

    def __init__(self, seed: int, size: int, epoch: datetime) -> None:
        if not 1 <= size <= 200_000:
            raise ValueError("the simulator serves 1 to 200,000 meters")
        self.generator = Generator(seed, size, epoch)
        self.seed = seed
        self.base_size = size
        self.overlay: dict[int, MeterState] = {}
        self.removed: set[int] = set()
        self.next_index = size
        self._ids: dict[str, int] | None = None
        self._cache: dict[int, MeterState] = {}
        # Per kind of rendering: each generated meter's JSON by index, made once (scan_rendered);
        # 375 MB of JSON at 100,000 meters with both kinds, 460 MB resident.
        self._rendered: dict[str, list[bytes | None]] = {}
        self._base_times: BaseTimes | None = None

    def __len__(self) -> int:
        return self.next_index - len(self.removed)

    @property
    def groups(self) -> dict[str, MarketGroup]:
        """Every market group of the current and next delivery periods, by id."""
        return self.generator.groups

    def index_of(self, meter_id: str) -> int | None:
        """The index of a meter id, or None if Leap has no such meter."""
        if self._ids is None:
            gen = self.generator
            self._ids = {gen.meter_id(i): i for i in range(self.base_size)}
        index = self._ids.get(meter_id)
        if index is None or index in self.removed:
            return None
        return index

    def get(self, index: int) -> MeterState:
        """Meter `index` as it is now (overlay first, else generated; a small cache in front)."""
        state = self.overlay.get(index)
        if state is not None:
            return state
        state = self._cache.get(index)
        if state is None:
            state = self.generator.build(index)
            if len(self._cache) >= 4096:
                self._cache.clear()
            self._cache[index] = state
        return state

    def get_by_id(self, meter_id: str) -> MeterState | None:
        """A meter by its UUID string."""
        index = self.index_of(meter_id)
        return None if index is None else self.get(index)

    def materialise(self, meter_id: str) -> MeterState:
        """The meter, moved into the overlay so it can be changed (KeyError if unknown)."""
        index = self.index_of(meter_id)
        if index is None:
            raise KeyError(meter_id)
        if index not in self.overlay:
            self.overlay[index] = self.generator.build(index)
            self._cache.pop(index, None)
            for rendered in self._rendered.values():
                rendered[index] = None  # served from the overlay from now on
        return self.overlay[index]

    def add(self, state_factory: Callable[[int, str], MeterState]) -> MeterState:
        """Append a new meter built by `state_factory(index, meter_id)`."""
        index = self.next_index
        self.next_index += 1
        meter_id = stable_uuid("added", self.seed, index)
        state = state_factory(index, meter_id)
        self.overlay[index] = state
        self.index_of(meter_id)  # builds the id map if no lookup has yet
        assert self._ids is not None
        self._ids[meter_id] = index
        return state

    def remove(self, meter_id: str) -> None:
        """Leap no longer has this meter (404 afterwards, gone from searches)."""
        index = self.index_of(meter_id)
        if index is None:
            raise KeyError(meter_id)
        self.removed.add(index)
        self.overlay.pop(index, None)

    def base_times(self) -> BaseTimes:
        """Every generated meter's created_at and updated_at, sorted (computed once, on first use).

        A generated meter's times never change: a changed meter lives in the overlay.
        """
        if self._base_times is None:
            gen = self.generator

            def times_of(index: int) -> tuple[datetime, datetime]:
                core = gen.core(index)
                return core.created_at, core.updated_at

            self._base_times = BaseTimes(self.base_size, times_of)
        return self._base_times

    def _indices(self, start: int, window: TimeWindow | None) -> Iterator[int]:
        """Indices from `start` a scan must look at, ascending: every one, or with a time window,
        the overlay's and the generated meters' whose generated times pass it."""
        if not window:
            return iter(range(start, self.next_index))
        candidates = self.base_times().candidates(window)
        return merged(candidates, sorted(self.overlay), start)

    def scan(
        self,
        start: int,
        prefilter: Any,
        accept: Any,
        limit: int,
        window: TimeWindow | None = None,
    ) -> tuple[list[MeterState], int]:
        """Up to `limit` meters from index `start` on that pass both filters; returns the next index.

        `window` repeats the time filters that `prefilter` checks on a generated meter's Core, so
        that only the meters that can pass them are looked at; the answer is the same without it.
        """
        found: list[MeterState] = []
        end = self.next_index
        if limit <= 0 or start >= end:
            return found, start
        gen = self.generator
        for index in self._indices(start, window):
            if index in self.removed:
                continue
            state = self.overlay.get(index)
            if state is None:
                if index >= self.base_size:  # pragma: no cover - added meters live in the overlay
                    continue
                core = gen.core(index)
                if prefilter is not None and not prefilter(core):
                    continue
                state = self._cache.get(index) or gen.build(index, core)
            if accept(state):
                found.append(state)
                if len(found) >= limit:
                    return found, index + 1
        return found, end

    def scan_rendered(
        self, start: int, limit: int, kind: str, render: Callable[[MeterState], bytes]
    ) -> tuple[list[bytes], int]:
        """`scan` without filters, each meter as its JSON: what a full search pages through.

        A generated meter never changes until it moves into the overlay, so its JSON is made once
        per `kind` of rendering and kept (the portfolio bounds it: at most 200,000): a full sync
        reads every meter twice (details, then enrollments), and the benchmarks read the whole
        portfolio several times. Without this the stand-in spent more CPU generating and encoding
        meters than the sync spent reading them (docs/benchmarks.md, runs 38-46); Leap's own
        servers do not take our cores. Rendered afresh on every page: meters in the overlay
        (changed by a scenario), and those `get` has handed out, which a caller may have changed
        in place (tests do, through `Simulator.meter`); a meter generated here is handed to no one.
        """
        found: list[bytes] = []
        end = self.next_index
        if limit <= 0 or start >= end:
            return found, start
        kept = self._rendered.get(kind)
        if kept is None:
            kept = self._rendered[kind] = [None] * self.base_size
        for index in range(start, end):
            if index in self.removed:
                continue
            state = self.overlay.get(index) or self._cache.get(index)
            if state is not None:
                found.append(render(state))
            elif index < self.base_size:
                body = kept[index]
                if body is None:
                    # Kept as a copy of exactly its length: orjson's bytes keep its whole write
                    # buffer, ~8 KB for 2 KB of JSON (1.6 GB kept at 100,000 meters).
                    body = kept[index] = bytes(memoryview(render(self.generator.build(index))))
                found.append(body)
            else:  # pragma: no cover - added meters live in the overlay
                continue
            if len(found) >= limit:
                return found, index + 1
        return found, end

    def group_members(self, group: MarketGroup) -> list[str]:
        """Meter ids in a market group now (full membership, as group.updated sends it)."""
        members: list[str] = []
        gen = self.generator
        for index in range(self.next_index):
            if index in self.removed:
                continue
            state = self.overlay.get(index)
            if state is None:
                if index >= self.base_size:
                    continue
                core = gen.core(index)
                if core.region.code != group.region or core.archived or core.status != "ACTIVE":
                    continue
                if not any(p.identifier == group.program for p in core.programs):
                    continue
                state = gen.build(index, core)
            if any(r.get("market_group_id") == group.market_group_id for r in state.programs):
                members.append(state.meter_id)
        return members
