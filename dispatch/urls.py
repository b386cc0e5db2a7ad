from __future__ import annotations

from django.urls import path

from dispatch import feed, views, webhooks

app_name = "dispatch"
urlpatterns: list = [
    # --- receivers and feed (dispatch engineer) ---
    path("webhooks/meter", webhooks.meter_webhook, name="webhook_meter"),
    path("webhooks/group", webhooks.group_webhook, name="webhook_group"),
    path("feed.json", feed.feed, name="feed"),
    # --- dashboard pages (dashboard engineer) ---
    path("", views.timeline, name="timeline"),
    path("events/<uuid:event_id>/", views.event_detail, name="event"),
    path("calendar/<str:token>.ics", views.ical_feed, name="ical"),
    path("alerts/<int:pk>/dismiss", views.dismiss_alert, name="dismiss_alert"),
    # --- end dashboard pages ---
]
