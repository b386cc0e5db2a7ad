from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from alerts.models import Alert
from leapportal.models import UserPreference
from leapportal.web import timefmt
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

    Lazy: counted only when a page's navigation shows it (htmx fragments never do), in the
    navigation's one query (_menu).
    """
    if name != "alerts:list" or not _logged_in(request):
        return None
    return SimpleLazyObject(lambda: _menu(request)["open_alerts"])


def _logged_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated


# The navigation's one statement (_menu): hand-written, as the ORM's compilation of its three
# subqueries cost more CPU than the three queries it replaces. The names are the models' own.
_MENU_SQL = f"""
SELECT
  (SELECT coalesce(json_agg(json_build_object('name', v.name, 'page', v.page, 'query', v.query)
                            ORDER BY v.name, v.id), '[]')
   FROM (SELECT id, name, page, query FROM {SavedView._meta.db_table}
         WHERE user_id = %(user)s ORDER BY name, id LIMIT 30) AS v),
  (SELECT time_zone FROM {UserPreference._meta.db_table} WHERE user_id = %(user)s LIMIT 1),
  (SELECT count(*) FROM {Alert._meta.db_table} WHERE status = %(open)s)
"""  # noqa: S608 - table names of our models, values passed as parameters


def _menu(request: HttpRequest) -> dict[str, Any]:
    """What the navigation shows of the user and of the alerts, in one query per request.

    The user's saved views, the open-alerts count and the user's time-zone preference (which
    leapportal.web.timefmt.display_mode would read in a query of its own: it is kept on the
    request for it) are three subqueries of one statement. Nothing is kept past the request, so
    a view saved, renamed or deleted, or a preference changed, shows on the next page.
    """
    cached: dict[str, Any] | None = getattr(request, "_portal_menu", None)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(_MENU_SQL, {"user": request.user.pk, "open": Alert.Status.OPEN.value})
        found = cursor.fetchone()
    views, time_zone, alerts = found or ("[]", None, 0)
    rows = json.loads(views) if isinstance(views, str | bytes) else views
    timefmt.keep_mode(request, time_zone)
    current = request.get_full_path()
    saved = [
        {
            "name": v["name"],
            "url": (url := saved_view_url(SavedView(**v))),
            "active": url == current,
        }
        for v in rows
    ]
    menu = {"saved_views": saved, "open_alerts": alerts}
    request._portal_menu = menu  # type: ignore[attr-defined]
    return menu


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


def _saved_views(request: HttpRequest) -> Any:
    """The user's saved views for the navigation (lazy: read with the menu, only when shown)."""
    if not _logged_in(request):
        return []
    return SimpleLazyObject(lambda: _menu(request)["saved_views"])
