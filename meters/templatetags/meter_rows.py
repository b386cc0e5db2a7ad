"""`{% load meter_rows %}{% meter_rows page %}`: the meter list's rows, rendered in Python.

The list shows 50-100 dense rows; as a template included per row (with a mapping cell included
per row in turn) they cost most of the page's time: ~30 variable lookups, filters and tags each,
every one through the template engine. This builds the same markup, byte for byte, with
format_html and conditional_escape: every value from Leap or from people is escaped as the
template escaped it. templates/meters/partials/meter_row.html is that template, kept as the
reference tests/dashboard/test_page_cost.py compares this with: change both together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from leapportal.templatetags.links import id_url
from leapportal.web import timefmt, urgency
from meters import extensions
from meters.models import Meter

register = template.Library()

_DASH = mark_safe('<span class="muted">—</span>')  # noqa: S308 - a constant


def _text(value: Any) -> SafeString:
    """`{{ value }}` with autoescape: localized, as text, escaped (None shows as "None")."""
    return conditional_escape(localize(value))


def _join(values: Any, separator: str) -> SafeString:
    """`{{ values|join:separator }}` with autoescape (a value that is not iterable as it is)."""
    try:
        return mark_safe(  # noqa: S308 - every part escaped
            conditional_escape(separator).join(conditional_escape(v) for v in values)
        )
    except TypeError:
        return _text(values)


class _Row:
    """What every row of one page shares: the time zones, now, the page's URLs, the cells."""

    def __init__(self, context: template.Context, mapping: bool) -> None:
        request = context.get("request")
        self.mode = timefmt.display_mode(request)
        self.zones: dict[str, ZoneInfo] = {}
        self.now = timezone.now()
        self.actions_url = conditional_escape(reverse("ops:actions"))
        self.cells: list[Callable[[Meter], SafeString]] = (
            [cell(request) for cell in extensions.list_cells()] if mapping else []
        )

    def when(self, value: datetime | None, region: str | None, fmt: str = "") -> SafeString:
        """`{% when value region fmt %}` (leapportal.templatetags.dashboard.when)."""
        key = region or ""
        zone = self.zones.get(key)
        if zone is None:
            zone = self.zones[key] = timefmt.zone_for(region, self.mode)
        return timefmt.format_dt(value, zone, fmt or "%Y-%m-%d %H:%M")

    def render(self, meter: Meter) -> SafeString:
        """One <tr>, as meters/partials/meter_row.html renders it."""
        return format_html(
            '<tr id="meter-{}" class="{}">\n'
            "  <td>{}</td>\n  <td>{}</td>\n"
            '  <td class="small">{}</td>\n'
            "  <td>{}</td>\n  <td>{}</td>\n"
            '  <td class="small">{}</td>\n  <td class="small">{}</td>\n  <td class="small">{}</td>\n'
            '  <td class="num">{}</td>\n'
            '  <td class="nowrap urgency--{}">{}</td>\n'
            "  \n"
            "  {}\n"
            '  <td class="nowrap small">{}</td>\n'
            "</tr>\n",
            _text(meter.pk),
            "is-missing" if meter.missing_since else "is-archived" if meter.is_archived else "",
            self._meter(meter),
            self._customer(meter),
            self._address(meter),
            _text(meter.transmission_region),
            self._status(meter),
            _text(meter.meter_type or ""),
            _join(meter.load_types, ", "),
            self._groups(meter),
            self._actions(meter),
            urgency.urgency(meter.next_action_deadline, self.now),
            self._deadline(meter),
            mark_safe(  # noqa: S308 - each cell escapes what it shows
                "".join(f'<td class="small">{cell(meter)}</td>' for cell in self.cells)
            ),
            self.when(meter.leap_updated_at, meter.transmission_region),
        )

    @staticmethod
    def _meter(meter: Meter) -> SafeString:
        return format_html(
            '<a href="{}">{}</a><div class="mono small muted">{}</div>',
            id_url(meter.pk, "meters:detail"),
            meter.partner_reference or "(no reference)",
            Truncator(str(meter.pk)).chars(13),
        )

    @staticmethod
    def _customer(meter: Meter) -> SafeString:
        company = meter.end_customer_company_name
        return format_html(
            "{}{}",
            meter.end_customer_name or "",
            format_html('<div class="small muted">{}</div>', company) if company else "",
        )

    @staticmethod
    def _address(meter: Meter) -> SafeString:
        return format_html(
            "{}{} {}",
            meter.street_1 or "",
            format_html(", {}", meter.city) if meter.city else "",
            meter.state_or_province_code or "",
        )

    @staticmethod
    def _status(meter: Meter) -> SafeString:
        status = meter.global_enrollment_status
        return format_html(
            '<span class="badge badge--{}">{}</span>{}{}',
            _text(status),
            status or "—",
            mark_safe(' <span class="badge">archived</span>') if meter.is_archived else "",  # noqa: S308
            mark_safe(  # noqa: S308 - a constant
                ' <span class="badge badge--bad" title="Leap no longer lists it">missing</span>'
            )
            if meter.missing_since
            else "",
        )

    @staticmethod
    def _groups(meter: Meter) -> SafeString:
        assignments: Iterable[Any] = getattr(meter, "groups_today", None) or ()
        links = [
            format_html(
                '<a href="{}">{}</a>',
                id_url(ga.market_group_id, "ops:group"),
                _text(ga.market_group.name or ga.market_group_id),
            )
            for ga in assignments
        ]
        return mark_safe(", ".join(links)) if links else _DASH  # noqa: S308 - each link escaped

    def _actions(self, meter: Meter) -> SafeString:
        partner, leap = meter.open_partner_actions, meter.open_leap_actions
        return format_html(
            "{}{}",
            format_html(
                '<a class="badge badge--warn" title="open partner actions: in the queue" '
                'href="{}?q={}">{}</a>',
                self.actions_url,
                _text(meter.pk),
                _text(partner),
            )
            if partner
            else "",
            format_html(
                ' <span class="badge badge--info" title="open Leap-side actions">L{}</span>',
                _text(leap),
            )
            if leap
            else "",
        )

    def _deadline(self, meter: Meter) -> SafeString:
        deadline = meter.next_action_deadline
        if not deadline:
            return mark_safe("")
        return format_html(
            '{} <span class="small">{}</span>',
            self.when(deadline, meter.transmission_region, "%Y-%m-%d"),
            urgency.countdown(deadline, self.now),
        )


@register.simple_tag(takes_context=True)
def meter_rows(context: template.Context, meters: Iterable[Meter]) -> SafeString:
    """Every row of the page (the list's `mapping` flag adds the registered cells)."""
    row = _Row(context, bool(context.get("mapping")))
    return mark_safe("".join(row.render(meter) for meter in meters))  # noqa: S308 - escaped rows
