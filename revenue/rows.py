"""A version's meter rows as the rows COPY writes into `revenue_meterrevenue`, risk included."""

from __future__ import annotations

from datetime import date
from typing import Any

from leapportal.bulk import dumps

COPY_COLUMNS = (
    "version_id", "month", "meter_id", "program", "partner_reference", "market_group", "utility",
    "customer", "customer_group", "load_types", "revenue_type", "nomination_w",
    "capacity_revenue", "energy_revenue", "total_revenue", "potential_revenue", "missed_revenue",
    "penalty", "payment_adjustment", "performance_adjustment", "data_coverage",
    "response_percentage", "events", "diagnosis", "historical_responsiveness", "extra", "risk",
)  # fmt: skip
# Positions in a COPY row of what a version's totals add up.
TOTAL, POTENTIAL, MISSED, PENALTY = (
    COPY_COLUMNS.index(c)
    for c in ("total_revenue", "potential_revenue", "missed_revenue", "penalty")
)
RISK_MIN_COVERAGE = 75.0  # Leap's own method: meters under 75% data coverage are not ranked


def copy_row_maker(version_id: int, month: date) -> Any:
    """A function that turns a validated MeterRevenue into the COPY row of this version."""

    def prepare(item: Any) -> tuple:
        extra = item.__pydantic_extra__
        potential, missed = item.potential_revenue, item.missed_revenue
        coverage = item.data_coverage_percentage
        risk = (
            missed / potential
            if potential
            and missed is not None
            and coverage is not None
            and coverage >= RISK_MIN_COVERAGE
            else None
        )
        return (
            version_id,
            month,
            item.meter_id,
            item.program or "",
            item.partner_reference or "",
            item.market_group or "",
            item.utility or "",
            item.customer or "",
            item.customer_group or "",
            dumps(item.load_types),
            item.revenue_type,
            item.nomination_w,
            item.capacity_revenue,
            item.energy_revenue,
            item.total_revenue,
            potential,
            missed,
            item.penalty,
            item.payment_adjustment,
            item.performance_adjustment,
            coverage,
            item.dispatch_event_response_percentage,
            item.total_number_of_events,
            item.diagnosis or "",
            item.historical_responsiveness or "",
            dumps(extra) if extra else None,
            risk,
        )

    return prepare
