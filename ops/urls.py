from __future__ import annotations

from django.urls import path

from ops import views

app_name = "ops"
urlpatterns = [
    path("me/", views.preferences, name="preferences"),
    path("me/time-zone", views.set_time_zone, name="set_time_zone"),
    path("me/calendar-token", views.issue_calendar_token, name="issue_calendar_token"),
]
