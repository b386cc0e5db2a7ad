from __future__ import annotations

from django.urls import path

from meters import webhooks

app_name = "meters"
urlpatterns = [
    path("webhooks/leap", webhooks.receive, name="webhook"),
]
