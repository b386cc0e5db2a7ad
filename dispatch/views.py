"""Dispatch pages of the dashboard: the timeline, past events with their versions, the iCal feed."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from dispatch import alerts, chart, planning
from dispatch import timeline as timeline_q
from dispatch.models import DispatchTimeslot, RejectedTimeslot, UnknownMeterAlert
from leapportal import roles
from leapportal.htmx import render_page
from leapportal.models import CalendarToken
from leapportal.web import ical, timefmt
from leapportal.web.listing import paginate

ICAL_PAST = timedelta(days=7)
ICAL_AHEAD = timedelta(days=60)


@require_GET
@login_not_required  # calendars cannot log in: the per-user token in the URL authenticates
def ical_feed(request: HttpRequest, token: str) -> StreamingHttpResponse:
    """The user's dispatch calendar: a week back and two months ahead, cancelled ones included."""
    record = (
        CalendarToken.objects.select_related("user")
        .filter(token_sha256=CalendarToken.hash_token(token), revoked_at__isnull=True)
        .first()
    )
    # One answer for every refusal, so the feed does not tell valid tokens from invalid ones.
    if record is None or not record.user.is_active or not record.user.has_perm(roles.VIEW):
        raise Http404("unknown calendar")
    now = timezone.now()
    CalendarToken.objects.filter(pk=record.pk).update(last_used_at=now)
    slots = (
        DispatchTimeslot.objects.live()
        .filter(end_time__gt=now - ICAL_PAST, start_time__lt=now + ICAL_AHEAD)
        .select_related("market_group")
        .order_by("start_time", "event_id")
    )
    # Each event links back to its page on the dashboard (the calendar entry is a summary).
    page = request.build_absolute_uri(reverse("dispatch:event", args=[uuid.UUID(int=0)]))
    zero = str(uuid.UUID(int=0))
    lines = ical.calendar_lines(
        slots.iterator(chunk_size=1000),
        name="Leap dispatches",
        now=now,
        event_url=lambda slot: page.replace(zero, str(slot.event_id)),
    )
    response = StreamingHttpResponse(lines, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="leap-dispatches.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def timeline(request: HttpRequest) -> HttpResponse:
    """Upcoming dispatches by day or week, grouped by group, program or meter; or the past week."""
    now = timezone.now()
    mode = timefmt.display_mode(request)
    query = timeline_q.parse(request.GET, mode=mode, now=now)
    keys = timeline_q.timeslots(query)
    page = paginate(keys, request.GET, rows_from=timeline_q.with_rows(keys))
    axis = timeline_q.axis(query)
    context = {
        "query": query,
        "page": page,
        "rows": timeline_q.layout(page.items, query, mode),
        "axis": axis,
        "axis_ticks": timeline_q.axis_ticks(axis),
        "mode": mode,
        "now": now,
        "next_slot": timeline_q.next_start(now, include_tests=query.include_tests),
        "regions": timeline_q.regions(),
        "prev_date": query.shift(-query.span_days),
        "next_date": query.shift(query.span_days),
    }
    return render_page(request, "dispatch/timeline.html", context, fragment="dispatch-timeline")


def _with_segment_times(allocations: Any) -> list[Any]:
    """The allocations with their segments as datetimes (the template formats them per zone)."""
    out = []
    for alloc in allocations:
        alloc.segment_times = [(parse_datetime(a), parse_datetime(b)) for a, b in alloc.segments]
        out.append(alloc)
    return out


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def event_detail(request: HttpRequest, event_id: uuid.UUID) -> HttpResponse:
    """One dispatch event: every field, its versions with what changed, the plan, the findings."""
    slot = get_object_or_404(
        DispatchTimeslot.objects.select_related(
            "meter", "market_group", "first_delivery", "last_delivery"
        ),
        event_id=event_id,
    )
    mode = timefmt.display_mode(request)
    slot.region = timeline_q.slot_region(slot)
    context_zone = timeline_q.row_zone(slot, mode)
    context = {
        "slot": slot,
        "zone": context_zone,
        "versions": slot.versions.select_related("delivery").order_by("-version", "-pk"),
        "allocations": _with_segment_times(
            slot.allocations.select_related("meter", "overruled_by").order_by("meter_uuid")
        ),
        "findings": slot.findings.select_related("run").order_by("-found_at")[:20],
        "raw": json.dumps(slot.raw, indent=2, sort_keys=True),
        "now": timezone.now(),
        "charts": chart.charts_for(slot, context_zone),
        "bounds": planning.BOUNDS,
        "rejected": RejectedTimeslot.objects.filter(event_id=slot.event_id)[:20],
    }
    return render(request, "dispatch/event_detail.html", context)


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def dismiss_alert(request: HttpRequest, pk: int) -> HttpResponse:
    """An operator has dealt with an unknown-meter alert; back to the page it was on."""
    alert = get_object_or_404(UnknownMeterAlert, pk=pk)
    if alerts.dismiss(alert.pk, request.user):
        messages.success(request, f"Alert for meter {alert.meter_uuid} dismissed.")
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("home")
    return redirect(target)
