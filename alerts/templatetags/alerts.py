"""Template tags other apps' pages use: the outreach panel of an action, messages on sync health."""

from __future__ import annotations

from typing import Any

from django import template

from alerts import sending
from alerts.outreach_views import panel_context

register = template.Library()


@register.inclusion_tag("alerts/partials/outreach_panel.html", takes_context=True)
def outreach_panel(context: template.Context, action: Any) -> dict[str, Any]:
    """The customer emails of an action (sent, queued, refused) and the button to send one."""
    return {
        **panel_context(action),
        "can_work": context.get("can_work"),
        "can_edit": _can(context, "manage_settings"),
        "request": context.get("request"),
    }


def _can(context: template.Context, codename: str) -> bool:
    request = context.get("request")
    user = getattr(request, "user", None)
    return bool(user and user.has_perm(f"leapportal.{codename}"))


@register.inclusion_tag("alerts/partials/message_health.html", takes_context=True)
def message_health(context: template.Context) -> dict[str, Any]:
    """Queued, retrying and failed emails and chat posts, for the sync health page."""
    return {
        **sending.health(),
        "can_work": _can(context, "work_queue"),
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
    }
