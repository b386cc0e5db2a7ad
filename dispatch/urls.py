from __future__ import annotations

from django.urls import path

from dispatch import views

app_name = "dispatch"
urlpatterns: list = [
    # --- dashboard pages (dashboard engineer) ---
    path("", views.timeline, name="timeline"),
    path("events/<uuid:event_id>/", views.event_detail, name="event"),
    path("calendar/<str:token>.ics", views.ical_feed, name="ical"),
    # --- end dashboard pages ---
]
