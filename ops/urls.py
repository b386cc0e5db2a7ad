from __future__ import annotations

from django.urls import path

from ops import sync_health, views

app_name = "ops"
urlpatterns = [
    path("actions/", views.action_queue, name="actions"),
    path("actions/export.csv", views.action_export, name="actions_export"),
    path("actions/bulk", views.action_bulk, name="actions_bulk"),
    path("actions/bulk/<int:pk>", views.action_bulk_progress, name="action_bulk_progress"),
    path("actions/<int:pk>/", views.action_detail, name="action"),
    path("actions/<int:pk>/work", views.action_work, name="action_work"),
    path("groups/", views.group_list, name="groups"),
    path("groups/<uuid:pk>/", views.group_detail, name="group"),
    path("groups/<uuid:pk>/members.csv", views.group_members_export, name="group_export"),
    path("me/", views.preferences, name="preferences"),
    path("me/time-zone", views.set_time_zone, name="set_time_zone"),
    path("me/calendar-token", views.issue_calendar_token, name="issue_calendar_token"),
    path("me/views/", views.save_view, name="save_view"),
    path("me/views/<int:pk>/delete", views.delete_view, name="delete_view"),
    path("me/calendar-token/revoke", views.revoke_calendar_token, name="revoke_calendar_token"),
    # Under /meters/ where it always was; meters.urls (included first) leaves these paths to us.
    path("meters/sync/", sync_health.sync_health, name="sync_health"),
    path(
        "meters/sync/deliveries/<str:kind>/<int:pk>/again",
        sync_health.process_again,
        name="process_again",
    ),
]
