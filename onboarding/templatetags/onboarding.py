"""Template tags of onboarding: the stuck-meters tab of the action queue."""

from __future__ import annotations

from django import template
from django.utils import timezone

from onboarding.follow import stuck_assets
from onboarding.models import Batch

register = template.Library()


@register.inclusion_tag("onboarding/partials/queue_tab.html")
def onboarding_stuck_tab(current: bool = False) -> dict[str, object]:
    """The action queue's tab for onboarded meters stuck before ACTIVE, with their count."""
    return {"count": stuck_assets(timezone.now()).count(), "current": current}


@register.filter
def days(value: float | None) -> str:
    """Days with one decimal, '—' when unknown."""
    return "—" if value is None else f"{value:.1f}"


@register.inclusion_tag("onboarding/partials/health.html")
def onboarding_health() -> dict[str, object]:
    """Sync health's card: open create-meters jobs and those Leap cannot answer about."""
    open_batches = Batch.objects.filter(status__in=Batch.OPEN)
    troubled = list(
        open_batches.filter(last_error__gt="")
        .only("pk", "job_id", "number", "status", "last_error", "last_error_at", "next_poll_at",
              "poll_failures")
        .order_by("-last_error_at")[:5]
    )  # fmt: skip
    return {"open": open_batches.count(), "troubled": troubled}
