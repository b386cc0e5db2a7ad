"""What the revenue pages read: months, versions, breakdowns, the at-risk ranking.

Pages read the per-version sums (RevenueAggregate) and the version totals, never the 1.2 million
meter rows, except the at-risk ranking, which reads one page of one version through the partial
index on (version, risk).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.apps import apps
from django.db.models import QuerySet

from meters.models import Meter
from revenue.models import MeterRevenue, ReportVersion, RevenueAggregate, RevenueReport

DIMENSIONS = [(d.value, d.label) for d in RevenueAggregate.Dimension]
MONTHS_SHOWN = 12


def parse_month(raw: str | None) -> date | None:
    """`YYYY-MM` from a URL, or None when absent or malformed."""
    raw = (raw or "").strip()
    if len(raw) != 7 or raw[4] != "-":
        return None
    try:
        return date(int(raw[:4]), int(raw[5:]), 1)
    except ValueError:
        return None


def reports() -> list[RevenueReport]:
    """The last months that have a current version, newest first."""
    return list(
        RevenueReport.objects.exclude(current_version=None)
        .select_related("current_version")
        .order_by("-month")[:MONTHS_SHOWN]
    )


def current_version_ids() -> list[int]:
    """Every month's current version (one small query)."""
    return list(
        RevenueReport.objects.exclude(current_version=None).values_list(
            "current_version_id", flat=True
        )
    )


def chosen_report(params: Mapping[str, str], shown: list[RevenueReport]) -> RevenueReport | None:
    """The month a page is about: ?month=YYYY-MM if it has a report, else the latest."""
    month = parse_month(params.get("month"))
    if month is not None:
        for report in shown:
            if report.month == month:
                return report
        found = (
            RevenueReport.objects.exclude(current_version=None)
            .select_related("current_version")
            .filter(month=month)
            .first()
        )
        if found is not None:
            return found
    return shown[0] if shown else None


def pick_dimension(raw: str | None) -> str:
    values = [d for d, _ in DIMENSIONS]
    return raw if raw in values else "program"


BREAKDOWN_ROWS = 100  # shown on the page; the CSV has every row

BREAKDOWN_SORTS = {
    "earned": "-earned",
    "missed": "-missed",
    "potential": "-potential",
    "key": "key",
}


def breakdown(
    version: ReportVersion, dimension: str, sort: str = "earned"
) -> list[RevenueAggregate]:
    """The version's sums by one dimension."""
    order = BREAKDOWN_SORTS.get(sort, "-earned")
    rows = list(
        RevenueAggregate.objects.filter(version=version, dimension=dimension).order_by(order, "key")
    )
    peak = max((r.potential for r in rows), default=0) or 1.0
    for row in rows:
        row.earned_pct = round(100 * max(row.earned, 0) / peak, 1)
        row.missed_pct = round(100 * max(row.missed, 0) / peak, 1)
        row.change = None if row.previous_earned is None else row.earned - row.previous_earned
    return rows


@dataclass
class RiskQuery:
    program: str
    q: str


def risk_query(params: Mapping[str, str]) -> RiskQuery:
    return RiskQuery(
        program=(params.get("program") or "").strip()[:64], q=(params.get("q") or "").strip()[:200]
    )


def at_risk(version: ReportVersion, query: RiskQuery) -> QuerySet[MeterRevenue]:
    """The version's ranked meters: missed ÷ potential, highest first, 75%+ coverage only."""
    rows = MeterRevenue.objects.filter(version=version, risk__isnull=False)
    if query.program:
        rows = rows.filter(program=query.program)
    if query.q:
        try:
            rows = rows.filter(meter_id=uuid.UUID(query.q))
        except ValueError:
            rows = rows.filter(partner_reference__icontains=query.q)
    # The order of the partial index meterrevenue_version_risk (neither column is NULL here).
    return rows.order_by("-risk", "-missed_revenue", "pk")


def attach_meters(rows: list[Any], meter_key: str = "meter_id") -> None:
    """Attach each row's Meter (`.meter`) and our customer/site (`.mapping`), two queries."""
    ids = {getattr(r, meter_key) for r in rows}
    meters = {
        m.pk: m
        for m in Meter.objects.filter(pk__in=ids).only(
            "meter_id",
            "partner_reference",
            "end_customer_name",
            "end_customer_company_name",
            "end_customer_email",
            "street_1",
            "city",
            "utility_name",
            "electric_service_account_number",
            "transmission_region",
            "open_partner_actions",
            "open_leap_actions",
            "next_action_deadline",
        )
    }
    mappings: dict[Any, Any] = {}
    if apps.is_installed("mapping"):
        mapping_model = apps.get_model("mapping", "MeterMapping")
        mappings = {m.meter_id: m for m in mapping_model.objects.filter(meter_id__in=ids)}
    for row in rows:
        key = getattr(row, meter_key)
        row.meter = meters.get(key)
        row.mapping = mappings.get(key)
