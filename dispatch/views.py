"""Dispatch pages of the dashboard: the timeline, past events with their versions, the iCal feed."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dispatch.models import DispatchTimeslot
from leapportal import roles
from ops import ical
from ops.models import CalendarToken

ICAL_PAST = timedelta(days=7)
ICAL_AHEAD = timedelta(days=60)


@require_GET
@login_not_required  # calendars cannot log in: the per-user token in the URL authenticates
def ical_feed(request: HttpRequest, token: str) -> StreamingHttpResponse:
    """The user's dispatch calendar: a week back and two months ahead, cancelled ones included."""
    record = (
        CalendarToken.objects.select_related("user")
        .filter(token_sha256=CalendarToken.hash_token(token))
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
    lines = ical.calendar_lines(slots.iterator(chunk_size=1000), name="Leap dispatches", now=now)
    response = StreamingHttpResponse(lines, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="leap-dispatches.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
