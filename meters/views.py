"""Meter pages of the dashboard: the list (with its CSV), the meter, a sync run.

Sync health, which combines meters and dispatch, is a top-floor page (ops/sync_health.py).
Views stay thin: forms filter, leapportal.web.listing sorts and pages, meters.actions starts syncs.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from leapportal import roles
from leapportal.htmx import render_page, wants_fragment
from leapportal.timezones import trade_date
from leapportal.web import csvexport, timefmt
from leapportal.web.listing import paginate, parse_sort
from meters import actions, extensions
from meters.capability import capability_of
from meters.forms import MeterFilterForm, mapping_installed
from meters.models import CapabilityOverride, GroupAssignment, Meter, ReasonCode, SyncRun

METER_SORTS = {
    "meter": ["partner_reference"],
    "customer": ["end_customer_name"],
    "region": ["transmission_region"],
    "status": ["global_enrollment_status"],
    "type": ["meter_type"],
    "deadline": ["next_action_deadline"],
    "updated": ["leap_updated_at"],
    "seen": ["last_seen_at"],
}
# Large JSON columns no list needs.
HEAVY = ("details_raw", "enrollment_raw")


def list_rows() -> QuerySet[Meter]:
    """Meters as a list shows them: without the raw payloads, with our mapping."""
    meters = Meter.objects.defer(*HEAVY)
    if mapping_installed():
        meters = meters.select_related("mapping")
    return meters


def filtered_meters(
    request: HttpRequest, *, rows: bool = True
) -> tuple[MeterFilterForm, QuerySet[Meter]]:
    """The meter list's form and queryset, exactly as the page and the CSV share them.

    rows=False: the filters alone, for picking a page's keys (no columns, no joins of its own).
    """
    form = MeterFilterForm(request.GET)
    meters = list_rows() if rows else Meter.objects.all()
    meters = form.apply(meters) if form.is_valid() else meters.none()
    return form, meters


def groups_today(meters: list[Meter], now: Any) -> dict[uuid.UUID, list[GroupAssignment]]:
    """Each meter's group(s) on today's trade date in its own market, in one query."""
    if not meters:
        return {}
    today = {m.pk: trade_date(m.transmission_region, now) for m in meters}
    found: dict[uuid.UUID, list[GroupAssignment]] = {}
    rows = GroupAssignment.objects.filter(
        meter_id__in=list(today), trade_date__in=set(today.values())
    ).select_related("market_group")
    for row in rows:
        if row.trade_date == today[row.meter_id]:
            found.setdefault(row.meter_id, []).append(row)
    return found


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def meter_list(request: HttpRequest) -> HttpResponse:
    """Search, filter and sort the portfolio; every filter lives in the URL."""
    form, meters = filtered_meters(request, rows=False)
    # The page's rows, read once the filters and sort have picked them (ops.listing.paginate):
    # the mapping join and the site-occupancy subqueries cost 51 lookups, not one per row an
    # OFFSET skips (page 150 read 7,500 rows with their joins for 50).
    # mapping app (when installed): site occupancy for the inline mapping cell's flags, in the
    # same query, registered from its AppConfig.ready (meters/extensions.py).
    rows = extensions.annotate_list(list_rows())
    sort = parse_sort(request.GET.get("sort"), METER_SORTS, default="meter")
    # A substring search scans the table; counting its matches would scan it a second time.
    searching = bool(form.is_valid() and form.cleaned_data.get("q"))
    page = paginate(
        meters.order_by(*sort.order_by), request.GET, count=not searching, rows_from=rows
    )
    now = timezone.now()
    groups = groups_today(page.items, now)
    for meter in page.items:
        meter.groups_today = groups.get(meter.pk, [])
    context = {
        "form": form,
        "page": page,
        "sort": sort,
        "now": now,
        "mapping": mapping_installed(),
        "export_query": request.GET.urlencode(),
    }
    return render_page(request, "meters/meter_list.html", context, fragment="meter-table")


EXPORT_FIELDS = [
    "meter_id",
    "partner_reference",
    "transmission_region",
    "global_enrollment_status",
    "action_required",
    "open_partner_actions",
    "open_leap_actions",
    "next_action_deadline",
    "meter_type",
    "load_types",
    "customer_classification",
    "customer_group",
    "tags",
    "end_customer_name",
    "end_customer_company_name",
    "end_customer_email",
    "end_customer_phone_number",
    "street_1",
    "street_2",
    "city",
    "state_or_province_code",
    "postal_code",
    "utility_name",
    "electric_service_account_number",
    "load_zone",
    "is_archived",
    "missing_since",
    "leap_created_at",
    "leap_updated_at",
    "last_seen_at",
]
EXPORT_TIMES = {"next_action_deadline", "missing_since", "leap_created_at", "leap_updated_at",
                "last_seen_at"}  # fmt: skip


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def meter_export(request: HttpRequest) -> StreamingHttpResponse:
    """Exactly the filtered, sorted list as CSV, streamed; times with their market offset."""
    _, meters = filtered_meters(request)
    sort = parse_sort(request.GET.get("sort"), METER_SORTS, default="meter")
    mapped = mapping_installed()
    columns = list(EXPORT_FIELDS)
    if mapped:
        columns += ["mapping__customer_id", "mapping__site_id", "mapping__label"]
    rows = meters.order_by(*sort.order_by).values_list(*columns)
    region_at = EXPORT_FIELDS.index("transmission_region")
    time_at = [i for i, name in enumerate(columns) if name in EXPORT_TIMES]

    def lines() -> Any:
        for row in rows.iterator(chunk_size=2000):
            out = list(row)
            zone = timefmt.zone_for(out[region_at] or None)
            for i in time_at:
                out[i] = timefmt.iso_with_offset(out[i], zone)
            yield out

    header = [c.replace("mapping__", "our_") for c in columns]
    return csvexport.stream_csv("meters", header, lines())


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def meter_detail(request: HttpRequest, meter_id: uuid.UUID) -> HttpResponse:
    """Everything we know about one meter, its history and (dispatch's fragment) its dispatches."""
    meter = get_object_or_404(
        Meter.objects.select_related("mapping") if mapping_installed() else Meter.objects,
        pk=meter_id,
    )
    now = timezone.now()
    actions = list(
        meter.required_actions.select_related("work_item__assignee").order_by(
            "resolved_at", "deadline", "code"
        )
    )
    codes = {c.code: c for c in ReasonCode.objects.filter(code__in={a.code for a in actions})}
    for action in actions:
        action.reason = codes.get(action.code)
    skip = {"details_raw", "enrollment_raw", "details_hash", "enrollment_hash"}
    fields = [
        (f.verbose_name, getattr(meter, f.attname), f.get_internal_type())
        for f in Meter._meta.concrete_fields
        if f.name not in skip
    ]
    context = {
        "meter": meter,
        "now": now,
        "fields": fields,
        "enrollments": meter.program_enrollments.select_related("market_group").order_by(
            "program_identifier", "delivery_period_start"
        ),
        "actions": actions,
        "preferences": meter.participation_preferences.order_by("start_time"),
        "assignments": meter.group_assignments.select_related("market_group").order_by(
            "-trade_date"
        )[:30],
        "today": trade_date(meter.transmission_region, now),
        "changes": meter.changes.order_by("-changed_at", "-pk")[:200],
        "events": meter.events.order_by("-occurred_at")[:50],
        "runs": [
            with_percent(r)
            for r in SyncRun.objects.filter(meter_id=meter.pk).order_by("-created_at")[:3]
        ],
        "details_raw": json.dumps(meter.details_raw, indent=2, sort_keys=True),
        "enrollment_raw": json.dumps(meter.enrollment_raw, indent=2, sort_keys=True),
        "mapping": mapping_installed(),
        **_capability_context(request, meter),
    }
    return render(request, "meters/meter_detail.html", context)


def _capability_context(request: HttpRequest, meter: Meter) -> dict[str, Any]:
    """What the dispatch planner takes this meter to be able to do, and our override of it."""
    override = CapabilityOverride.objects.filter(meter=meter).first()
    return {
        "override": override,
        "capability": capability_of(meter, override),
        "can_override": request.user.has_perm("meters.change_capabilityoverride"),
    }


def with_percent(run: SyncRun) -> SyncRun:
    """Attach the progress bar's percentage and its words, in meters.

    Leap gives no totals; the run estimates one. A full sync reads every meter twice (details,
    then enrollments), so its counters run to twice the portfolio: shown as the pass it is in
    and the meters of that pass, and once finished as the meters it saw.
    """
    if not run.is_active:
        run.percent = 100 if run.status in ("done", "held") else 0
    elif run.progress_total:
        run.percent = min(99, int(run.progress_done * 100 / run.progress_total))
    else:
        run.percent = 0
    run.phase = ""
    run.meters_done, run.meters_total = run.progress_done, run.progress_total
    if run.kind == SyncRun.Kind.FULL:
        per_pass = run.progress_total // 2 if run.progress_total else None
        run.meters_total = per_pass
        if run.is_active:
            if per_pass and run.progress_done > per_pass:
                run.phase, run.meters_done = (
                    "enrollments (pass 2 of 2)",
                    run.progress_done - per_pass,
                )
            else:
                run.phase = "meter details (pass 1 of 2)"
    if not run.is_active:
        run.meters_total = None
        seen = (run.created or 0) + (run.updated or 0) + (run.unchanged or 0)
        run.meters_done = seen or run.progress_done
    return run


@require_POST
@permission_required(roles.START_SYNC, raise_exception=True)
def sync_now(request: HttpRequest) -> HttpResponse:
    """Start a full or incremental sync (or show the one already running) with its progress."""
    kind = request.POST.get("kind", "incremental")
    if kind not in ("full", "incremental"):
        return HttpResponseBadRequest("kind must be 'full' or 'incremental'")
    run = actions.request_sync(kind, requested_by=request.user)
    if not wants_fragment(request):
        messages.info(request, f"{run.get_kind_display()} sync #{run.pk} is {run.status}.")
        return redirect("ops:sync_health")
    # The whole "running" area, so it never says "No sync running." above a running sync.
    return render(request, "meters/partials/sync_active.html", {"active": active_runs()})


def active_runs() -> list[SyncRun]:
    """The meter syncs running now (full and incremental), with their progress."""
    return [
        with_percent(run)
        for run in SyncRun.objects.filter(
            status__in=SyncRun.ACTIVE_STATUSES, kind__in=["full", "incremental"]
        )
        .select_related("requested_by")
        .order_by("created_at")
    ]


@require_POST
@permission_required(roles.START_SYNC, raise_exception=True)
def resync(request: HttpRequest, meter_id: uuid.UUID) -> HttpResponse:
    """Resync one meter from Leap now."""
    meter = get_object_or_404(Meter.objects.only("pk"), pk=meter_id)
    run = actions.request_sync("meter", requested_by=request.user, meter_id=meter.pk)
    if not wants_fragment(request):
        messages.info(request, f"Resync of this meter is {run.status}.")
        return redirect("meters:detail", meter_id=meter.pk)
    return render(request, "meters/partials/sync_progress.html", {"run": with_percent(run)})


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def sync_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress of one run; polled every second while active, then it stops itself."""
    run = get_object_or_404(SyncRun.objects.select_related("requested_by"), pk=pk)
    response = render(request, "meters/partials/sync_progress.html", {"run": with_percent(run)})
    if not run.is_active:
        # The re-rendered element carries no trigger, so polling stops; the runs table and the
        # meter page refresh themselves once.
        response["HX-Trigger"] = "syncFinished"
    return response
