"""`{% load meter_rows %}{% meter_rows page %}`: the meter list's rows, rendered in Python.

The list shows 50-100 dense rows; as a template included per row (with a mapping cell included
per row in turn) they cost most of the page's time: ~30 variable lookups, filters and tags each,
every one through the template engine. This builds the same markup, byte for byte, in plain
Python strings: every value from Leap or from people goes through conditional_escape's rule
(`_esc`), as the template escaped it. templates/meters/partials/meter_row.html is that template,
kept as the reference tests/dashboard/test_page_cost.py compares this with: change both together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from leapportal.templatetags.links import id_url
from leapportal.web import rowhtml, timefmt, urgency
from meters import extensions
from meters.models import Meter

register = template.Library()

_DASH = '<span class="muted">—</span>'


_esc, _text, _join = rowhtml.esc, rowhtml.text, rowhtml.join


class _Row:
    """What every row of one page shares: the time zones, now, the page's URLs, the cells.

    Each method returns escaped HTML as a str: every value it shows went through _esc or _text
    (or is a SafeString of leapportal.web.timefmt or of a registered cell).
    """

    def __init__(self, context: template.Context, mapping: bool) -> None:
        request = context.get("request")
        self.mode = timefmt.display_mode(request)
        self.zones: dict[str, ZoneInfo] = {}
        self.now = timezone.now()
        self.actions_url = _esc(reverse("ops:actions"))
        self.cells: list[Callable[[Meter], SafeString]] = (
            [cell(request) for cell in extensions.list_cells()] if mapping else []
        )

    def when(self, value: datetime | None, region: str | None, fmt: str = "") -> str:
        """`{% when value region fmt %}` (leapportal.templatetags.dashboard.when)."""
        key = region or ""
        zone = self.zones.get(key)
        if zone is None:
            zone = self.zones[key] = timefmt.zone_for(region, self.mode)
        return _esc(timefmt.format_dt(value, zone, fmt or "%Y-%m-%d %H:%M"))

    def render(self, meter: Meter) -> str:
        """One <tr>, as meters/partials/meter_row.html renders it."""
        css = "is-missing" if meter.missing_since else "is-archived" if meter.is_archived else ""
        region = meter.transmission_region
        cells = "".join(f'<td class="small">{_esc(cell(meter))}</td>' for cell in self.cells)
        return (
            f'<tr id="meter-{_text(meter.pk)}" class="{css}">\n'
            f"  <td>{self._meter(meter)}</td>\n"
            f"  <td>{self._customer(meter)}</td>\n"
            f'  <td class="small">{self._address(meter)}</td>\n'
            f"  <td>{_text(region)}</td>\n"
            f"  <td>{self._status(meter)}</td>\n"
            f'  <td class="small">{_text(meter.meter_type or "")}</td>\n'
            f'  <td class="small">{_join(meter.load_types, ", ")}</td>\n'
            f'  <td class="small">{self._groups(meter)}</td>\n'
            f'  <td class="num">{self._actions(meter)}</td>\n'
            f'  <td class="nowrap urgency--{urgency.urgency(meter.next_action_deadline, self.now)}">'
            f"{self._deadline(meter)}</td>\n"
            "  \n"
            f"  {cells}\n"
            f'  <td class="nowrap small">{self.when(meter.leap_updated_at, region)}</td>\n'
            "</tr>\n"
        )

    @staticmethod
    def _meter(meter: Meter) -> str:
        url = _esc(id_url(meter.pk, "meters:detail"))
        reference = _esc(meter.partner_reference or "(no reference)")
        short = _esc(Truncator(str(meter.pk)).chars(13))
        return f'<a href="{url}">{reference}</a><div class="mono small muted">{short}</div>'

    @staticmethod
    def _customer(meter: Meter) -> str:
        company = meter.end_customer_company_name
        shown = _esc(meter.end_customer_name or "")
        return shown + (f'<div class="small muted">{_esc(company)}</div>' if company else "")

    @staticmethod
    def _address(meter: Meter) -> str:
        city = f", {_esc(meter.city)}" if meter.city else ""
        return f"{_esc(meter.street_1 or '')}{city} {_esc(meter.state_or_province_code or '')}"

    @staticmethod
    def _status(meter: Meter) -> str:
        status = meter.global_enrollment_status
        shown = f'<span class="badge badge--{_text(status)}">{_esc(status or "—")}</span>'
        if meter.is_archived:
            shown += ' <span class="badge">archived</span>'
        if meter.missing_since:
            shown += (
                ' <span class="badge badge--bad" title="Leap no longer lists it">missing</span>'
            )
        return shown

    @staticmethod
    def _groups(meter: Meter) -> str:
        assignments: Iterable[Any] = getattr(meter, "groups_today", None) or ()
        links = [
            f'<a href="{_esc(id_url(ga.market_group_id, "ops:group"))}">'
            f"{_text(ga.market_group.name or ga.market_group_id)}</a>"
            for ga in assignments
        ]
        return ", ".join(links) if links else _DASH

    def _actions(self, meter: Meter) -> str:
        partner, leap = meter.open_partner_actions, meter.open_leap_actions
        shown = ""
        if partner:
            shown = (
                '<a class="badge badge--warn" title="open partner actions: in the queue" '
                f'href="{self.actions_url}?q={_text(meter.pk)}">{_text(partner)}</a>'
            )
        if leap:
            shown += f' <span class="badge badge--info" title="open Leap-side actions">L{_text(leap)}</span>'
        return shown

    def _deadline(self, meter: Meter) -> str:
        deadline = meter.next_action_deadline
        if not deadline:
            return ""
        day = self.when(deadline, meter.transmission_region, "%Y-%m-%d")
        return f'{day} <span class="small">{_esc(urgency.countdown(deadline, self.now))}</span>'


@register.simple_tag(takes_context=True)
def meter_rows(context: template.Context, meters: Iterable[Meter]) -> SafeString:
    """Every row of the page (the list's `mapping` flag adds the registered cells)."""
    row = _Row(context, bool(context.get("mapping")))
    return mark_safe("".join(row.render(meter) for meter in meters))  # noqa: S308 - see _Row
