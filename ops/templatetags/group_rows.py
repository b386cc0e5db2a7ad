"""`{% load group_rows %}`: the groups list's rows and a group's member rows, rendered in Python.

Each list shows 50-100 rows of a dozen lookups, filters and tags (three trade days with two
`|date` each on the list); through the template engine they were most of the pages' CPU. These
build the same markup, byte for byte, with the whitespace the loops they replace put around each
row: every value from Leap or from people goes through conditional_escape's rule (`_esc` of
meters.templatetags.meter_rows), as the template escaped it. tests/dashboard/test_group_rows.py
compares them with those loops (kept there as the reference): change both together.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ObjectDoesNotExist
from django.utils.dateformat import format as date_format
from django.utils.safestring import SafeString, mark_safe

from leapportal.templatetags.links import id_url
from leapportal.web import rowhtml
from ops.groups import GroupFigures

_esc, _text = rowhtml.esc, rowhtml.text

register = template.Library()


class _Dates:
    """`{{ day|date:fmt }}`, escaped, once per day and format of the page (rows share days)."""

    def __init__(self) -> None:
        self.shown: dict[tuple[date, str], str] = {}

    def __call__(self, day: date, fmt: str) -> str:
        key = (day, fmt)
        if key not in self.shown:
            self.shown[key] = _esc(date_format(day, fmt))
        return self.shown[key]


def _count(value: int, css: str) -> str:
    return f'<span class="{css}">{_text(value)}</span>' if value else "0"


def _day_cell(d: dict[str, Any], dates: _Dates) -> str:
    joining = (
        f' <span class="delta delta--in">+{_text(d["joining"])}</span>' if d["joining"] else ""
    )
    leaving = (
        f' <span class="delta delta--out">−{_text(d["leaving"])}</span>' if d["leaving"] else ""
    )
    return (
        f'<td class="num" title="{dates(d["day"], "D Y-m-d")}">{_esc(intcomma(d["members"]))}'
        f'{joining}{leaving}<div class="small muted">{dates(d["day"], "D m-d")}</div></td>'
    )


def _group_row(fig: GroupFigures, mapping: bool, dates: _Dates) -> str:
    group = fig.group
    days = "".join(_day_cell(d, dates) for d in fig.day_rows)
    movers = fig.movers
    unmapped = f'<td class="num">{_count(fig.unmapped, "urgency--soon")}</td>' if mapping else ""
    if fig.ready:
        ready = '<span class="badge badge--ok">ready</span>'
    elif fig.members[0]:
        ready = '<span class="badge badge--bad">not ready</span>'
    else:
        ready = '<span class="badge">empty today</span>'
    return (
        f'\n      <tr id="group-{_text(group.pk)}" class="{"is-highlight" if movers else ""}">\n'
        f'        <td><a href="{_esc(id_url(group.pk, "ops:group"))}">'
        f"{_text(group.name or group.pk)}</a></td>\n"
        f'        <td>{_text(group.region)}</td><td class="small">'
        f"{_text(group.program_identifier)}</td>\n"
        f"        {days}\n"
        f'        <td class="num">{f"<b>{_text(movers)}</b>" if movers else "0"}</td>\n'
        f'        <td class="num">{_count(fig.not_active, "urgency--overdue")}</td>\n'
        f"        {unmapped}\n"
        f"        <td>{ready}</td>\n"
        f'        <td class="nowrap"><a class="btn btn--small" '
        f'href="{_esc(id_url(group.pk, "ops:group_export"))}" download>Members CSV</a></td>\n'
        "      </tr>\n    "
    )


@register.simple_tag
def group_rows(figures: Iterable[GroupFigures], mapping: Any) -> SafeString:
    """The groups list's rows (templates/ops/group_list.html), one per group's figures."""
    dates = _Dates()
    rows = "".join(_group_row(fig, bool(mapping), dates) for fig in figures)
    return mark_safe(rows)  # noqa: S308 - every value escaped in _group_row


def _mapping_cell(assignment: Any) -> str:
    try:
        mapping = assignment.meter.mapping
    except ObjectDoesNotExist:  # the mapping app's RelatedObjectDoesNotExist
        mapping = None
    if not mapping:
        return '<td class="small"><span class="urgency--soon">unmapped</span></td>'
    url = _esc(id_url(assignment.meter_id, "mapping:meter"))
    return (
        f'<td class="small"><a href="{url}">{_text(mapping.customer_id)} / '
        f"{_text(mapping.site_id or '—')}</a></td>"
    )


@register.simple_tag(takes_context=True)
def member_rows(context: template.Context, assignments: Iterable[Any]) -> SafeString:
    """A group's member rows on the page's trade day (templates/ops/group_detail.html)."""
    index, mapping = context.get("index"), bool(context.get("mapping"))
    day = _Dates()(context["day"], "m-d")
    joined = f'<span class="delta delta--in">joins {day}</span>'
    left = f'<span class="delta delta--out">leaves after {day}</span>'
    rows = []
    for a in assignments:
        joins, leaves = bool(index and not a.was_member), not a.stays and index < 2
        meter = a.meter
        status = meter.global_enrollment_status
        rows.append(
            f'<tr id="member-{_text(a.meter_id)}" class="{"is-highlight" if joins or leaves else ""}">\n'
            f'      <td><a href="{_esc(id_url(a.meter_id, "meters:detail"))}">'
            f"{_text(meter.partner_reference or a.meter_id)}</a></td>\n"
            f"      <td>{_text(meter.end_customer_name or '')}</td>\n"
            f'      <td><span class="badge badge--{_text(status)}">{_text(status or "—")}</span></td>\n'
            f"      {_mapping_cell(a) if mapping else ''}\n"
            f'      <td class="small">{joined if joins else ""} {left if leaves else ""}</td>\n'
            f'      <td class="small">{_text(a.source)}</td></tr>\n    '
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value escaped above
