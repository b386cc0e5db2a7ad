from __future__ import annotations

from django.urls import path

from ops import sync_health
from ops.views import groups, preferences, queue

app_name = "ops"
urlpatterns = [
    path("actions/", queue.action_queue, name="actions"),
    path("actions/export.csv", queue.action_export, name="actions_export"),
    path("actions/bulk", queue.action_bulk, name="actions_bulk"),
    path("actions/bulk/<int:pk>", queue.action_bulk_progress, name="action_bulk_progress"),
    path("actions/<int:pk>/", queue.action_detail, name="action"),
    path("actions/<int:pk>/work", queue.action_work, name="action_work"),
    path("groups/", groups.group_list, name="groups"),
    path("groups/<uuid:pk>/", groups.group_detail, name="group"),
    path("groups/<uuid:pk>/members.csv", groups.group_members_export, name="group_export"),
    path("me/", preferences.preferences, name="preferences"),
    path("me/time-zone", preferences.set_time_zone, name="set_time_zone"),
    path("me/calendar-token", preferences.issue_calendar_token, name="issue_calendar_token"),
    path("me/views/", preferences.save_view, name="save_view"),
    path("me/views/<int:pk>/delete", preferences.delete_view, name="delete_view"),
    path(
        "me/calendar-token/revoke", preferences.revoke_calendar_token, name="revoke_calendar_token"
    ),
    # Under /meters/ where it always was; meters.urls (included first) leaves these paths to us.
    path("meters/sync/", sync_health.sync_health, name="sync_health"),
    path(
        "meters/sync/deliveries/<str:kind>/<int:pk>/again",
        sync_health.process_again,
        name="process_again",
    ),
]
