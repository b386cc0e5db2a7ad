"""Project-level pages: the home page and the health probe."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth.decorators import login_not_required, permission_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.http import require_GET

from leapportal import receivers, roles
from leapportal.heartbeat import last_worker_seen
from ops import health, overview

logger = logging.getLogger(__name__)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def home(request: HttpRequest) -> HttpResponse:
    """The overview ops open every morning: portfolio, actions, dispatches, groups, sync health."""
    now = timezone.now()
    context = {
        "now": now,
        "meters": overview.meters_by_status(),
        "actions": overview.actions_by_urgency(now),
        "dispatches": overview.upcoming_dispatches(now),
        "changing_groups": overview.changing_groups(now),
        "last_sync": health.last_good_sync(),
        "webhooks": health.delivery_counts(now - timedelta(hours=24)),
        "worker": last_worker_seen(),
    }
    return render(request, "home.html", context)


@require_GET
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database is reachable."""
    try:
        # Through the receivers' reconnect: their pool keeps no CONN_HEALTH_CHECKS, and a
        # connection dropped while idle is not the database being down.
        receivers.on_a_live_connection(_select_one)
    except DatabaseError as exc:
        logger.error("healthz: database unreachable: %s", exc)
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@require_GET
@login_not_required
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages without a <link rel=icon> (files, error pages)."""
    return redirect(static("img/favicon.svg"), permanent=True)
