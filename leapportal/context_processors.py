from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from alerts.models import Alert
from ops.models import SavedView
from ops.views.preferences import saved_view_url

# The main navigation: (label, url name). An entry whose URL does not exist (yet) is left out.
NAVIGATION: list[tuple[str, str]] = [
    ("Action required", "ops:actions"),
    ("Groups", "ops:groups"),
    ("Dispatches", "dispatch:timeline"),
    ("Revenue", "revenue:overview"),
    ("Meters", "meters:list"),
    ("Mapping", "mapping:overview"),
    ("Onboarding", "onboarding:index"),
    ("Sync health", "ops:sync_health"),
    ("Alerts", "alerts:list"),
]


def _badge(request: HttpRequest, name: str) -> Any:
    """A count shown beside a navigation entry: open (not acknowledged or snoozed) alerts.

    Lazy: counted only when a page's navigation shows it (htmx fragments never do).
    """
    if (
        name != "alerts:list"
        or not getattr(request, "user", None)
        or not request.user.is_authenticated
    ):
        return None
    return SimpleLazyObject(lambda: Alert.objects.filter(status=Alert.Status.OPEN).count())


def portal(request: HttpRequest) -> dict[str, Any]:
    """What base.html needs on every page."""
    items = []
    current = request.path
    for label, name in NAVIGATION:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": False, "badge": _badge(request, name)})
    # Only the longest matching entry is current (/meters/sync/ is Sync health, not Meters).
    matching = [item for item in items if current.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    return {
        "LEAP_ENVIRONMENT": settings.LEAP_ENVIRONMENT,
        "LEAP_SIMULATOR": settings.LEAP_SIMULATOR,
        "nav_items": items,
        "saved_views": _saved_views(request),
    }


def _saved_views(request: HttpRequest) -> list[dict[str, Any]]:
    """The user's saved views for the navigation (one small query, only when logged in)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    current = request.get_full_path()
    return [
        {"name": v.name, "url": (url := saved_view_url(v)), "active": url == current}
        for v in SavedView.objects.filter(user=user).only("name", "page", "query")[:30]
    ]
