"""Showing UTC timestamps in a market's time zone, with the zone named, or in UTC.

Times are stored in UTC. A row is shown in the zone of its market (its transmission region) unless
the user chose UTC (leapportal.UserPreference). Exports always carry the offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

from leapportal.models import UserPreference
from leapportal.timezones import zone_for as zone_for_region
from leapportal.web.rowhtml import esc as _esc

UTC_ZONE = ZoneInfo("UTC")


def display_mode(request: HttpRequest | None) -> str:
    """'market' or 'utc' for this request's user; loaded once per request."""
    if request is None:
        return "market"
    cached = getattr(request, "_ops_tz_mode", None)
    if cached is not None:
        return cached
    mode = "market"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        mode = (
            UserPreference.objects.filter(user=user).values_list("time_zone", flat=True).first()
            or "market"
        )
    request._ops_tz_mode = mode  # type: ignore[attr-defined]
    return mode


def keep_mode(request: HttpRequest, mode: str | None) -> None:
    """Keep the user's preference read along with something else (the navigation's one query,
    leapportal.context_processors) for display_mode, unless it was read already."""
    if getattr(request, "_ops_tz_mode", None) is None:
        request._ops_tz_mode = mode or "market"  # type: ignore[attr-defined]


def zone_for(region: str | None, mode: str = "market") -> ZoneInfo:
    """The zone a row of this region is shown in, for the given display mode."""
    if mode == "utc" or not region:
        return UTC_ZONE
    return zone_for_region(region)  # the one region -> zone table (leapportal.timezones)


def zone_label(zone: ZoneInfo, at: datetime | None = None) -> str:
    """Short name of the zone at a moment, e.g. PDT, PST, CST, EST or UTC."""
    moment = at or datetime.now(UTC)
    return moment.astimezone(zone).tzname() or zone.key


def format_dt(value: datetime | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> SafeString:
    """A <time> element: local time with the zone's abbreviation; UTC and IANA name in the title.

    The markup of format_html with these five values, built directly: pages show it in every row
    (hundreds a page), and format_html's per-argument escaping was most of its cost.
    """
    if value is None:
        return mark_safe('<span class="muted">—</span>')  # noqa: S308 - a constant
    utc = value.astimezone(UTC)
    local = value.astimezone(zone)
    return mark_safe(  # noqa: S308 - every value escaped as format_html escapes it
        f'<time datetime="{_esc(utc.isoformat().replace("+00:00", "Z"))}" '
        f'title="{_esc(utc.strftime("%Y-%m-%d %H:%M UTC"))} ({_esc(zone.key)})">'
        f'{_esc(local.strftime(fmt))} <span class="tz">{_esc(local.tzname())}</span></time>'
    )


def iso_with_offset(value: datetime | None, zone: ZoneInfo = UTC_ZONE) -> str:
    """ISO 8601 with the offset, for exports: 2026-03-08T01:30:00-08:00."""
    if value is None:
        return ""
    return value.astimezone(zone).isoformat()


def market_today(zone: ZoneInfo, now: datetime) -> date:
    """The trade date it is now in the market's zone."""
    return now.astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day in UTC; 23 or 25 hours long on DST change days."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
