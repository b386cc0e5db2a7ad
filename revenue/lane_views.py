"""The unresponsive-meters lane's pages: the list, its CSV, one meter-program and working it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from leapportal import roles
from leapportal.htmx import render_page
from leapportal.web.listing import COUNT_CAP, paginate, parse_sort
from meters.models import Meter
from ops import queue
from revenue import lane, queries
from revenue.models import (
    MeterResponsiveness,
    MeterRevenue,
    UnresponsiveWorkItem,
)
from revenue.views import csv_response


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
    return render_page(
        request, "revenue/unresponsive.html", _lane_context(request), fragment="lane-table"
    )


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
                version__report__current_version=F("version"),
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
    changes = queue.work_changes(
        form.cleaned_data,
        request.POST,
        user=request.user,
        states=UnresponsiveWorkItem.State.values,
        now=timezone.now(),
    )
    if isinstance(changes, str):
        messages.error(request, f"Not saved: {changes}.")
        return redirect(_detail_url(meter_id, program))
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
