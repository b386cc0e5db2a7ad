"""Dashboard pages owned by ops: preferences, calendar token, the action queue and groups."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from leapportal import roles
from ops.models import CalendarToken, UserPreference


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@require_POST
@permission_required(roles.VIEW, raise_exception=True)
def set_time_zone(request: HttpRequest) -> HttpResponse:
    """Switch between market time and UTC; every time on every page follows."""
    mode = request.POST.get("time_zone", "")
    if mode not in UserPreference.TimeZoneMode.values:
        return HttpResponseBadRequest("time_zone must be 'market' or 'utc'")
    UserPreference.objects.update_or_create(user=request.user, defaults={"time_zone": mode})
    target = _safe_next(request, reverse("home"))
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"  # every time on the page changes: reload it whole
        return response
    return redirect(target)


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def preferences(request: HttpRequest) -> HttpResponse:
    """The user's own settings: time zone mode and the calendar feed."""
    return _preferences_page(request, feed_url=None)


@require_POST
@permission_required(roles.VIEW, raise_exception=True)
def issue_calendar_token(request: HttpRequest) -> HttpResponse:
    """Issue or rotate the user's iCal token; the feed URL is shown once, right now."""
    token = CalendarToken.issue(request.user)
    feed_url = request.build_absolute_uri(reverse("dispatch:ical", args=[token]))
    return _preferences_page(request, feed_url=feed_url)


def _preferences_page(request: HttpRequest, *, feed_url: str | None) -> HttpResponse:
    pref = UserPreference.objects.filter(user=request.user).first()
    context = {
        "mode": pref.time_zone if pref else UserPreference.TimeZoneMode.MARKET,
        "modes": UserPreference.TimeZoneMode.choices,
        "token": CalendarToken.objects.filter(user=request.user).first(),
        "feed_url": feed_url,
    }
    return render(request, "ops/preferences.html", context)
