"""Revenue pieces other pages include: the queue's lane tab, sync health, the meter's months."""

from __future__ import annotations

from typing import Any

from django import template

from leapportal import roles
from revenue import charts, lane
from revenue.models import (
    InvalidRevenueRecord,
    MeterResponsiveness,
    MeterRevenue,
    ReportVersion,
    RevenueSyncRun,
)
from revenue.queries import current_version_ids

register = template.Library()


@register.filter
def money(value: Any) -> str:
    """$1,234 (cents under $100)."""
    try:
        return charts.money(None if value is None else float(value))
    except (TypeError, ValueError):
        return "—"


@register.filter
def pct(value: Any) -> str:
    """12.3% from a 0-100 figure, or from a 0-1 share with `share`."""
    if value is None:
        return "—"
    return f"{float(value):.1f}%"


@register.filter
def share(value: Any) -> str:
    """A 0-1 share as a percentage."""
    if value is None:
        return "—"
    return f"{100 * float(value):.1f}%"


@register.filter
def signed_money(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return sign + charts.money(abs(value))


@register.simple_tag
def unresponsive_lane_count() -> int:
    """Open rows of the unresponsive-meters lane (the queue's tab badge)."""
    return lane.count_open()


@register.inclusion_tag("revenue/partials/sync_health.html", takes_context=True)
def revenue_sync_health(context: template.Context) -> dict[str, Any]:
    """The revenue sync's card on sync health: runs, progress, what Leap sent that was invalid."""
    request = context.get("request")
    runs = list(RevenueSyncRun.objects.select_related("requested_by")[:5])
    return {
        "runs": runs,
        "active": any(run.is_active for run in runs),
        "invalid_versions": list(
            ReportVersion.objects.filter(state=ReportVersion.State.INVALID).select_related(
                "report"
            )[:10]
        ),
        "invalid_records": list(InvalidRevenueRecord.objects.select_related("version")[:10]),
        "can_sync": bool(request and request.user.has_perm(roles.START_SYNC)),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("revenue/partials/meter_months.html")
def meter_revenue(meter: Any) -> dict[str, Any]:
    """The meter page's revenue and responsiveness by month (current versions)."""
    rows = list(
        MeterRevenue.objects.filter(meter_id=meter.pk, version_id__in=current_version_ids())
        .select_related("version")
        .order_by("-month", "program")[:24]
    )
    diagnosis = {
        (d.month, d.program): d for d in MeterResponsiveness.objects.filter(meter_id=meter.pk)
    }
    for row in rows:
        row.diagnosed = diagnosis.get((row.month, row.program))
    ordered = sorted(rows, key=lambda r: r.month)
    return {
        "meter": meter,
        "rows": rows,
        "spark": charts.spark([r.response_percentage for r in ordered]),
        "earned": sum(r.total_revenue for r in rows),
        "missed": sum(r.missed_revenue or 0 for r in rows),
    }
