"""A simulated meter and its parts: the cheap Core searches filter on, the full MeterState,
delivery periods and market groups, and the stable ids and timestamps they use."""

from __future__ import annotations

import functools
import hashlib
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import catalog
from .meter_details import meter_details

STATUSES = ("ACTIVE", "ELIGIBLE", "PENDING", "INELIGIBLE", "NOT_PARTICIPATING")
# Cumulative percentages of the global statuses above.
STATUS_CUTS = (55, 70, 82, 92, 100)
# (cumulative weight, region): a hash below a cut and above the previous one picks that region.
REGION_CUTS: list[tuple[int, catalog.Region]] = list(
    zip(itertools.accumulate(r.weight for r in catalog.REGIONS), catalog.REGIONS, strict=True)
)
REGION_TOTAL = REGION_CUTS[-1][0]
GROUP_SIZE = 300  # meters per market group, roughly (Leap's groups hold a few hundred)
COMMERCIAL_LOADS = (
    "HVAC", "COLD_STORAGE", "PUMPING", "MANUFACTURING", "LIGHTING", "BUILDING_AUTOMATION",
    "BATTERY_STORAGE", "GENERATION",
)  # fmt: skip
RESIDENTIAL_LOADS = ("HVAC", "BATTERY_STORAGE", "EV_CHARGING", "WATER_HEATING")


def iso(dt: datetime, *, millis: bool = False) -> str:
    """Format an aware datetime the way Leap does: UTC with a Z."""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    # isoformat is C code: several times faster than strftime, which showed in the floor bench.
    return dt.isoformat(timespec="milliseconds" if millis else "seconds")[:-6] + "Z"


def digest(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()


def stable_uuid(*parts: object) -> str:
    """A version-4-shaped UUID that is a pure function of its parts."""
    raw = bytearray(digest(*parts))
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
        h = int.from_bytes(digest("core", seed, index), "big")
        self.index = index
        pick = h % REGION_TOTAL
        region = next(r for cut, r in REGION_CUTS if pick < cut)
        h //= REGION_TOTAL
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
        self.status = next(s for s, cut in zip(STATUSES, STATUS_CUTS, strict=True) if roll < cut)
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
