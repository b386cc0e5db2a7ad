"""Template tags of the dispatch app: its alerts and problems, on the overview and sync health."""

from __future__ import annotations

from typing import Any

from django import template

from dispatch.models import DispatchTimeslot, RejectedTimeslot, UnknownMeterAlert
from leapportal import roles

register = template.Library()

SHOWN = 20


@register.inclusion_tag("dispatch/partials/unknown_meter_alerts.html", takes_context=True)
def unknown_meter_alerts(context: template.Context) -> dict[str, Any]:
    """Open alerts for meters Leap dispatched that we do not have, with a dismiss button."""
    request = context.get("request")
    alerts = UnknownMeterAlert.open()
    shown = list(alerts[:SHOWN])
    return {
        "alerts": shown,
        "total": alerts.count() if len(shown) == SHOWN else len(shown),
        "can_dismiss": bool(request and request.user.has_perm(roles.WORK_QUEUE)),
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "next": request.get_full_path() if request else "/",
    }


@register.inclusion_tag("dispatch/partials/dispatch_problems.html")
def dispatch_problems() -> dict[str, Any]:
    """Timeslots kept for breaking Leap's rules, and events waiting on (or failed) a Leap check."""
    rejected = list(RejectedTimeslot.objects.defer("raw")[:SHOWN])
    return {
        "rejected": rejected,
        "rejected_total": RejectedTimeslot.objects.count()
        if len(rejected) == SHOWN
        else len(rejected),
        "rechecks": list(
            DispatchTimeslot.objects.filter(recheck__in=["pending", "failed", "not_listed"])
            .order_by("-recheck_at")
            .only("event_id", "recheck", "recheck_note", "recheck_at", "level")[:SHOWN]
        ),
    }
