"""Sync health: sync runs, next scheduled runs, webhook deliveries of both inboxes, reconcile
findings, failed deliveries and worker liveness. A top-floor page: it combines meters and dispatch.

Served at /meters/sync/ (the URL it always had) from ops/urls.py.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from dispatch import sweep
from dispatch.models import DispatchDelivery, ReconcileFinding, ReconcileRun
from leapportal import roles
from leapportal.heartbeat import heartbeats_latest_first, is_stale
from leapportal.htmx import render_page
from leapportal.web.listing import paginate, parse_sort
from meters.models import SyncRun, WebhookDelivery
from meters.views import active_runs
from ops import health

RUN_SORTS = {"created": ["created_at"], "kind": ["kind", "-created_at"], "status": ["status"]}


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def sync_health(request: HttpRequest) -> HttpResponse:
    """Sync runs, next scheduled runs, webhook deliveries, reconcile findings, worker liveness."""
    now = timezone.now()
    runs = SyncRun.objects.select_related("requested_by")
    kind = request.GET.get("kind", "")
    if kind in SyncRun.Kind.values:
        runs = runs.filter(kind=kind)
    else:
        kind = ""
    sort = parse_sort(request.GET.get("sort"), RUN_SORTS, default="-created")
    page = paginate(runs.order_by(*sort.order_by), request.GET, per_page=25)
    workers = list(heartbeats_latest_first()[:5])
    failed_dispatch, failed_dispatch_count = sweep.failed_with_count("dispatch")
    failed_meter, failed_meter_count = sweep.failed_with_count("meter")
    context = {
        "now": now,
        "page": page,
        "sort": sort,
        "kind": kind,
        "kinds": SyncRun.Kind.choices,
        "active": active_runs(),
        "next_runs": health.next_runs(now),
        "day": health.delivery_counts(now - timedelta(hours=24)),
        "recent_deliveries": WebhookDelivery.objects.defer("body", "headers").order_by(
            "-received_at"
        )[:10],
        "recent_dispatch_deliveries": DispatchDelivery.objects.defer("body", "headers").order_by(
            "-received_at"
        )[:10],
        "reconcile": ReconcileRun.objects.order_by("-started_at").first(),
        "findings": ReconcileFinding.objects.select_related("timeslot").order_by("-found_at")[:15],
        "workers": workers,
        # from the latest heartbeat just read (the stale banner reads its own, with the others)
        "worker_stale": is_stale(workers[0] if workers else None, now=now),
        "can_sync": request.user.has_perm(roles.START_SYNC),
        "failed_dispatch": failed_dispatch,
        "failed_dispatch_count": failed_dispatch_count,
        "failed_meter": failed_meter,
        "failed_meter_count": failed_meter_count,
        "sweeps": sweep.recent_sweeps(),
    }
    return render_page(request, "ops/sync_health.html", context, fragment="sync-runs")


@require_POST
@permission_required(roles.START_SYNC, raise_exception=True)
def process_again(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Queue a delivery that failed its retries once more (the button on sync health)."""
    if kind not in ("dispatch", "meter"):
        raise Http404("no such kind of delivery")
    if sweep.process_again(kind, pk, by=request.user.get_username()):
        messages.success(request, f"The {kind} delivery {pk} is queued to be processed again.")
    else:
        messages.info(request, f"The {kind} delivery {pk} is not failed (any more): nothing to do.")
    return redirect(reverse("ops:sync_health") + "#failed-deliveries")
