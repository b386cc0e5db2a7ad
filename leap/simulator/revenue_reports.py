"""The simulator's revenue reports over meter rows: aggregations, the periodic report over a range
of months and the yearly overview (settlement.yml v1.1).

The meter rows come from leap.simulator.revenue.RevenueBook; these functions only sum and shape
them as Leap's responses do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .meter_state import iso
from .revenue_figures import MONTH_NAMES, Aggregate, Version, month_text

if TYPE_CHECKING:
    from .revenue import RevenueBook

Row = dict[str, Any]

# The meter row figures both the periodic report and the yearly overview add up.
SUMMED = (
    "missed_revenue",
    "payment_adjustment",
    "penalty",
    "performance_adjustment",
    "capacity_revenue",
    "energy_revenue",
    "nomination_w",
)


def add_rows(sums: defaultdict[str, float], rows: Iterable[Row], names: Iterable[str]) -> None:
    """Add each row's `names` figures to `sums`, row after row."""
    names = tuple(names)
    for row in rows:
        for name in names:
            sums[name] += row[name]


def aggregate(kind: str, rows: Iterator[Row]) -> list[dict[str, Any]]:
    """Leap's customer / market-group / load-type / utility aggregations of meter rows."""
    groups: dict[tuple[str, str, str], Aggregate] = {}
    for row in rows:
        if kind == "customer":
            keys = [row.get("customer") or "Unknown customer"]
        elif kind == "market-group":
            keys = [row["market_group"]] if row.get("market_group") else []
        elif kind == "load-type":
            keys = row["load_types"] or ["UNASSIGNED_LOAD_TYPE"]
        else:
            keys = [row.get("utility") or "UNKNOWN"]
        for key in keys:
            slot = (key, row["delivery_start_date"], row["version"])
            acc = groups.get(slot)
            if acc is None:
                acc = groups[slot] = Aggregate(key, row)
            acc.add(row)
    return [acc.render(kind) for acc in groups.values()]


def _previous_total(book: RevenueBook, last: Version) -> float | None:
    """The total of the version before `last` (None for a first version)."""
    if last.number <= 1:
        return None
    rows, _ = book.meter_rows(last.month, Version(last.month, last.number - 1, last.published))
    total: float = sum(r["total_revenue"] for r in rows)
    return round(total, 2)


def report(book: RevenueBook, months: list[int], version_name: str | None) -> dict[str, Any] | None:
    """The PeriodicReportResponse over these months (None when none is published)."""
    versions = [v for v in (book.version(m, version_name) for m in months) if v is not None]
    if not versions:
        return None
    sums: defaultdict[str, float] = defaultdict(float)
    meters = dispatched = events = 0
    programs: set[str] = set()
    statuses = []
    for version in versions:
        rows, _ = book.meter_rows(version.month, version)
        month_programs = sorted({r["program"] for r in rows})
        programs.update(month_programs)
        add_rows(sums, rows, ("total_revenue", "potential_revenue", "data_coverage_percentage"))
        add_rows(sums, rows, SUMMED)
        meters += len(rows)
        dispatched += sum(1 for r in rows if r["total_number_of_events"])
        events += sum(r["total_number_of_events"] for r in rows)
        text = month_text(version.month)
        statuses.append(
            {
                "programs": month_programs,
                "status": version.status,
                "updated_at": iso(version.published, millis=True),
                "delivery_start_date": text,
                "delivery_end_date": text,
                "version": version.name,
            }
        )
    previous = _previous_total(book, versions[-1])
    total = sums["total_revenue"]
    return {
        "actual_revenue": round(total, 2),
        "potential_revenue": round(sums["potential_revenue"], 2),
        "payment_adjustment": round(sums["payment_adjustment"], 2),
        "penalty": round(sums["penalty"], 2),
        "performance_adjustment": round(sums["performance_adjustment"], 2),
        "data_coverage_percentage": round(sums["data_coverage_percentage"] / meters, 2)
        if meters
        else 0.0,
        "meters_dispatched_count": dispatched,
        "total_meters_count": meters,
        "dispatch_days_count": min(31 * len(versions), events),
        "average_meter_revenue": round(total / meters, 2) if meters else 0.0,
        "capacity": {
            "revenue": round(sums["capacity_revenue"], 2),
            "nomination_w": round(sums["nomination_w"], 2),
        },
        "energy": {"revenue": round(sums["energy_revenue"], 2)},
        "settlement_period": {
            "period_start": month_text(versions[0].month),
            "period_end": month_text(versions[-1].month),
        },
        "programs": sorted(programs),
        "report_status": statuses,
        "missed_revenue": round(sums["missed_revenue"], 2),
        # Required by the spec; a first version has nothing before it: its own figure.
        "previous_adjusted_revenue": previous if previous is not None else round(total, 2),
    }


@dataclass
class _Year:
    """What a yearly overview adds up over its months."""

    monthly: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    by_region: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    sums: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    totals: dict[str, float] = field(
        default_factory=lambda: {"actual": 0.0, "preliminary": 0.0, "potential": 0.0}
    )
    meters: int = 0
    dispatched: int = 0


def _region(book: RevenueBook, row: Row) -> str:
    index = book.sim.portfolio.index_of(row["meter_id"])
    facts = book.facts(index) if index is not None else None
    return facts.region if facts else "CAISO"


def _add_month(
    book: RevenueBook, year: _Year, month: int, rows: list[Row], version: Version
) -> dict[str, float]:
    """Add one published month's rows to the year; its actual/preliminary/potential figures."""
    figures = {"actual": 0.0, "preliminary": 0.0, "potential": 0.0}
    month_total = sum(r["total_revenue"] for r in rows)
    figures["potential"] = sum(r["potential_revenue"] for r in rows)
    figures["actual" if version.status == "FINALIZED" else "preliminary"] = month_total
    for r in rows:
        year.by_region[_region(book, r)] += r["total_revenue"]
    add_rows(year.sums, rows, SUMMED)
    year.meters = max(year.meters, len(rows))
    year.dispatched = max(year.dispatched, sum(1 for r in rows if r["total_number_of_events"]))
    year.reports.append(
        month_report(book, month, rows, month_total, figures["potential"], year.by_region)
    )
    return figures


def yearly(book: RevenueBook, year: int, regions: set[str], statuses: set[str]) -> dict[str, Any]:
    """The YearlyOverview of a year (the latest version of each published month)."""
    found = _Year()
    for m in range(12):
        month = year * 12 + m
        version = book.latest(month)
        figures = {"actual": 0.0, "preliminary": 0.0, "potential": 0.0}
        if version is not None and (not statuses or version.status in statuses):
            rows, _ = book.meter_rows(month, version)
            rows = [r for r in rows if not regions or _region(book, r) in regions]
            figures = _add_month(book, found, month, rows, version)
        for key, value in figures.items():
            found.totals[key] += value
        found.monthly.append(
            {
                "actual_revenue": round(figures["actual"], 2),
                "preliminary_revenue": round(figures["preliminary"], 2),
                "potential_revenue": round(figures["potential"], 2),
                "month": MONTH_NAMES[m],
            }
        )
    return _overview(found, len(book.sim.market_groups))


def _overview(year: _Year, market_groups: int) -> dict[str, Any]:
    """The YearlyOverview response of what a year added up."""
    sums, totals, meters = year.sums, year.totals, year.meters
    total = totals["actual"] + totals["preliminary"]
    nomination = sums["nomination_w"]
    return {
        "yearly_summary": {
            "actual_revenue": round(totals["actual"], 2),
            "preliminary_revenue": round(totals["preliminary"], 2),
            "potential_revenue": round(totals["potential"], 2),
            "missed_revenue": round(sums["missed_revenue"], 2),
            "payment_adjustment": round(sums["payment_adjustment"], 2),
            "penalty": round(sums["penalty"], 2),
            "performance_adjustment": round(sums["performance_adjustment"], 2),
            "monthly_revenue": year.monthly,
        },
        "revenue_sources": {
            "capacity": {
                "revenue": round(sums["capacity_revenue"], 2),
                "nomination_w": round(nomination, 2),
            },
            "energy": {"revenue": round(sums["energy_revenue"], 2)},
        },
        "regional_economics": {
            "regions_revenue": [
                {"transmission_region": region, "revenue": round(value, 2)}
                for region, value in sorted(year.by_region.items())
            ]
        },
        "unit_economics": {
            "average_market_group_revenue": round(total / max(1, market_groups), 2),
            "average_meter_revenue": round(total / meters, 2) if meters else 0.0,
            "meters_dispatched_count": year.dispatched,
            "average_kw_revenue": round(total / (nomination / 1000), 2) if nomination else 0.0,
        },
        "reports": year.reports,
    }


def month_report(
    book: RevenueBook,
    month: int,
    rows: list[Row],
    total: float,
    potential: float,
    by_region: dict[str, float],
) -> dict[str, Any]:
    """One month's entry in the `reports` of a YearlyOverview."""
    text = month_text(month)
    return {
        "settlement_period": {"period_start": text, "period_end": text},
        "settlement_type": "MONTH",
        "total_payment": round(total, 2),
        "total_potential_revenue": round(potential, 2),
        "missed_revenue": round(sum(r["missed_revenue"] for r in rows), 2),
        "statuses": [
            {"status": v.status, "updated_at": iso(v.published, millis=True)}
            for v in book.versions(month)
        ],
        "dispatch_days_count": min(31, sum(r["total_number_of_events"] for r in rows)),
        "transmission_region": sorted(by_region)[0] if by_region else "CAISO",
        "programs": sorted({r["program"] for r in rows}),
    }
