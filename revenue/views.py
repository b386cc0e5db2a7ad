"""Revenue pages: the portfolio by month, revenue at risk, the sync card (the unresponsive-meters
lane is revenue/lane_views.py).

Views stay thin: revenue.queries and revenue.lane read, revenue.lane.update writes, every CSV
goes through `csv_response` (one place to switch to another CSV writer).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template import RequestContext, Template
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from leapportal import roles
from leapportal.htmx import render_page
from leapportal.web import csvexport
from leapportal.web.listing import paginate
from revenue import charts, queries
from revenue.actions import request_sync
from revenue.models import (
    MeterRevenue,
    ReportVersion,
    RevenueReport,
    RevenueSyncRun,
)


def csv_response(
    basename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> StreamingHttpResponse:
    """Every revenue CSV is written here (streamed; cells made safe for spreadsheets)."""
    return csvexport.stream_csv(basename, header, rows)


def _chosen_or_404(request: HttpRequest) -> RevenueReport:
    """The month the export asks for (?month=, else the latest); 404 before the first sync."""
    chosen = queries.chosen_report(request.GET, queries.reports())
    if chosen is None:
        raise Http404("no revenue report yet")
    return chosen


def _month_bars(shown: list[Any], chosen: Any, request: HttpRequest) -> list[charts.MonthBar]:
    bars = []
    for report in reversed(shown):
        version = report.current_version
        bars.append(
            charts.MonthBar(
                label=f"{report.month:%Y-%m}",
                earned=version.earned,
                missed=version.missed,
                potential=version.potential,
                preliminary=not version.is_final,
                selected=chosen is not None and report.pk == chosen.pk,
                href=f"{reverse('revenue:overview')}?month={report.month:%Y-%m}"
                f"&by={request.GET.get('by', 'program')}",
            )
        )
    return bars


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def overview(request: HttpRequest) -> HttpResponse:
    """Earned, potential and missed revenue by month, a month's breakdown and its versions."""
    shown = queries.reports()
    chosen = queries.chosen_report(request.GET, shown)
    dimension = queries.pick_dimension(request.GET.get("by"))
    sort = request.GET.get("sort", "earned")
    version = chosen.current_version if chosen else None
    breakdown = queries.breakdown(version, dimension, sort) if version else []
    context: dict[str, Any] = {
        "reports": shown,
        "chosen": chosen,
        "version": version,
        "dimension": dimension,
        "dimensions": queries.DIMENSIONS,
        "sort": sort if sort in queries.BREAKDOWN_SORTS else "earned",
        "chart": charts.revenue_by_month(_month_bars(shown, chosen, request)),
        "breakdown": breakdown[: queries.BREAKDOWN_ROWS],
        "breakdown_total": len(breakdown),
        "breakdown_rows": queries.BREAKDOWN_ROWS,
        "versions": list(
            ReportVersion.objects.filter(report=chosen).order_by("-number") if chosen else []
        ),
        "last_run": RevenueSyncRun.objects.order_by("-created_at").first(),
    }
    return render_page(request, "revenue/overview.html", context, fragment="breakdown")


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def months_export(request: HttpRequest) -> StreamingHttpResponse:
    """Every month's current figures (the overview's table) as CSV."""
    header = ["month", "status", "version", "earned", "potential", "missed", "penalty", "meters"]
    rows = (
        [
            f"{r.month:%Y-%m}",
            r.current_version.status,
            r.current_version.version,
            round(r.current_version.earned, 2),
            round(r.current_version.potential, 2),
            round(r.current_version.missed, 2),
            round(r.current_version.penalty, 2),
            r.current_version.rows,
        ]
        for r in queries.reports()
    )
    return csv_response("revenue-months", header, rows)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def breakdown_export(request: HttpRequest) -> StreamingHttpResponse:
    """A month's breakdown by one dimension as CSV."""
    chosen = _chosen_or_404(request)
    dimension = queries.pick_dimension(request.GET.get("by"))
    version = chosen.current_version
    header = [
        "month", "version", "status", dimension, "meters", "earned", "potential", "missed",
        "earned_in_previous_version",
    ]  # fmt: skip
    rows = (
        [
            f"{chosen.month:%Y-%m}",
            version.version,
            version.status,
            a.key,
            a.meters,
            round(a.earned, 2),
            round(a.potential, 2),
            round(a.missed, 2),
            None if a.previous_earned is None else round(a.previous_earned, 2),
        ]
        for a in queries.breakdown(version, dimension)
    )
    return csv_response(f"revenue-{chosen.month:%Y-%m}-by-{dimension}", header, rows)


METER_COLUMNS = [
    "meter_id", "partner_reference", "program", "market_group", "utility", "customer",
    "revenue_type", "nomination_w", "capacity_revenue", "energy_revenue", "total_revenue",
    "potential_revenue", "missed_revenue", "penalty", "payment_adjustment", "data_coverage",
    "response_percentage", "events", "historical_responsiveness", "previous_total_revenue", "risk",
]  # fmt: skip


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def meters_export(request: HttpRequest) -> StreamingHttpResponse:
    """Every meter row of a month's version (?version=V1 for an older one) as CSV."""
    chosen = _chosen_or_404(request)
    version = chosen.current_version
    wanted = request.GET.get("version")
    if wanted:
        version = ReportVersion.objects.filter(report=chosen, version=wanted).first() or version
    rows = (
        MeterRevenue.objects.filter(version=version)
        .order_by("pk")
        .values_list(*METER_COLUMNS)
        .iterator(chunk_size=5000)
    )
    return csv_response(
        f"revenue-{chosen.month:%Y-%m}-{version.version}-meters",
        ["month", "version", "status", *METER_COLUMNS],
        ([f"{chosen.month:%Y-%m}", version.version, version.status, *row] for row in rows),
    )


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def changes_export(request: HttpRequest) -> StreamingHttpResponse:
    """Meters whose total changed between a month's version and the one before, as CSV."""
    chosen = _chosen_or_404(request)
    version = ReportVersion.objects.filter(
        report=chosen, version=request.GET.get("version") or chosen.current_version.version
    ).first()
    if version is None:
        raise Http404("no such version")
    rows = (
        MeterRevenue.objects.filter(version=version, previous_total_revenue__isnull=False)
        .exclude(total_revenue=F("previous_total_revenue"))
        .order_by("meter_id")
        .values_list(
            "meter_id", "partner_reference", "program", "previous_total_revenue", "total_revenue"
        )  # fmt: skip
        .iterator(chunk_size=5000)
    )
    previous = version.previous.version if version.previous else ""
    return csv_response(
        f"revenue-{chosen.month:%Y-%m}-{previous}-to-{version.version}",
        [
            "meter_id",
            "partner_reference",
            "program",
            f"total_{previous}",
            f"total_{version.version}",
            "change",
        ],
        ([m, ref, p, before, after, round(after - before, 2)] for m, ref, p, before, after in rows),
    )


RISK_SORTS = {"risk": ["-risk", "-missed_revenue"]}


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def at_risk(request: HttpRequest) -> HttpResponse:
    """Meters ranked by missed ÷ potential revenue (75%+ data coverage only) for a month."""
    shown = queries.reports()
    chosen = queries.chosen_report(request.GET, shown)
    query = queries.risk_query(request.GET)
    page = None
    if chosen is not None:
        page = paginate(
            queries.at_risk(chosen.current_version, query), request.GET, count=not query.q
        )
        queries.attach_meters(page.items)
    context = {
        "reports": shown,
        "chosen": chosen,
        "version": chosen.current_version if chosen else None,
        "page": page,
        "query": query,
        "min_coverage": 75,
    }
    return render_page(request, "revenue/at_risk.html", context, fragment="risk-table")


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def at_risk_export(request: HttpRequest) -> StreamingHttpResponse:
    """The whole ranking of a month as CSV."""
    chosen = _chosen_or_404(request)
    rows = (
        queries.at_risk(chosen.current_version, queries.risk_query(request.GET))
        .values_list(
            "meter_id",
            "partner_reference",
            "program",
            "market_group",
            "customer",
            "potential_revenue",
            "total_revenue",
            "missed_revenue",
            "risk",
            "data_coverage",
            "response_percentage",
            "events",
        )  # fmt: skip
        .iterator(chunk_size=5000)
    )
    header = [
        "rank", "meter_id", "partner_reference", "program", "market_group", "leap_customer",
        "potential", "earned", "missed", "missed_share", "data_coverage", "response_percentage",
        "events",
    ]  # fmt: skip
    return csv_response(
        f"revenue-at-risk-{chosen.month:%Y-%m}",
        header,
        ([n, *row] for n, row in enumerate(rows, start=1)),
    )


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def sync_card(request: HttpRequest) -> HttpResponse:
    """The revenue sync's card of sync health alone (it polls itself while a run is active)."""
    card = Template("{% load revenue %}{% revenue_sync_health %}")
    return HttpResponse(card.render(RequestContext(request, {})))


@require_POST
@permission_required(roles.START_SYNC, raise_exception=True)
def sync_now(request: HttpRequest) -> HttpResponse:
    """Start a revenue sync (or show the one already queued or running)."""
    run = request_sync(trigger="user", requested_by=request.user)
    messages.success(request, f"Revenue sync #{run.pk} is {run.status}.")
    return redirect(reverse("ops:sync_health") + "#revenue-sync")
