"""Template tags every app's pages use (`{% load dashboard %}`): market times, countdowns, sort
headers, the time-zone switch, filter selects, history values, saved views, safe links.

Shared layer: nothing here reads another app. The two tags that show the top floor's pages'
data (the stale banner, schedules in words) are ops' (`{% load ops_pages %}`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from leapportal.web import timefmt, urgency
from leapportal.web.mailto import plain_email

register = template.Library()


@register.simple_tag(takes_context=True)
def when(
    context: template.Context, value: datetime | None, region: str | None = None, fmt: str = ""
) -> SafeString:
    """{% when dt meter.transmission_region %}: the time in that market's zone (or UTC)."""
    zone = timefmt.zone_for(region, timefmt.display_mode(context.get("request")))
    return timefmt.format_dt(value, zone, fmt or "%Y-%m-%d %H:%M")


@register.simple_tag(takes_context=True)
def zone_name(context: template.Context, region: str | None = None) -> str:
    """The zone a region's times are shown in on this page, e.g. 'America/Los_Angeles (PST)'."""
    zone = timefmt.zone_for(region, timefmt.display_mode(context.get("request")))
    return f"{zone.key} ({timefmt.zone_label(zone)})"


@register.filter
def countdown(value: datetime | None) -> str:
    """'in 2d 4h' / '3h ago'."""
    return urgency.countdown(value, timezone.now())


@register.filter(name="urgency")
def urgency_class(value: datetime | None) -> str:
    """overdue / soon / later / none, for the urgency--* classes."""
    return urgency.urgency(value, timezone.now())


@register.simple_tag(takes_context=True)
def sort_th(context: template.Context, key: str, label: str, css: str = "") -> SafeString:
    """A sortable column header: a link that keeps every filter and toggles the direction."""
    sort = context["sort"]
    request = context["request"]
    params = request.GET.copy()
    params["sort"] = sort.toggled(key)
    params.pop("page", None)
    arrow = ""
    aria = "none"
    if sort.key == key:
        arrow = " ▼" if sort.descending else " ▲"
        aria = "descending" if sort.descending else "ascending"
    return format_html(
        '<th class="{}" aria-sort="{}"><a href="?{}">{}{}</a></th>',
        css,
        aria,
        params.urlencode(),
        label,
        arrow,
    )


@register.filter
def kw(value: Any) -> str:
    """A kW figure: '125.5', or 'max' for null (Leap: as much as the meter can)."""
    if value is None:
        return "max"
    return f"{value:,.1f}"


@register.inclusion_tag("partials/tz_switch.html", takes_context=True)
def tz_switch(context: template.Context) -> dict[str, Any]:
    """The market-time / UTC switch shown in page toolbars."""
    request = context.get("request")
    return {
        "mode": timefmt.display_mode(request),
        "next": request.get_full_path() if request else "/",
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def filter_select(field: Any) -> SafeString:
    """A <select> for a filter form's choice field, built in one pass.

    Django renders each <option> through its own template, which cost more than the rest of the
    meter list page (a select of a few hundred groups); this builds the same markup directly.
    """
    current = field.value()
    current = "" if current is None else str(current)
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (value, mark_safe(" selected") if str(value) == current else "", label)  # noqa: S308
            for value, label in field.field.choices
        ),
    )
    return format_html(
        '<select name="{}" id="{}">{}</select>', field.html_name, field.auto_id, options
    )


def _as_datetime(value: Any) -> datetime | None:
    """A datetime, or an ISO 8601 string with an offset (as JSON keeps them), else None."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and "T" in value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


@register.simple_tag(takes_context=True)
def history_value(context: template.Context, value: Any, region: str | None = None) -> Any:
    """A value kept in a history or a JSON field, shown as people read it.

    Times (stored as ISO strings) in the page's one format; lists joined; None as a dash.
    """
    if value is None or value == "":
        return mark_safe('<span class="muted">—</span>')  # noqa: S308 - a constant
    moment = _as_datetime(value)
    if moment is not None:
        return when(context, moment, region)
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


@register.inclusion_tag("partials/save_view.html", takes_context=True)
def save_view_form(context: template.Context, page: str) -> dict[str, Any]:
    """'Save this view': names the current filters of a list page (shown when there are any)."""
    request = context["request"]
    params = request.GET.copy()
    for transient in ("page",):
        params.pop(transient, None)
    return {
        "page_name": page,
        "query": params.urlencode(),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def mailto_link(address: str | None) -> str:
    """'mailto:a@b.example' for one plain email address; '' for anything else.

    The address comes from Leap: `a@b.example?bcc=someone@else` must not become a header of the
    mail the operator sends.
    """
    email = plain_email(address)
    return f"mailto:{email}" if email else ""


@register.filter
def web_link(url: str | None) -> str:
    """The URL when it is http(s) with a host; '' otherwise (no javascript:, data:, ...)."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme.lower() in {"http", "https"} and parts.netloc else ""
