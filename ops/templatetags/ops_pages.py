"""Template tags of the top floor's pages (`{% load ops_pages %}`): the stale-data banner of every
dashboard page (dashboard_base.html) and a periodic task's schedule in words (sync health).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from leapportal.web import timefmt
from ops.health import stale_warnings
from ops.schedules import describe, market_zones

register = template.Library()


@register.inclusion_tag("partials/stale_banner.html")
def stale_banner() -> dict[str, Any]:
    """The banner every dashboard page shows while its data is older than it should be."""
    return {"warnings": stale_warnings(timezone.now())}


@register.simple_tag(takes_context=True)
def schedule_words(context: template.Context, task: Any) -> str:
    """A periodic task's schedule in words, in UTC and in our markets' zones."""
    mode = timefmt.display_mode(context.get("request"))
    cache = context.render_context
    if mode == "market" and "schedule_zones" not in cache:
        cache["schedule_zones"] = market_zones()  # one query per page, not per task
    return describe(task, mode, cache.get("schedule_zones") or [])
