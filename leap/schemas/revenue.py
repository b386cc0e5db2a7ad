"""Revenue & analytics v1.1 (settlement.yml).

Leap's settlement spec declares `additionalProperties: false` everywhere, yet Leap adds fields
without a version bump: these models keep unknown fields like every other one.
Months are `YYYY-MM` strings; enumerations (revenue types, programs, load types, regions) are
plain strings. Every figure is optional unless the spec requires it.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import AliasChoices, BeforeValidator, Field, field_validator

from leap.schemas.base import (
    LeapModel,
    OptDatetime,
    OptStr,
    RawModel,
    StrList,
    UtcDatetime,
    empty_to_none,
    none_to_list,
)

YearMonth = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")]
OptFloat = Annotated[float | None, BeforeValidator(empty_to_none)]
# Leap's page token of the revenue searches is `page_token` in the response (the spec's own
# wording says `next_page_token`): both are read.
_REVENUE_TOKEN = AliasChoices("page_token", "next_page_token")


def _month_or_none(value: Any) -> Any:
    """The deprecated `delivery_date` is "" in Leap's examples: read as absent."""
    return empty_to_none(value)


OptMonth = Annotated[
    Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")] | None, BeforeValidator(_month_or_none)
]


class RevenueFigures(LeapModel):
    """The money and performance figures every revenue aggregation row shares."""

    nomination_w: OptFloat = None
    capacity_revenue: OptFloat = None
    energy_revenue: OptFloat = None
    delivery_date: OptMonth = None
    delivery_start_date: YearMonth
    delivery_end_date: YearMonth
    monetized_w: OptFloat = None
    total_revenue: float
    capacity_performance_percentage: OptFloat = None
    energy_performance_percentage: OptFloat = None
    data_coverage_percentage: OptFloat = None
    energy_earned_wh: OptFloat = None
    potential_revenue: OptFloat = None
    capacity_earned_w: OptFloat = None
    payment_adjustment: OptFloat = None
    penalty: OptFloat = None
    performance_adjustment: OptFloat = None
    missed_revenue: OptFloat = None
    version: OptStr = None
    capacity_price: OptFloat = None
    energy_price_kwh: OptFloat = None


class MeterRevenue(RevenueFigures, RawModel):
    """One meter × period of `POST /v1.1/revenue/periodic/aggregation/meter/search`."""

    meter_id: UUID
    partner_reference: OptStr = None
    service_agreement_number: OptStr = None
    customer_group: OptStr = None
    revenue_type: str
    program: OptStr = None
    utility: OptStr = None
    load_types: StrList = Field(default_factory=list)
    customer: OptStr = None
    market_group: OptStr = None
    performance_factor: OptFloat = None
    dispatch_event_response_percentage: OptFloat = None
    total_number_of_events: int | None = None
    diagnosis: OptStr = None
    historical_responsiveness: OptStr = None


class CustomerRevenue(RevenueFigures, RawModel):
    """One row of the customer aggregation (Leap's customer name, not our customer)."""

    customer_name: str
    customer_group: OptStr = None
    meter_count: int


class MarketGroupRevenue(RevenueFigures, RawModel):
    """One row of the market-group aggregation."""

    market_group: str
    meter_count: int
    performance_factor: OptFloat = None


class LoadTypeRevenue(RevenueFigures, RawModel):
    """One row of the load-type aggregation."""

    load_type: str
    meter_count: int


class UtilityMetric(LeapModel):
    """One line of a utility's capacity or energy breakdown."""

    quantity: OptFloat = None
    price: OptFloat = None
    performance: OptFloat = None
    revenue: float
    potential_revenue: OptFloat = None
    avg_price_kw: OptFloat = None


class UtilityRevenue(RawModel):
    """One row of the utility aggregation (its own shape: capacity_w and energy_wh blocks)."""

    utility: str
    capacity_w: dict[str, UtilityMetric] = Field(default_factory=dict)
    energy_wh: dict[str, UtilityMetric] = Field(default_factory=dict)
    delivery_period: OptStr = None
    delivery_start_date: YearMonth
    delivery_end_date: YearMonth
    total_revenue: float
    potential_revenue: float
    meter_count: int
    meters_dispatched_count: int
    nomination_w: OptFloat = None
    data_coverage_percentage: OptFloat = None
    monetized_w: OptFloat = None
    capacity_earned_w: OptFloat = None
    version: OptStr = None
    missed_revenue: OptFloat = None
    payment_adjustment: OptFloat = None
    penalty: OptFloat = None
    performance_adjustment: OptFloat = None
    capacity_revenue: OptFloat = None
    energy_revenue: OptFloat = None
    capacity_price: OptFloat = None
    energy_price_kwh: OptFloat = None


class RevenueSearchPage(LeapModel):
    """A page of a revenue aggregation search: the list under its own key, and the token."""

    meters: list[dict[str, Any]] | None = None
    customers: list[dict[str, Any]] | None = None
    market_groups: list[dict[str, Any]] | None = None
    load_types: list[dict[str, Any]] | None = None
    utilities: list[dict[str, Any]] | None = None
    page_token: OptStr = Field(default=None, validation_alias=_REVENUE_TOKEN)


class SettlementPeriod(LeapModel):
    """`{period_start, period_end}`, both `YYYY-MM`, the end inclusive."""

    period_start: YearMonth
    period_end: YearMonth


class ReportStatus(LeapModel):
    """The status of one report (a set of programs over a period) and its version."""

    programs: StrList = Field(default_factory=list)
    status: str
    updated_at: OptDatetime = None
    delivery_date: OptMonth = None
    delivery_start_date: YearMonth
    delivery_end_date: YearMonth
    version: OptStr = None


class CapacityMetrics(LeapModel):
    """The capacity block of a periodic report."""

    revenue: float
    earned_w: OptFloat = None
    delivered_w: OptFloat = None
    performance_percentage: OptFloat = None
    nomination_w: float
    monetized_w: OptFloat = None


class EnergyMetrics(LeapModel):
    """The energy block of a periodic report."""

    revenue: float
    earned_wh: OptFloat = None
    performance_percentage: OptFloat = None
    awarded_wh: OptFloat = None


class PeriodicReport(RawModel):
    """`GET /v1.1/revenue/periodic/reports`: the portfolio's figures over a period."""

    actual_revenue: float
    potential_revenue: OptFloat = None
    payment_adjustment: OptFloat = None
    penalty: OptFloat = None
    performance_adjustment: OptFloat = None
    data_coverage_percentage: OptFloat = None
    meters_dispatched_count: int
    total_meters_count: int
    dispatch_days_count: int
    dispatch_quantity_wh: OptFloat = None
    average_meter_revenue: float
    capacity: CapacityMetrics
    energy: EnergyMetrics
    settlement_period: SettlementPeriod
    programs: StrList = Field(default_factory=list)
    report_status: list[ReportStatus] = Field(default_factory=list)
    previous_adjusted_revenue: OptFloat = None
    performance_factor_percentage: OptFloat = None
    missed_revenue: OptFloat = None
    capacity_performance_period: dict[str, Any] | None = None

    _none_lists = field_validator("report_status", mode="before")(none_to_list)


class ReportVersion(RawModel):
    """One item of `GET /v1.1/revenue/periodic/versions`."""

    version: Annotated[str, Field(pattern=r"^V.+")]
    updated_at: UtcDatetime
    settlement_period: SettlementPeriod


class YearlyOverview(RawModel):
    """`GET /v1.1/revenue/yearly/{year}`: kept mostly raw (the page shows a few figures)."""

    yearly_summary: dict[str, Any]
    revenue_sources: dict[str, Any]
    regional_economics: dict[str, Any]
    unit_economics: dict[str, Any]
    reports: list[dict[str, Any]] = Field(default_factory=list)


class UnresponsiveMeter(RawModel):
    """One meter × program of the monthly unresponsive-meters diagnosis."""

    meter_id: UUID
    partner_reference: OptStr = None
    customer_name: OptStr = None
    customer_group: OptStr = None
    transmission_region: str
    program: str
    missed_revenue: OptFloat = None
    nomination_w: OptFloat = None
    response_percentage: float
    number_of_events: int
    historical_responsiveness: str


class UnresponsivePage(LeapModel):
    """A page of the unresponsive-meters diagnosis (meters kept raw, validated one by one)."""

    summary: dict[str, Any] | None = None
    meters: list[dict[str, Any]] = Field(default_factory=list)
    year_month: OptMonth = None
    page_token: OptStr = Field(default=None, validation_alias=_REVENUE_TOKEN)

    _none_lists = field_validator("meters", mode="before")(none_to_list)
