"""Template tags of the dispatch app: the fragments of dispatch data other apps' pages show.

Its alerts and problems (overview, sync health) and a meter's dispatches (the meter page), so
those pages show dispatch data without importing dispatch.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.db.models import Q

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


@register.inclusion_tag("dispatch/partials/meter_dispatches.html", takes_context=True)
def meter_dispatches(context: template.Context, meter: Any) -> dict[str, Any]:
    """The meter page's dispatches: the last 30 days and upcoming, its own and its groups'."""
    now = context["now"]
    dispatches = (
        DispatchTimeslot.objects.for_ops()
        .filter(Q(meter=meter) | Q(level="group", group_meter_ids__contains=[str(meter.pk)]))
        .filter(end_time__gt=now - timedelta(days=30))
        .select_related("market_group")
        .order_by("start_time")[:100]
    )
    return {"dispatches": dispatches, "meter": meter, "now": now, "request": context.get("request")}
