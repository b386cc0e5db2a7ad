from __future__ import annotations

from django.urls import path

from meters import views, webhooks

app_name = "meters"
urlpatterns: list = [
    # --- dashboard pages (dashboard engineer) ---
    # Sync health (/meters/sync/) combines meters and dispatch: served by ops/urls.py.
    path("", views.meter_list, name="list"),
    path("export.csv", views.meter_export, name="export"),
    path("<uuid:meter_id>/", views.meter_detail, name="detail"),
    path("<uuid:meter_id>/resync", views.resync, name="resync"),
    path("sync/now", views.sync_now, name="sync_now"),
    path("sync/runs/<int:pk>/", views.sync_run, name="sync_run"),
    # --- end dashboard pages ---
    # Leap's webhook platform posts meter events here (authenticated by the secret header).
    path("webhooks/leap", webhooks.receive, name="webhook"),
]
