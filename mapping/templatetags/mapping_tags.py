"""`{% load mapping_tags %}{% mapping_inline meter %}`: our mapping of a meter, editable in place.

For the meter list and the meter page. Give the list `mapping.flags.annotate_meters(queryset)` so
rows cost no extra queries.
"""

from __future__ import annotations

from typing import Any

from django import template

from leapportal import roles
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
