"""`{% load action_rows %}{% action_rows page %}`: the queue's closed rows, rendered in Python.

The queue shows 50-100 rows, each a <tbody> of ~35 variable lookups, filters and tags; included
per row through the template engine they were most of the page's CPU. This builds the same markup,
byte for byte, including the whitespace the queue's loop put around each row and the per-code
header rows: every value from Leap or from people goes through conditional_escape's rule (`_esc`
of meters.templatetags.meter_rows), as the template escaped it. templates/ops/partials/
action_row.html stays the row of one action (opened, or on its own page) and is the reference
tests/dashboard/test_queue_cost.py compares this with, closed: change both together.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from leapportal.templatetags.links import id_url
from leapportal.web import rowhtml, timefmt, urgency
from meters.models import RequiredAction

_esc, _text = rowhtml.esc, rowhtml.text

register = template.Library()


class _Rows:
    """What every row of one page shares: the display mode, the zones, now, who may work."""

    def __init__(self, context: template.Context) -> None:
        self.mode = timefmt.display_mode(context.get("request"))
        self.zones: dict[str, ZoneInfo] = {}
        self.now = timezone.now()  # the urgency and countdown filters' now
        self.page_now = context.get("now")  # the template's `now` (snoozes)
        self.can_work = bool(context.get("can_work"))

    def when(self, value: datetime | None, region: str | None, fmt: str) -> str:
        """`{% when value region fmt %}`."""
        key = region or ""
        zone = self.zones.get(key)
        if zone is None:
            zone = self.zones[key] = timefmt.zone_for(region, self.mode)
        return _esc(timefmt.format_dt(value, zone, fmt))

    def render(self, action: Any) -> str:
        """The group header (when the page groups by code) and the row, as the loop rendered."""
        header = ""
        if getattr(action, "new_group", False):
            title = getattr(action.reason, "title", "")
            header = (
                f'<tbody><tr class="group-row"><th colspan="8">{_text(action.code)}'
                f"{f' — {_text(title)}' if title else ''}</th></tr></tbody>"
            )
        return f"\n      {header}\n      {self.row(action)}\n    "

    def row(self, action: Any) -> str:
        """ops/partials/action_row.html with open=False."""
        pk = _text(action.pk)
        meter = action.meter
        ref = _text(meter.partner_reference or action.meter_id)
        select = ""
        if self.can_work:
            select = (
                f'<input type="checkbox" name="ids" value="{pk}" form="bulk-form" '
                f'aria-label="Select {_text(action.code)} on {ref}">'
            )
        resolved = " is-resolved" if action.resolved_at else ""
        work_url = _esc(id_url(action.pk, "ops:action"))
        return (
            f'<tbody id="action-{pk}" class="action" data-action-row '
            f'data-work-url="{_esc(id_url(action.pk, "ops:action_work"))}" hx-push-url="false">\n'
            f'<tr class="action-line{resolved}">\n'
            f'  <td class="select-cell">{select}</td>\n'
            f"{self._deadline(action)}"
            f"{self._meter(action, ref)}"
            f'  <td class="nowrap">{_text(meter.transmission_region)}</td>\n'
            f"{self._code(action)}"
            f"{self._description(action)}"
            f'  <td class="nowrap small work-cell">{self._work(action)}</td>\n'
            f'  <td class="nowrap right"><a class="btn btn--small" data-row-toggle href="{work_url}" '
            f'hx-get="{work_url}" hx-target="#action-{pk}" hx-swap="outerHTML">Work</a></td>\n'
            "</tr>\n\n</tbody>\n"
        )

    def _deadline(self, action: Any) -> str:
        deadline = action.deadline
        css = "none" if action.resolved_at else urgency.urgency(deadline, self.now)
        if not deadline:
            shown = '<span class="muted">no deadline</span>'
        else:
            shown = self.when(deadline, action.meter.transmission_region, "%m-%d %H:%M")
            if not action.resolved_at:
                shown += f' <b class="small">{_esc(urgency.countdown(deadline, self.now))}</b>'
        return f'  <td class="nowrap urgency--{_esc(css)}">{shown}</td>\n'

    @staticmethod
    def _meter(action: Any, ref: str) -> str:
        name = _text(action.meter.end_customer_name or "")
        url = _esc(id_url(action.meter_id, "meters:detail"))
        return (
            f'  <td class="cell-meter" title="{ref} · {name}"><a href="{url}">{ref}</a> '
            f'<span class="muted small">{name}</span></td>\n'
        )

    @staticmethod
    def _code(action: Any) -> str:
        reason = action.reason
        title = _text(getattr(reason, "title", "") or action.action_type)
        shown = f"<b>{_text(action.code)}</b>"
        if getattr(reason, "needs_guidance", False):
            shown += ' <span class="badge badge--warn">no guidance</span>'
        if action.side == "leap":
            shown += ' <span class="badge badge--info">Leap</span>'
        return f'  <td class="nowrap" title="{title}">{shown}</td>\n'

    @staticmethod
    def _description(action: Any) -> str:
        title = getattr(action.reason, "title", "")
        description = _text(action.description)
        shown = f"<b>{_text(title)}</b> · " if title else ""
        return f'  <td class="cell-desc small" title="{description}">{shown}{description}</td>\n'

    def _work(self, action: Any) -> str:
        work = action.work
        if not work:
            return '<span class="badge badge--state-new">New</span>'
        shown = (
            f'<span class="badge badge--state-{_text(work.state)}">'
            f"{_text(work.get_state_display())}</span>"
        )
        if work.assignee:
            shown += f" {_text(work.assignee)}"
        snoozed = work.snoozed_until
        if snoozed and self.page_now is not None and snoozed > self.page_now:
            countdown = _esc(urgency.countdown(snoozed, self.now))
            shown += f' <span class="muted">snoozed {countdown}</span>'
        return shown


@register.simple_tag(takes_context=True)
def action_rows(context: template.Context, actions: Iterable[RequiredAction]) -> SafeString:
    """Every closed row of the page, each after its code's header when the page groups by code."""
    rows = _Rows(context)
    return mark_safe("".join(rows.render(action) for action in actions))  # noqa: S308 - see _Rows
