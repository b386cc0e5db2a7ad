"""The figures behind the simulated revenue: months, a meter's facts, report versions, the
earnings of one meter-month, and the aggregation of rows (see revenue.py for the model).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import catalog

HISTORY_MONTHS = 24  # months of reports Leap keeps for the simulated partner
MONTH_NAMES = (
    "JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER",
    "OCTOBER", "NOVEMBER", "DECEMBER",
)  # fmt: skip
# $ per kW-month of nomination, by program (the rest: DEFAULT_PRICE).
CAPACITY_PRICES = {
    "CCA": 6.5, "DRAM": 7.2, "ELRP": 2.0, "CEC-DSGS": 9.0, "PGE-CBP": 8.1, "ERCOT-ERS": 5.4,
    "ONCOR-CLM": 4.0, "NYISO-SCR": 11.5, "CONED-CSRP": 18.0, "CONED-DLRP": 15.0,
    "PSEGLI-CSRP": 12.0, "PJM-CAPACITY": 8.9, "MA_DOER-CPS": 3.5, "NATGRID-CS": 2.9,
}  # fmt: skip
DEFAULT_PRICE = 5.0
ENERGY_PRICE_KWH = 0.35
RESPONSIVENESS = ("NEVER_RESPONDS", "RARELY_RESPONDS", "NORMALLY_RESPONDS")


def month_index(text: str) -> int:
    """Months since year 0 of `YYYY-MM`."""
    return int(text[:4]) * 12 + int(text[5:7]) - 1


def month_text(index: int) -> str:
    """`YYYY-MM` of a month index."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_start(index: int) -> datetime:
    """The first instant of a month, UTC."""
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def draws(*parts: object) -> list[float]:
    """Eight uniform draws in [0, 1) that are a pure function of the parts."""
    raw = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=32).digest()
    return [int.from_bytes(raw[i : i + 4], "big") / 4294967296 for i in range(0, 32, 4)]


@dataclass(frozen=True)
class Facts:
    """What a meter's revenue depends on that does not change month to month."""

    index: int
    meter_id: str
    partner_reference: str | None
    region: str
    utility: str | None
    customer: str | None
    customer_group: str | None
    load_types: tuple[str, ...]
    status: str
    archived: bool
    program: str | None
    market_group: str | None
    season: frozenset[int]  # months (1-12) the program pays capacity in
    created: int  # month index the meter was created in
    nomination_kw: float
    responsiveness: str
    low_coverage: bool
    idle: tuple[tuple[datetime, datetime | None], ...]  # IDLE / DISENROLL windows
    stamp: datetime  # the meter's updated_at when these facts were read


@dataclass(frozen=True)
class Version:
    """One published version of one month's report."""

    month: int
    number: int
    published: datetime

    @property
    def name(self) -> str:
        """V1, V2, ..."""
        return f"V{self.number}"

    @property
    def status(self) -> str:
        """V1 is preliminary; every later version is final."""
        return "PRELIMINARY" if self.number == 1 else "FINALIZED"


def response_percentage(history: str, draw: float) -> float:
    """The meter's dispatch response percentage, by its historical responsiveness."""
    if history == "NEVER_RESPONDS":
        return round(draw * 3, 1)
    if history == "RARELY_RESPONDS":
        return round(10 + draw * 35, 1)
    return round(72 + draw * 28, 1)


def later_versions(
    seed: int, facts: Facts, month: int, version: Version, coverage: float
) -> tuple[float, float]:
    """(data coverage, payment adjustment) at `version`: in later versions late meter data
    arrives and adjustments (true-ups) are paid."""
    payment_adjustment = 0.0
    for number in range(2, version.number + 1):
        later = draws("version", seed, facts.meter_id, month, number)
        if number == 2 and facts.low_coverage and later[0] < 0.5:
            coverage = round(min(100.0, coverage + 20 + later[1] * 10), 1)
        if later[2] < (0.03 if number == 2 else 0.02):
            payment_adjustment = round(payment_adjustment + (later[3] - 0.3) * 40, 2)
    return coverage, payment_adjustment


@dataclass
class Earnings:
    """What a meter earned in a month, and why (before rounding)."""

    revenue_type: str
    events: int
    response: float
    capacity_potential: float = 0.0
    energy_potential: float = 0.0
    capacity: float = 0.0
    energy: float = 0.0
    penalty: float = 0.0


def earnings(
    status: str,
    in_season: bool,
    idled: bool,
    capacity_price: float,
    nomination_kw: float,
    events: int,
    response: float,
    coverage: float,
) -> Earnings:
    """The month's revenue of a meter from its status, season, events and performance."""
    if status in ("ELIGIBLE", "PENDING") and in_season:
        return Earnings("MISSED_ENROLLMENT_CAPACITY", 0, 0, capacity_potential=capacity_price)
    if status != "ACTIVE" or idled or not in_season:
        events = 0 if status != "ACTIVE" or idled else events
        return Earnings("NO_CAPACITY_REVENUE", events, 0 if not events else response)
    earned = Earnings("DELIVERED_CAPACITY", events, response)
    earned.capacity_potential = capacity_price
    earned.energy_potential = events * 2 * nomination_kw * ENERGY_PRICE_KWH
    performance = response / 100 if events else 1.0
    earned.capacity = capacity_price * min(1.0, performance * 1.05) * min(1.0, coverage / 90)
    earned.energy = earned.energy_potential * performance * min(1.0, coverage / 90)
    if events and performance < 0.5:
        earned.penalty = round(capacity_price * 0.1, 2)
    if coverage < 75:
        earned.revenue_type = "MISSING_DATA_CAPACITY"
    elif events and response < 50:
        earned.revenue_type = "MISSED_DISPATCH_CAPACITY"
    return earned


def with_labels(row: dict[str, Any], facts: Facts) -> dict[str, Any]:
    """The row with the meter's partner reference and the labels it has."""
    if facts.partner_reference is not None:
        row["partner_reference"] = facts.partner_reference
    for key, value in (
        ("customer_group", facts.customer_group),
        ("utility", facts.utility),
        ("customer", facts.customer),
        ("market_group", facts.market_group),
    ):
        if value:
            row[key] = value
    return row


def matches_filters(item: dict[str, Any], f: dict[str, Any]) -> bool:
    """The diagnosis filters: substring filters, lists, include/exclude pairs."""
    for field, key in (
        ("meter_id_contains", "meter_id"),
        ("partner_reference_contains", "partner_reference"),
        ("customer_name_contains", "customer_name"),
    ):
        wanted = f.get(field)
        if wanted and wanted.lower() not in (item.get(key) or "").lower():
            return False
    for field, key in (
        ("transmission_regions", "transmission_region"),
        ("programs", "program"),
        ("historical_responsiveness", "historical_responsiveness"),
    ):
        wanted = f.get(field)
        if wanted and item[key] not in wanted:
            return False
    pair = (item["meter_id"], item["program"])
    include = f.get("include_meter_programs")
    if include and pair not in include:
        return False
    exclude = f.get("exclude_meter_programs")
    return not (exclude and pair in exclude)


class Aggregate:
    """Sums of one aggregation row."""

    def __init__(self, key: str, row: dict[str, Any]) -> None:
        self.key = key
        self.month = row["delivery_start_date"]
        self.version = row["version"]
        self.group = row.get("customer_group")
        self.meters = self.dispatched = 0
        self.sums: dict[str, float] = defaultdict(float)

    def add(self, row: dict[str, Any]) -> None:
        self.meters += 1
        self.dispatched += 1 if row["total_number_of_events"] else 0
        for name in (
            "nomination_w", "capacity_revenue", "energy_revenue", "monetized_w", "total_revenue",
            "data_coverage_percentage", "energy_earned_wh", "potential_revenue",
            "capacity_earned_w", "payment_adjustment", "penalty", "performance_adjustment",
            "missed_revenue", "capacity_performance_percentage", "energy_performance_percentage",
        ):  # fmt: skip
            self.sums[name] += row[name]

    def render(self, kind: str) -> dict[str, Any]:
        sums = {k: round(v, 2) for k, v in self.sums.items()}
        meters = max(self.meters, 1)
        common = {
            "meter_count": self.meters,
            "nomination_w": sums["nomination_w"],
            "capacity_revenue": sums["capacity_revenue"],
            "energy_revenue": sums["energy_revenue"],
            "delivery_start_date": self.month,
            "delivery_end_date": self.month,
            "monetized_w": sums["monetized_w"],
            "total_revenue": sums["total_revenue"],
            "data_coverage_percentage": round(sums["data_coverage_percentage"] / meters, 2),
            "potential_revenue": sums["potential_revenue"],
            "capacity_earned_w": sums["capacity_earned_w"],
            "payment_adjustment": sums["payment_adjustment"],
            "penalty": sums["penalty"],
            "performance_adjustment": sums["performance_adjustment"],
            "missed_revenue": sums["missed_revenue"],
            "version": self.version,
        }
        if kind == "utility":
            metric = {
                "quantity": sums["capacity_earned_w"],
                "price": 0.0,
                "revenue": sums["capacity_revenue"],
            }
            return {
                "utility": self.key,
                "capacity_w": {
                    "earned_capacity": metric,
                    "four_hour_capacity_bonus": {"quantity": 0.0, "price": 0.0, "revenue": 0.0},
                    "missed_enrollment": {"quantity": 0.0, "price": 0.0, "revenue": 0.0},
                },
                "energy_wh": {
                    "energy_earned": {
                        "quantity": sums["energy_earned_wh"],
                        "revenue": sums["energy_revenue"],
                    },
                    "performance_bonus": {"revenue": 0.0},
                },
                "meters_dispatched_count": self.dispatched,
                **common,
            }
        common["capacity_performance_percentage"] = round(
            sums["capacity_performance_percentage"] / meters, 2
        )
        common["energy_performance_percentage"] = round(
            sums["energy_performance_percentage"] / meters, 2
        )
        common["energy_earned_wh"] = sums["energy_earned_wh"]
        if kind == "customer":
            out = {"customer_name": self.key, **common}
            if self.group:
                out["customer_group"] = self.group
            return out
        if kind == "market-group":
            return {"market_group": self.key, **common}
        return {"load_type": self.key, **common}


def program_of(identifier: str | None) -> catalog.Program:
    for region in catalog.REGIONS:
        for program in region.programs:
            if program.identifier == identifier:
                return program
    return catalog.Program(identifier or "CCA", "X", catalog.MONTHLY, "X")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return None


def add_months(when: datetime, months: int) -> datetime:
    index = when.year * 12 + when.month - 1 + months
    return when.replace(year=index // 12, month=index % 12 + 1)
