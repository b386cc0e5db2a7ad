"""`{% load timeline_rows %}{% timeline_rows rows %}`: the dispatch timeline's rows, in Python.

The timeline shows 50-200 dense rows of twelve cells (a version history in some): through the
template engine they were most of the page's CPU, ~40 variable lookups, filters and tags a row.
This builds the same markup, byte for byte, in plain Python strings: every value from Leap or
from people goes through leapportal.web.rowhtml's escaping, as the template escaped it.
templates/dispatch/partials/timeline_rows.html is the template it replaces, kept as the reference
tests/dashboard/test_page_cost_timeline.py compares this with: change both together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from dispatch.models import DispatchTimeslot
from leapportal.templatetags.dashboard import kw
from leapportal.templatetags.links import id_url
from leapportal.web import timefmt, urgency
from leapportal.web.rowhtml import esc, text

register = template.Library()

_PARKED = (
    '<span class="badge badge--warn" title="Meter not in our portfolio yet; a resync was '
    'requested">parked</span>'
)
_RECHECK = (
    ' <span class="badge badge--warn" title="A body would bring this cancelled event back; '
    "Leap's dispatch search decides\">checking with Leap</span>"
)


def _join_or_dash(values: Any) -> str:
    """`{{ values|join:", "|default:"—" }}` with autoescape."""
    try:
        joined = ", ".join(esc(v) for v in values)
    except TypeError:  # not iterable: join gives the value back, default replaces a falsy one
        return text(values or "—")
    return joined or "—"


def _item(value: Any, index: int) -> Any:
    """`{{ value.0 }}` of a JSON value: a key "0", else the index 0, else "" (not found)."""
    try:
        return value[str(index)]
    except (TypeError, AttributeError, KeyError, ValueError, IndexError):
        pass
    try:
        return value[index]
    except (IndexError, ValueError, KeyError, TypeError):
        return ""


def _or_null(value: Any) -> str:
    """`{{ value|default_if_none:"null" }}`."""
    return text("null" if value is None else value)


class _Rows:
    """What every row of one page shares: the display mode and its zones, now, the axis ticks."""

    def __init__(self, context: template.Context) -> None:
        self.mode = timefmt.display_mode(context.get("request"))
        self.zones: dict[str, ZoneInfo] = {}
        self.page_now: datetime = context["now"]  # the view's: running, ended, scheduled
        self.clock = timezone.now()  # the countdown filter's
        self.ticks = esc(context.get("axis_ticks", ""))

    def when(self, value: datetime | None, region: str | None, fmt: str = "") -> str:
        """`{% when value region fmt %}` (leapportal.templatetags.dashboard.when)."""
        key = region or ""
        zone = self.zones.get(key)
        if zone is None:
            zone = self.zones[key] = timefmt.zone_for(region, self.mode)
        return esc(timefmt.format_dt(value, zone, fmt or "%Y-%m-%d %H:%M"))

    def render(self, row: dict[str, Any]) -> str:
        """One row (after its group heading when it starts a group), as the template did."""
        slot: DispatchTimeslot = row["slot"]
        heading = (
            f'<tr class="group-row"><th colspan="12">{text(row["heading"])}</th></tr>'
            if row["new_heading"]
            else ""
        )
        css = ("is-cancelled" if slot.cancelled else "") + (
            " is-highlight" if slot.is_parked else ""
        )
        countdown = ""
        if not slot.cancelled and slot.start_time > self.page_now:
            countdown = f'<div class="small muted">{esc(urgency.countdown(slot.start_time, self.clock))}</div>'
        bar = " tl-bar--cancelled" if slot.cancelled else ""
        nomination = (
            text(kw(slot.nomination_kw))
            if slot.nomination_kw is not None
            else '<span class="muted">—</span>'
        )
        return (
            f"\n      {heading}\n"
            f'      <tr id="timeslot-{text(slot.event_id)}" class="{css}">\n'
            f'        <td class="nowrap"><a href="{esc(id_url(slot.event_id, "dispatch:event"))}">'
            f"{self.when(slot.start_time, slot.region)}</a>\n"
            f"          – {self.when(slot.end_time, slot.region, '%H:%M')}\n"
            f"          {countdown}</td>\n"
            f'        <td class="timeline-col"><div class="tl-track">{self.ticks}<span class="tl-bar'
            f'{bar}" style="left: {row["bar_left"]:.2f}%; width: '
            f'{row["bar_width"]:.2f}%"></span></div></td>\n'
            f"        <td>{self._recipient(slot)}</td>\n"
            f'        <td class="num">{text(kw(slot.energy_kw))}</td>\n'
            f'        <td class="num">{nomination}</td>\n'
            f'        <td class="num">{text(slot.priority)}</td>\n'
            f"        <td>{self._kind(slot)}</td>\n"
            f'        <td class="small">{text(slot.performance_compensation_cap or "—")}</td>\n'
            f'        <td class="small">{_join_or_dash(slot.dispatch_event_types)}</td>\n'
            f'        <td class="small">{_join_or_dash(slot.programs)}</td>\n'
            f'        <td class="num">{self._versions(slot, row["versions"])}</td>\n'
            f"        <td>{self._status(slot)}</td>\n"
            "      </tr>\n    "
        )

    @staticmethod
    def _recipient(slot: DispatchTimeslot) -> str:
        if slot.level == "group":
            if slot.market_group_id:
                url = esc(id_url(slot.market_group_id, "ops:group"))
                name = slot.market_group.name if slot.market_group else ""
                group = f'<a href="{url}">{text(name or slot.market_group_id)}</a>'
            else:
                group = text(slot.market_group_uuid)
            members = slot.group_meter_ids
            try:
                count = len(members)
            except (ValueError, TypeError):
                count = 0
            return (
                f'<span class="badge">group</span> {group} <span class="muted small">'
                f"({text(count)} meters)</span>\n            "
            )
        if slot.meter:
            url = esc(id_url(slot.meter_id, "meters:detail"))
            shown = text(slot.meter.partner_reference or slot.meter_uuid)
            return f'<a href="{url}">{shown}</a>\n            '
        return f'{_PARKED} <span class="mono small">{text(slot.meter_uuid)}</span>'

    @staticmethod
    def _kind(slot: DispatchTimeslot) -> str:
        shown = "voluntary" if slot.is_voluntary else "<strong>mandatory</strong>"
        shown += "".join(
            f' <span class="badge badge--special" data-special>{text(label)}</span>'
            for label in slot.special_types
        )
        if slot.recheck == "pending":
            shown += _RECHECK
        if slot.communication_test:
            shown += ' <span class="badge badge--info">comm test</span>'
        if slot.integration_test:
            shown += ' <span class="badge badge--info">integration test</span>'
        return shown

    def _versions(self, slot: DispatchTimeslot, versions: list[Any]) -> str:
        if len(versions) <= 1:
            return f"v{text(slot.version)}"
        items = []
        for v in versions:
            changes = v.changes.items() if isinstance(v.changes, dict) else ()
            diffs = "".join(
                f'<div><span class="mono">{text(field)}</span>: <del>{_or_null(_item(pair, 0))}'
                f"</del> → <ins>{_or_null(_item(pair, 1))}</ins></div>"
                for field, pair in changes
            )
            items.append(
                f"<li><b>v{text(v.version)}</b> {text(v.get_kind_display())} · "
                f"{self.when(v.changed_at, slot.region)} · {text(v.source)}\n"
                f"            {diffs}</li>"
            )
        return (
            f"<details><summary>v{text(slot.version)}</summary>\n"
            f'          <ul class="versions small">{"".join(items)}</ul></details>\n'
            "          "
        )

    def _status(self, slot: DispatchTimeslot) -> str:
        if slot.cancelled:
            return '<span class="badge badge--bad">cancelled</span>'
        if slot.end_time <= self.page_now:
            return '<span class="badge">ended</span>'
        if slot.start_time <= self.page_now:
            return '<span class="badge badge--ok">running</span>'
        return '<span class="badge badge--info">scheduled</span>'


@register.simple_tag(takes_context=True)
def timeline_rows(context: template.Context, rows: list[dict[str, Any]]) -> SafeString:
    """Every row of the page, each after its group heading when it starts a group."""
    shared = _Rows(context)
    return mark_safe("".join(shared.render(row) for row in rows))  # noqa: S308 - see _Rows
