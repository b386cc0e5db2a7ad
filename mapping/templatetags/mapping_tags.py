"""`{% load mapping_tags %}{% mapping_inline meter %}`: our mapping of a meter, editable in place.

For the meter list and the meter page. Give the list `mapping.flags.annotate_meters(queryset)` so
rows cost no extra queries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import template
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from leapportal import roles
from leapportal.templatetags.links import id_url
from mapping import flags
from meters.models import Meter

register = template.Library()


@register.inclusion_tag("mapping/partials/mapping_inline.html", takes_context=True)
def mapping_inline(context: dict[str, Any], meter: Meter) -> dict[str, Any]:
    """The mapping cell of one meter (display mode; admins get an Edit button)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        "meter_id": meter.pk,
        "meter": meter,
        "mapping": meter.mapping if flags.has_mapping(meter) else None,
        "flags": flags.flags_of_meter(meter),
        "can_edit": bool(user and user.has_perm(roles.EDIT_MAPPING)),
    }


def list_cell(request: HttpRequest | None) -> Callable[[Meter], SafeString]:
    """The meter list's mapping cell for this request's user (meters.extensions.ListCell)."""
    user = getattr(request, "user", None)
    can_edit = bool(user and user.has_perm(roles.EDIT_MAPPING))
    return lambda meter: mapping_cell(meter, can_edit=can_edit)


def mapping_cell(meter: Meter, *, can_edit: bool) -> SafeString:
    """mapping/partials/mapping_inline.html in display mode, byte for byte, built in Python.

    The meter list shows it in every row, where rendering the template per row cost as much as
    the rest of the row; tests/dashboard/test_page_cost.py compares the two: change both together.
    """
    mapping = meter.mapping if flags.has_mapping(meter) else None
    found = flags.flags_of_meter(meter)
    if mapping is not None:
        shown = format_html(
            '\n    <a class="mono" href="{}" title="our customer id: the mapping and its history">'
            "{}</a>\n    {}\n    {}\n  ",
            id_url(meter.pk, "mapping:meter"),
            mapping.customer_id,
            format_html(
                '<span class="muted">·</span> <span class="mono" title="our site id">{}</span>',
                mapping.site_id,
            )
            if mapping.site_id
            else "",
            format_html('<span class="muted">·</span> {}', mapping.label) if mapping.label else "",
        )
    elif not found:
        shown = mark_safe('<span class="muted">not mapped</span>')  # noqa: S308 - a constant
    else:
        shown = mark_safe("")
    badges = format_html_join(
        "",
        '<span class="badge badge--{}" data-flag="{}">{}</span> ',
        ((flag.level, flag.code, flag.text) for flag in found),
    )
    edit = ""
    if can_edit:
        url = id_url(meter.pk, "mapping:edit")
        edit = format_html(
            '\n    <a class="btn btn--small" href="{}"\n       hx-get="{}" '
            'hx-target="#mapping-{}" hx-swap="outerHTML">Edit</a>\n  ',
            url,
            url,
            meter.pk,
        )
    return format_html(
        '\n<div id="mapping-{}" class="mapping-inline">\n\n  {}\n  {}\n  \n  {}\n\n</div>\n',
        meter.pk,
        shown,
        badges,
        edit,
    )
