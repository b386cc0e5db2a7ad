"""JSON feed of upcoming timeslots, for systems that pull rather than receive our webhooks.

GET /dispatch/feed.json with `Authorization: Bearer <token>`: the per-system API tokens of the
mapping app (mapping.ApiToken, issued and revoked in the admin), checked by its `token_required`
(mapping/tokens.py), so one token serves a system for both JSON APIs. Query:
`from`, `to` (ISO 8601 with offset; default now .. now + 48 h, at most 31 days apart),
`include_tests` (false), `include_cancelled` (true: a consumer must learn cancellations),
`meter_id` (only timeslots addressing that meter). Each timeslot is the same effective state
the outbound webhook sends, plus `version` and `changed_at`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from dispatch.comparable import comparable
from dispatch.models import DispatchAllocation, DispatchTimeslot
from dispatch.outbound import effective_state
from mapping.tokens import token_required

MAX_WINDOW = timedelta(days=31)
MAX_ITEMS = 2000


class BadQuery(ValueError):
    """A query parameter the feed cannot use."""


def _when(request: HttpRequest, name: str, default: datetime) -> datetime:
    """An aware datetime parameter."""
    raw = request.GET.get(name)
    if not raw:
        return default
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise BadQuery(f"{name} must be an ISO 8601 date-time with a UTC offset, got {raw!r}")
    return value


def _flag(request: HttpRequest, name: str, default: bool) -> bool:
    """A true/false parameter."""
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"true", "1", "yes"}:
        return True
    if raw.lower() in {"false", "0", "no"}:
        return False
    raise BadQuery(f"{name} must be true or false, got {raw!r}")


@require_GET
@token_required(write=False)
def feed(request: HttpRequest) -> JsonResponse:
    """Upcoming timeslots with our plan for each, for the calling system."""
    now = timezone.now()
    try:
        start = _when(request, "from", now)
        end = _when(request, "to", now + timedelta(hours=48))
        include_tests = _flag(request, "include_tests", False)
        include_cancelled = _flag(request, "include_cancelled", True)
        meter_raw = request.GET.get("meter_id")
        meter_id = uuid.UUID(meter_raw) if meter_raw else None
    except BadQuery as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except ValueError:
        return JsonResponse({"error": "meter_id must be a UUID"}, status=400)
    if end <= start or end - start > MAX_WINDOW:
        return JsonResponse({"error": "to must be after from, at most 31 days later"}, status=400)

    timeslots = DispatchTimeslot.objects.for_ops(include_tests=include_tests).overlapping(
        start, end
    )
    if not include_cancelled:
        timeslots = timeslots.filter(cancelled=False)
    if meter_id is not None:
        timeslots = timeslots.filter(
            pk__in=DispatchAllocation.objects.filter(meter_uuid=meter_id).values("timeslot_id")
        )
    page = list(
        timeslots.order_by("start_time", "event_id").prefetch_related("allocations__overruled_by")[
            : MAX_ITEMS + 1
        ]
    )
    items = [
        {**effective_state(ts), "version": ts.version, "changed_at": comparable(ts.changed_at)}
        for ts in page[:MAX_ITEMS]
    ]
    return JsonResponse(
        {
            "generated_at": comparable(now),
            "from": comparable(start),
            "to": comparable(end),
            "count": len(items),
            "truncated": len(page) > MAX_ITEMS,
            "timeslots": items,
        }
    )
