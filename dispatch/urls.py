from __future__ import annotations

from django.urls import path

from dispatch import feed, webhooks

app_name = "dispatch"
urlpatterns = [
    path("webhooks/meter", webhooks.meter_webhook, name="meter_webhook"),
    path("webhooks/group", webhooks.group_webhook, name="group_webhook"),
    path("feed.json", feed.feed, name="feed"),
]
