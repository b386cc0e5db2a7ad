"""Pages of the alerts app: the alerts list and one alert, notification settings, message retry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from alerts import enqueue, evaluate, notify, sending
from alerts.forms import PreferenceForm
from alerts.models import Alert, OutboundMessage
from dispatch.models import DispatchTimeslot
from leapportal import roles
from leapportal.htmx import render_page, wants_fragment
from leapportal.web.listing import paginate, parse_sort

STATUS_FILTERS = {
    "live": ("Not resolved", Q(resolved_at__isnull=True)),
    "open": ("Open", Q(status="open")),
    "acknowledged": ("Acknowledged", Q(status="acknowledged")),
    "snoozed": ("Snoozed", Q(status="snoozed")),
    "resolved": ("Resolved", Q(status="resolved")),
    "all": ("All", Q()),
}
SORTS = {"raised": ["raised_at", "id"], "due": ["due_at", "id"], "kind": ["kind", "-raised_at"]}
SNOOZES = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1),
           "7d": timedelta(days=7)}  # fmt: skip


def _filtered(f: dict[str, str]) -> Any:
    found = Alert.objects.filter(STATUS_FILTERS[f["status"]][1])
    if f["kind"]:
        found = found.filter(kind=f["kind"])
    if f["severity"]:
        found = found.filter(severity=f["severity"])
    if f["q"]:
        found = found.filter(title__icontains=f["q"])
    return found


def _filters(params: Any) -> dict[str, str]:
    status = params.get("status", "live")
    kind = params.get("kind", "")
    severity = params.get("severity", "")
    return {
        "status": status if status in STATUS_FILTERS else "live",
        "kind": kind if kind in Alert.Kind.values else "",
        "severity": severity if severity in Alert.Severity.values else "",
        "q": (params.get("q") or "").strip()[:100],
    }


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def alert_list(request: HttpRequest) -> HttpResponse:
    """Alerts with filters (status, kind, severity, text); operators acknowledge and snooze."""
    f = _filters(request.GET)
    found = _filtered(f)
    sort = parse_sort(request.GET.get("sort"), SORTS, default="-raised")
    page = paginate(found.order_by(*sort.order_by), request.GET, count=not f["q"])
    counts = dict(
        Alert.objects.filter(resolved_at__isnull=True)
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    context = {
        "page": page, "sort": sort, "f": f, "statuses": [(k, v[0]) for k, v in STATUS_FILTERS.items()],
        "kinds": [(k, label, counts.get(k, 0)) for k, label in Alert.Kind.choices],
        "severities": Alert.Severity.choices, "can_work": request.user.has_perm(roles.WORK_QUEUE),
        "snoozes": list(SNOOZES), "now": timezone.now(),
    }  # fmt: skip
    return render_page(request, "alerts/alert_list.html", context, fragment="alert-table")


def subject_link(alert: Alert) -> str | None:
    """Where the cause of an alert can be looked at."""
    if alert.action_id:
        return reverse("ops:action", args=[alert.action_id])
    if alert.timeslot_id:  # a dispatch soon with unready members, an unknown meter's event
        event = DispatchTimeslot.objects.filter(pk=alert.timeslot_id).values("event_id").first()
        if event:
            return reverse("dispatch:event", args=[event["event_id"]])
        return reverse("dispatch:timeline")
    if alert.kind == Alert.Kind.METER_MISSING and alert.meter_id:
        return reverse("meters:detail", args=[alert.meter_id])
    return reverse("ops:sync_health")


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One alert: what it is about, its history (who changed it when)."""
    alert = get_object_or_404(Alert, pk=pk)
    context = {
        "alert": alert,
        "changes": alert.changes.select_related("by").order_by("at", "id"),
        "link": subject_link(alert),
        "can_work": request.user.has_perm(roles.WORK_QUEUE),
        "snoozes": list(SNOOZES),
        "now": timezone.now(),
    }
    return render(request, "alerts/alert_detail.html", context)


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def alert_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Acknowledge, snooze or reopen an alert (recorded with who and when)."""
    alert = get_object_or_404(Alert, pk=pk)
    action = request.POST.get("do", "")
    until = None
    if action == "acknowledge":
        target = Alert.Status.ACKNOWLEDGED
    elif action == "reopen":
        target = Alert.Status.OPEN
    elif action == "snooze" and request.POST.get("for") in SNOOZES:
        target = Alert.Status.SNOOZED
        until = timezone.now() + SNOOZES[request.POST["for"]]
    else:
        return HttpResponseBadRequest(
            "do must be acknowledge, reopen, or snooze with for=1h|4h|1d|7d"
        )
    try:
        evaluate.change_status(alert, target, by=request.user, until=until)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    if wants_fragment(request):
        alert.refresh_from_db()
        response = render(
            request,
            "alerts/partials/alert_row.html",
            {"a": alert, "can_work": True, "snoozes": list(SNOOZES), "now": timezone.now()},
        )
        response["HX-Trigger"] = "alertsChanged"
        return response
    messages.success(request, f"Alert #{alert.pk}: {target}.")
    nxt = request.POST.get("next", "")
    if nxt.startswith("/") and not nxt.startswith("//"):
        return redirect(nxt)
    return redirect("alerts:detail", pk=alert.pk)


@require_http_methods(["GET", "POST"])
@permission_required(roles.VIEW, raise_exception=True)
def preferences(request: HttpRequest) -> HttpResponse:
    """My notifications: email and/or chat, which kinds, immediately or digest, quiet hours."""
    pref = notify.start_preference(request.user)
    form = PreferenceForm(request.POST or None, instance=pref)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        if not (form.initial.get("email_enabled") or form.initial.get("chat_enabled")):
            if saved.email_enabled or saved.chat_enabled:  # switched on: from now, no backlog
                saved.last_alert_id = notify.start_preference_cursor()
        saved.updated_at = timezone.now()
        saved.save()
        messages.success(request, "Notification settings saved.")
        return redirect("alerts:prefs")
    recent = OutboundMessage.objects.filter(recipient_user=request.user).order_by("-created_at")[
        :10
    ]
    return render(
        request,
        "alerts/preferences.html",
        {"form": form, "pref": pref, "recent": recent, "account_email": request.user.email},
    )


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def message_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Put a failed message back in the queue (sent by the next pass of the send sweep)."""
    message = get_object_or_404(OutboundMessage, pk=pk)
    if sending.retry_now(message, by=request.user):
        enqueue.send_message(message.pk)
        messages.success(request, f"Message #{message.pk} to {message.to} queued again.")
    else:
        messages.info(request, f"Message #{message.pk} is {message.get_status_display()}.")
    nxt = request.POST.get("next", "")
    if nxt.startswith("/") and not nxt.startswith("//"):
        return redirect(nxt)
    return redirect("ops:sync_health")


@require_POST
@permission_required(roles.WORK_QUEUE, raise_exception=True)
def acknowledge_all(request: HttpRequest) -> HttpResponse:
    """Acknowledge every open alert matching the list's filters (each change recorded)."""
    f = _filters(request.POST)
    done = evaluate.acknowledge_all(_filtered(f), by=request.user)
    messages.success(request, f"{done} alert{'s' if done != 1 else ''} acknowledged.")
    query = urlencode({k: v for k, v in f.items() if v})
    return redirect(reverse("alerts:list") + (f"?{query}" if query else ""))
