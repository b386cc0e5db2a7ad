"""The user's own pages: time zone, calendar token and saved views (/me/)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    QueryDict,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from leapportal import roles
from leapportal.models import CalendarToken, UserPreference
from ops.models import SavedView
from ops.views import safe_next


@require_POST
@permission_required(roles.VIEW, raise_exception=True)
def set_time_zone(request: HttpRequest) -> HttpResponse:
    """Switch between market time and UTC; every time on every page follows."""
    mode = request.POST.get("time_zone", "")
    if mode not in UserPreference.TimeZoneMode.values:
        return HttpResponseBadRequest("time_zone must be 'market' or 'utc'")
    UserPreference.objects.update_or_create(user=request.user, defaults={"time_zone": mode})
    target = safe_next(request, reverse("home"))
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


@require_POST
@permission_required(roles.VIEW, raise_exception=True)
def revoke_calendar_token(request: HttpRequest) -> HttpResponse:
    """Stop the user's feed address (a lost phone, a calendar shared by mistake)."""
    CalendarToken.revoke(CalendarToken.objects.filter(user=request.user), by=request.user)
    return redirect(reverse("ops:preferences") + "#calendar-feed")


def _preferences_page(request: HttpRequest, *, feed_url: str | None) -> HttpResponse:
    pref = UserPreference.objects.filter(user=request.user).first()
    context = {
        "mode": pref.time_zone if pref else UserPreference.TimeZoneMode.MARKET,
        "modes": UserPreference.TimeZoneMode.choices,
        "token": CalendarToken.objects.filter(user=request.user).first(),
        "feed_url": feed_url,
        "views": [
            (view, saved_view_url(view), SAVEABLE_PAGES.get(view.page, view.page))
            for view in SavedView.objects.filter(user=request.user)
        ],
    }
    return render(request, "ops/preferences.html", context)


# --- the action queue ------------------------------------------------------------------------


# --- saved views -----------------------------------------------------------------------------

# The list pages whose filters can be saved, by URL name.
SAVEABLE_PAGES = {
    "ops:actions": "Action required",
    "meters:list": "Meters",
    "dispatch:timeline": "Dispatches",
    "ops:groups": "Groups",
}


class SavedViewForm(forms.Form):
    """Name the current filters of a list page."""

    name = forms.CharField(max_length=60, strip=True)
    page = forms.ChoiceField(choices=list(SAVEABLE_PAGES.items()))
    query = forms.CharField(required=False, max_length=2000)


@require_POST
@permission_required(roles.VIEW, raise_exception=True)
def save_view(request: HttpRequest) -> HttpResponse:
    """Save (or replace, by name) the user's view of a list page, then open it."""
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The view was not saved: {form.errors.as_text()}")
        return redirect(safe_next(request, reverse("ops:preferences")))
    data = form.cleaned_data
    query = QueryDict(data["query"]).copy()
    query.pop("page", None)  # a view is filters, not a place in the list
    view, created = SavedView.objects.update_or_create(
        user=request.user,
        name=data["name"],
        defaults={"page": data["page"], "query": query.urlencode()},
    )
    messages.success(
        request, f"View “{view.name}” {'saved' if created else 'replaced'}: it is under Views."
    )
    return redirect(saved_view_url(view))


def saved_view_url(view: SavedView) -> str:
    """Where a saved view opens: its page with its filters."""
    return reverse(view.page) + (f"?{view.query}" if view.query else "")


@require_POST
@permission_required(roles.VIEW, raise_exception=True)
def delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Forget one of the user's saved views."""
    view = get_object_or_404(SavedView, pk=pk, user=request.user)
    view.delete()
    messages.success(request, f"View “{view.name}” deleted.")
    return redirect(reverse("ops:preferences") + "#saved-views")
