"""The simulated Leap portfolio: meters generated lazily from (seed, index), plus an overlay.

Meter i is a pure function of (seed, i, size, epoch), so 200,000 meters cost no memory until they
are read. A mutated or added meter is materialised once into `Portfolio.overlay` and changed
there. The cheap `Core` of a meter (region, status, flags, times) is computed without the full
record, so searches can skip non-matching meters without building them.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import catalog
from .meter_details import meter_details

STATUSES = ("ACTIVE", "ELIGIBLE", "PENDING", "INELIGIBLE", "NOT_PARTICIPATING")
# Cumulative percentages of the global statuses above.
_STATUS_CUTS = (55, 70, 82, 92, 100)
_REGION_CUTS: list[tuple[int, catalog.Region]] = []
_acc = 0
for _region in catalog.REGIONS:
    _acc += _region.weight
    _REGION_CUTS.append((_acc, _region))
_REGION_TOTAL = _acc
GROUP_SIZE = 300  # meters per market group, roughly (Leap's groups hold a few hundred)
_COMMERCIAL_LOADS = (
    "HVAC", "COLD_STORAGE", "PUMPING", "MANUFACTURING", "LIGHTING", "BUILDING_AUTOMATION",
    "BATTERY_STORAGE", "GENERATION",
)  # fmt: skip
_RESIDENTIAL_LOADS = ("HVAC", "BATTERY_STORAGE", "EV_CHARGING", "WATER_HEATING")


def iso(dt: datetime, *, millis: bool = False) -> str:
    """Format an aware datetime the way Leap does: UTC with a Z."""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    # isoformat is C code: several times faster than strftime, which showed in the floor bench.
    return dt.isoformat(timespec="milliseconds" if millis else "seconds")[:-6] + "Z"


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()


def stable_uuid(*parts: object) -> str:
    """A version-4-shaped UUID that is a pure function of its parts."""
    raw = bytearray(_digest(*parts))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


@dataclass(frozen=True)
class Period:
    """One delivery period of one program."""

    program: catalog.Program
    name: str
    start: datetime
    end: datetime

    @functools.cached_property
    def deadlines(self) -> list[tuple[datetime, datetime]]:
        """Rolling (deadline, activation) pairs: activations every 14 days, deadline 2 days before."""
        pairs: list[tuple[datetime, datetime]] = []
        activation = self.start
        while activation < self.end and len(pairs) < 2:
            pairs.append((activation - timedelta(days=2), activation))
            activation = activation + timedelta(days=14)
        return pairs

    @functools.cached_property
    def rendered(self) -> dict[str, Any]:
        """The JSON fields every enrollment row of this period shares (rendered once)."""
        return {
            "delivery_period_start_date_time": iso(self.start),
            "delivery_period_end_date_time": iso(self.end),
            "enrollment_deadlines": [
                {"enrollment_deadline_date_time": iso(d), "activation_date_time": iso(a)}
                for d, a in self.deadlines
            ],
            "last_deadline": iso(self.deadlines[-1][0]),
        }


def periods_around(program: catalog.Program, region: catalog.Region, now: datetime) -> list[Period]:
    """The delivery period of `program` in force at `now` (or the next one) and the one after."""
    tz = ZoneInfo(region.timezone)
    local = now.astimezone(tz)
    found: list[Period] = []
    for year in (local.year - 1, local.year, local.year + 1, local.year + 2):
        for start_month, length in program.periods:
            start = datetime(year, start_month, 1, tzinfo=tz)
            end_month0 = start_month - 1 + length
            end = datetime(year + end_month0 // 12, end_month0 % 12 + 1, 1, tzinfo=tz)
            last = end - timedelta(days=1)
            if end <= now:
                continue
            if length == 1:
                name = f"{program.period_prefix}_{year}_{catalog.MONTHS[start_month - 1]}"
            elif last.year == year:
                name = (
                    f"{program.period_prefix}_{year}_{catalog.MONTHS[start_month - 1]}"
                    f"_{catalog.MONTHS[last.month - 1]}"
                )
            else:
                name = (
                    f"{program.period_prefix}_{year}_{catalog.MONTHS[start_month - 1]}"
                    f"_{last.year}_{catalog.MONTHS[last.month - 1]}"
                )
            found.append(Period(program, name, start.astimezone(UTC), end.astimezone(UTC)))
    found.sort(key=lambda p: p.start)
    return found[:2]


@dataclass(frozen=True)
class MarketGroup:
    """A market group: one program, one delivery period, a few hundred meters."""

    market_group_id: str
    name: str
    region: str
    program: str
    period: Period
    bucket: int


class Core:
    """What searches filter on, computed from a hash of (seed, index) without the full record."""

    __slots__ = (
        "index",
        "region",
        "utility",
        "programs",
        "bucket_bits",
        "status",
        "partner_actions",
        "leap_action",
        "archived",
        "has_reference",
        "created_at",
        "updated_at",
    )

    def __init__(self, seed: int, index: int, size: int, epoch: datetime) -> None:
        h = int.from_bytes(_digest("core", seed, index), "big")
        self.index = index
        pick = h % _REGION_TOTAL
        region = next(r for cut, r in _REGION_CUTS if pick < cut)
        h //= _REGION_TOTAL
        self.region = region
        self.utility = region.utilities[h % len(region.utilities)]
        h //= len(region.utilities)
        eligible = [
            p for p in region.programs if not p.utilities or self.utility.code in p.utilities
        ]
        # One to three programs; the first eligible program is the main one.
        count = 1 + (h % 3 if len(eligible) > 1 else 0)
        h //= 3
        start = h % len(eligible)
        h //= len(eligible)
        self.programs = tuple(eligible[(start + k) % len(eligible)] for k in range(count))
        self.bucket_bits = h % 1_000_003
        h //= 1_000_003
        roll = h % 100
        h //= 100
        self.status = next(s for s, cut in zip(STATUSES, _STATUS_CUTS, strict=True) if roll < cut)
        # About one meter in ten has partner actions; more among the not-yet-active.
        action_roll = h % 100
        h //= 100
        threshold = 4 if self.status == "ACTIVE" else 22
        self.partner_actions = 1 + action_roll % 2 if action_roll < threshold else 0
        self.leap_action = self.status in ("PENDING", "ELIGIBLE") and h % 3 == 0
        h //= 3
        self.archived = h % 100 < 3
        h //= 100
        self.has_reference = h % 100 >= 7
        h //= 100
        # Creation order follows the index: a created window selects a contiguous range.
        span = timedelta(days=725).total_seconds()
        base = epoch - timedelta(days=730)
        jitter = h % 3600
        h //= 3600
        self.created_at = base + timedelta(seconds=span * index / max(size, 1) + jitter)
        age = (epoch - self.created_at).total_seconds()
        self.updated_at = self.created_at + timedelta(seconds=int(age * (h % 1000) / 1000))


@dataclass
class MeterState:
    """One meter as Leap holds it: details, enrollment and the times searches filter on."""

    index: int
    meter_id: str
    partner_reference: str | None
    region: str
    customer_classification: str
    load_types: list[str]
    meter_type: str
    connection_references: list[str]
    customer_group: str
    tags: list[str]
    is_archived: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    global_status: str
    participation: list[dict[str, Any]]
    programs: list[dict[str, Any]]  # rows with datetime values; rendered by enrollment_json
    partner_actions: list[dict[str, Any]] = field(default_factory=list)
    leap_actions: list[dict[str, Any]] = field(default_factory=list)
    # Customer, device, site, utility, caiso/isone/nyiso: generated on first use, because an
    # enrollment search never needs them (half the cost of a meter).
    details_: dict[str, Any] | None = field(default=None, repr=False)
    detail_source: Any = field(default=None, repr=False, compare=False)

    @property
    def details(self) -> dict[str, Any]:
        """The detail blocks (customer, device, site, utility, ISO-specific)."""
        if self.details_ is None:
            generator, core = self.detail_source
            self.details_ = meter_details(generator.seed, self, core)
        return self.details_

    def identifiers(self) -> dict[str, Any]:
        """Fields shared by the meter detail and the enrollment objects."""
        out: dict[str, Any] = {"meter_id": self.meter_id}
        if self.partner_reference is not None:
            out["partner_reference"] = self.partner_reference
        out.update(
            transmission_region=self.region,
            customer_classification=self.customer_classification,
            load_types=list(self.load_types),
            meter_type=self.meter_type,
            connection_references=list(self.connection_references),
            customer_group=self.customer_group,
            tags=list(self.tags),
            is_archived=self.is_archived,
        )
        return out

    def audit(self) -> dict[str, Any]:
        """The audit block; updated_at is what `last_modified_date_time` filters on."""
        return {
            "created_by": self.created_by,
            "created_at": iso(self.created_at, millis=True),
            "updated_at": iso(self.updated_at, millis=True),
        }

    def detail_json(self, *, device_names: str = "lf") -> dict[str, Any]:
        """The `MeterDetailsResponse` object."""
        out = self.identifiers()
        details = self.details
        for key in ("customer", "device", "site", "utility", "caiso", "isone", "nyiso"):
            if details.get(key) is not None:
                out[key] = details[key]
        if device_names == "smet" and "site" in out:
            out["site"] = _smet_site(out["site"])
            if "device" in out:
                out["device"] = {
                    k: v for k, v in out["device"].items() if not k.startswith("battery_max_")
                }
        out["audit"] = self.audit()
        return out

    def enrollment_json(self) -> dict[str, Any]:
        """The `MeterEnrollmentResponse` object."""
        out = self.identifiers()
        out["audit"] = self.audit()
        out["global_enrollment_status"] = self.global_status
        out["participation_preferences"] = [dict(p) for p in self.participation]
        rows = []
        for row in self.programs:
            shared = row["period"].rendered
            item = {
                "program_identifier": row["program_identifier"],
                "delivery_period": row["delivery_period"],
                "delivery_period_start_date_time": shared["delivery_period_start_date_time"],
                "delivery_period_end_date_time": shared["delivery_period_end_date_time"],
                "enrollment_status": row["enrollment_status"],
                "enrollment_deadlines": [dict(d) for d in shared["enrollment_deadlines"]],
            }
            if row.get("market_group_id"):
                item["market_group_id"] = row["market_group_id"]
                item["market_group_name"] = row["market_group_name"]
            rows.append(item)
        out["program_enrollment"] = rows
        out["required_actions"] = {
            "partner": [dict(a) for a in self.partner_actions],
            "leap": [dict(a) for a in self.leap_actions],
        }
        return out


def _smet_site(site: dict[str, Any]) -> dict[str, Any]:
    """Rename the device fields to their older spelling (meters.yml's DeviceInfo; both are live)."""
    renames = {
        "battery_max_discharge_rate_kw": "max_energy_production_rate_kw",
        "battery_max_charge_rate_kw": "max_energy_consumption_rate_kw",
        "is_connected_to_solar": "pv_connected",
    }
    site = dict(site)
    site["site_devices"] = [
        {renames.get(k, k): v for k, v in device.items()} for device in site.get("site_devices", [])
    ]
    return site


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
            share = size * region.weight / _REGION_TOTAL
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
            number = int.from_bytes(_digest("gname", self.seed, *key)[:2], "big") % 90 + 10
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
            load_types = rng.sample(_COMMERCIAL_LOADS, 1 + int(draw() * 3))
        else:
            load_types = rng.sample(_RESIDENTIAL_LOADS, 1 + int(draw() * 2))
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
        h = int.from_bytes(_digest("deadline", self.seed, index, k)[:4], "big")
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

    def scan(
        self, start: int, prefilter: Any, accept: Any, limit: int
    ) -> tuple[list[MeterState], int]:
        """Up to `limit` meters from index `start` on that pass both filters; returns the next index."""
        found: list[MeterState] = []
        index = start
        end = self.next_index
        gen = self.generator
        while index < end and len(found) < limit:
            if index in self.removed:
                index += 1
                continue
            state = self.overlay.get(index)
            if state is None:
                if index < self.base_size:
                    core = gen.core(index)
                    if prefilter is not None and not prefilter(core):
                        index += 1
                        continue
                    state = self._cache.get(index) or gen.build(index, core)
                else:  # pragma: no cover - added meters always live in the overlay
                    index += 1
                    continue
            if accept(state):
                found.append(state)
            index += 1
        return found, index

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
