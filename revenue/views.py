"""Revenue pages: the portfolio by month, revenue at risk, the unresponsive-meters lane.

Views stay thin: revenue.queries and revenue.lane read, revenue.lane.update writes, every CSV
goes through `csv_response` (one place to switch to another CSV writer).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from leapportal import roles
from leapportal.htmx import wants_fragment
from leapportal.web import csvexport
from leapportal.web.listing import COUNT_CAP, paginate, parse_sort
from meters.models import Meter
from ops import queue
from revenue import charts, lane, queries
from revenue.actions import request_sync
from revenue.models import (
    MeterResponsiveness,
    MeterRevenue,
    ReportVersion,
    RevenueSyncRun,
    UnresponsiveWorkItem,
)


def csv_response(
    basename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> StreamingHttpResponse:
    """Every revenue CSV is written here (streamed; cells made safe for spreadsheets)."""
    return csvexport.stream_csv(basename, header, rows)


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
    template = "revenue/overview.html"
    if wants_fragment(request):
        template += "#breakdown"
    return render(request, template, context)


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
    chosen = queries.chosen_report(request.GET, queries.reports())
    if chosen is None:
        raise Http404("no revenue report yet")
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
    chosen = queries.chosen_report(request.GET, queries.reports())
    if chosen is None:
        raise Http404("no revenue report yet")
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
    chosen = queries.chosen_report(request.GET, queries.reports())
    if chosen is None:
        raise Http404("no revenue report yet")
    version = ReportVersion.objects.filter(
        report=chosen, version=request.GET.get("version") or chosen.current_version.version
    ).first()
    if version is None:
        raise Http404("no such version")
    rows = (
        MeterRevenue.objects.filter(version=version, previous_total_revenue__isnull=False)
        .exclude(total_revenue=models_f("previous_total_revenue"))
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


def models_f(name: str) -> Any:
    from django.db.models import F

    return F(name)


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
    template = "revenue/at_risk.html"
    if wants_fragment(request):
        template += "#risk-table"
    return render(request, template, context)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def at_risk_export(request: HttpRequest) -> StreamingHttpResponse:
    """The whole ranking of a month as CSV."""
    chosen = queries.chosen_report(request.GET, queries.reports())
    if chosen is None:
        raise Http404("no revenue report yet")
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


# --- the unresponsive-meters lane ----------------------------------------------------------------


def _lane_context(request: HttpRequest) -> dict[str, Any]:
    now = timezone.now()
    query = lane.parse(request.GET)
    sort = parse_sort(request.GET.get("sort"), lane.SORTS, default="missed")
    found = lane.rows(query, user=request.user, now=now)
    page = paginate(lane.with_work(found).order_by(*sort.order_by), request.GET, count=False)
    if not query.q:
        # Counted without the work columns (four subqueries a row), capped as paginate does.
        total = found.order_by()[: COUNT_CAP + 1].count()
        page.count, page.count_capped = min(total, COUNT_CAP), total > COUNT_CAP
    queries.attach_meters(page.items)
    side_counts = {
        side: queue.base_queryset(queue.parse({}), side=side)
        .filter(resolved_at__isnull=True)
        .count()
        for side in queue.SIDES
    }
    months = list(
        MeterResponsiveness.objects.order_by("-month")
        .values_list("month", flat=True)
        .distinct()[:12]
    )
    export = request.GET.copy()
    export.pop("page", None)
    return {
        "now": now,
        "query": query,
        "month": query.month or lane.latest_month(),
        "months": months,
        "page": page,
        "sort": sort,
        "states": lane.STATES,
        "kinds": lane.KINDS,
        "lane_counts": side_counts,
        "unresponsive_count": lane.count_open(now),
        "workers": queue.workers() if request.user.has_perm(roles.WORK_QUEUE) else [],
        "snooze_choices": queue.SNOOZE_CHOICES,
        "export_query": export.urlencode(),
    }


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def unresponsive(request: HttpRequest) -> HttpResponse:
    """The lane: meters that never or rarely respond, with the queue's workflow."""
    template = "revenue/unresponsive.html"
    if wants_fragment(request):
        template += "#lane-table"
    return render(request, template, _lane_context(request))


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def unresponsive_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered lane as CSV for a mail merge: contact, meter, diagnosis, work, email text."""
    now = timezone.now()
    query = lane.parse(request.GET)
    sort = parse_sort(request.GET.get("sort"), lane.SORTS, default="missed")
    found = lane.with_work(lane.rows(query, user=request.user, now=now)).order_by(*sort.order_by)
    reason = lane.guidance()

    def rows() -> Any:
        chunk: list[Any] = []
        for item in found.iterator(chunk_size=1000):
            chunk.append(item)
            if len(chunk) == 1000:
                yield from _export_rows(chunk, reason)
                chunk = []
        yield from _export_rows(chunk, reason)

    header = [
        "month", "meter_id", "partner_reference", "program", "region", "responsiveness",
        "response_percentage", "events", "missed_revenue", "our_customer", "our_site",
        "customer_name", "customer_email", "work_state", "assignee", "idled_at", "email_subject",
        "email_body",
    ]  # fmt: skip
    return csv_response("unresponsive-meters", header, rows())


def _export_rows(chunk: list[Any], reason: Any) -> Iterable[list[Any]]:
    queries.attach_meters(chunk)
    for r in chunk:
        subject = body = ""
        if reason is not None and r.meter is not None and reason.email_body:
            subject, body = reason.render_email(r.meter)
        yield [
            f"{r.month:%Y-%m}",
            r.meter_id,
            r.partner_reference,
            r.program,
            r.transmission_region,
            r.historical_responsiveness,
            r.response_percentage,
            r.events,
            r.missed_revenue,
            r.mapping.customer_id if r.mapping else "",
            r.mapping.site_id if r.mapping else "",
            (r.meter.end_customer_name if r.meter else "") or r.customer_name,
            r.meter.end_customer_email if r.meter else "",
            r.work_state or "new",
            r.work_assignee or "",
            r.work_idled_at.isoformat() if r.work_idled_at else "",
            subject,
            body,
        ]


def _lane_item(meter_id: uuid.UUID, program: str) -> dict[str, Any]:
    diagnosis = list(
        MeterResponsiveness.objects.filter(meter_id=meter_id, program=program).order_by("-month")
    )
    if not diagnosis:
        raise Http404("Leap's diagnosis never listed this meter and program")
    meter = Meter.objects.filter(pk=meter_id).defer("details_raw", "enrollment_raw").first()
    work = (
        UnresponsiveWorkItem.objects.select_related("assignee", "idled_by")
        .filter(meter_id=meter_id, program=program)
        .first()
    )
    latest = diagnosis[0]
    queries.attach_meters([latest])
    return {
        "row": latest,
        "diagnosis": diagnosis,
        "meter": meter,
        "mapping": latest.mapping,
        "work": work,
        "history": list(work.history.select_related("changed_by")[:30]) if work else [],
        "email": lane.email_for(meter),
        "reason": lane.guidance(),
        "steps": lane.IDLE_STEPS,
        "revenue": list(
            MeterRevenue.objects.filter(
                meter_id=meter_id,
                program=program,
                version__report__current_version=models_f("version"),
            )
            .select_related("version")
            .order_by("-month")[:12]
        ),
    }


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def unresponsive_detail(request: HttpRequest, meter_id: uuid.UUID, program: str) -> HttpResponse:
    """One meter × program of the lane: diagnosis by month, work, customer email, idle guide."""
    context = _lane_item(meter_id, program)
    context.update(
        work_states=UnresponsiveWorkItem.State.choices,
        workers=queue.workers() if request.user.has_perm(roles.WORK_QUEUE) else [],
        snooze_choices=queue.SNOOZE_CHOICES,
        can_work=request.user.has_perm(roles.WORK_QUEUE),
        now=timezone.now(),
    )
    return render(request, "revenue/unresponsive_detail.html", context)


class WorkForm(forms.Form):
    assignee = forms.CharField(required=False, max_length=150)
    state = forms.ChoiceField(
        required=False, choices=[("", "")] + UnresponsiveWorkItem.State.choices
    )
    note = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    snooze = forms.ChoiceField(required=False, choices=queue.SNOOZE_CHOICES)
    quick = forms.CharField(required=False, max_length=32)


def _detail_url(meter_id: uuid.UUID, program: str) -> str:
    return reverse("revenue:unresponsive_item", args=[meter_id, program])


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def unresponsive_work(request: HttpRequest, meter_id: uuid.UUID, program: str) -> HttpResponse:
    """Assign, move the state, note, snooze: every change audited."""
    if not MeterResponsiveness.objects.filter(meter_id=meter_id, program=program).exists():
        raise Http404("no such lane row")
    form = WorkForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not saved: {form.errors.as_text()}")
        return redirect(_detail_url(meter_id, program))
    data = form.cleaned_data
    changes: dict[str, Any] = {}
    quick = data["quick"]
    if quick == "me":
        changes["assignee"] = request.user
    elif quick in UnresponsiveWorkItem.State.values:
        changes["state"] = quick
    else:
        name = data["assignee"].strip()
        if name:
            worker = queue.workers().filter(username=name).first()
            if worker is None:
                messages.error(request, f"Not saved: {name!r} cannot work the queue.")
                return redirect(_detail_url(meter_id, program))
            changes["assignee"] = worker
        elif "assignee" in request.POST:
            changes["assignee"] = None
        if data["state"]:
            changes["state"] = data["state"]
        if "note" in request.POST:
            changes["note"] = data["note"]
        if data["snooze"]:
            changes["snoozed_until"] = queue.snooze_until(data["snooze"], timezone.now())
    _, changed = lane.update(meter_id, program, actor=request.user, **changes)
    messages.success(request, "Saved." if changed else "Nothing changed.")
    return redirect(_detail_url(meter_id, program))


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def unresponsive_idled(request: HttpRequest, meter_id: uuid.UUID, program: str) -> HttpResponse:
    """Record that the user idled the meter in Leap's Partner Portal, now."""
    if not MeterResponsiveness.objects.filter(meter_id=meter_id, program=program).exists():
        raise Http404("no such lane row")
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm you idled the meter in Leap's portal.")
        return redirect(_detail_url(meter_id, program))
    lane.update(meter_id, program, actor=request.user, idled=True)
    messages.success(request, "Recorded: you idled this meter in Leap's portal.")
    return redirect(_detail_url(meter_id, program))


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def sync_card(request: HttpRequest) -> HttpResponse:
    """The revenue sync's card of sync health alone (it polls itself while a run is active)."""
    from django.template import RequestContext, Template

    card = Template("{% load revenue %}{% revenue_sync_health %}")
    return HttpResponse(card.render(RequestContext(request, {})))


@require_POST
@permission_required(roles.START_SYNC, raise_exception=True)
def sync_now(request: HttpRequest) -> HttpResponse:
    """Start a revenue sync (or show the one already queued or running)."""
    run = request_sync(trigger="user", requested_by=request.user)
    messages.success(request, f"Revenue sync #{run.pk} is {run.status}.")
    return redirect(reverse("ops:sync_health") + "#revenue-sync")
