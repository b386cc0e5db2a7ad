from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# The main navigation: (label, url name). An entry whose URL does not exist (yet) is left out.
NAVIGATION: list[tuple[str, str]] = [
    ("Action required", "ops:actions"),
    ("Groups", "ops:groups"),
    ("Dispatches", "dispatch:timeline"),
    ("Meters", "meters:list"),
    ("Mapping", "mapping:overview"),
    ("Onboarding", "onboarding:index"),
    ("Sync health", "meters:sync_health"),
]


def portal(request: HttpRequest) -> dict[str, Any]:
    """What base.html needs on every page."""
    items = []
    current = request.path
    for label, name in NAVIGATION:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": False})
    # Only the longest matching entry is current (/meters/sync/ is Sync health, not Meters).
    matching = [item for item in items if current.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    return {
        "LEAP_ENVIRONMENT": settings.LEAP_ENVIRONMENT,
        "LEAP_SIMULATOR": settings.LEAP_SIMULATOR,
        "nav_items": items,
    }
