from __future__ import annotations

from django.urls import path

from revenue import lane_views, views

app_name = "revenue"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("months.csv", views.months_export, name="months_export"),
    path("breakdown.csv", views.breakdown_export, name="breakdown_export"),
    path("meters.csv", views.meters_export, name="meters_export"),
    path("changes.csv", views.changes_export, name="changes_export"),
    path("at-risk/", views.at_risk, name="at_risk"),
    path("at-risk.csv", views.at_risk_export, name="at_risk_export"),
    path("unresponsive/", lane_views.unresponsive, name="unresponsive"),
    path("unresponsive.csv", lane_views.unresponsive_export, name="unresponsive_export"),
    path(
        "unresponsive/<uuid:meter_id>/<str:program>/",
        lane_views.unresponsive_detail,
        name="unresponsive_item",
    ),
    path(
        "unresponsive/<uuid:meter_id>/<str:program>/work",
        lane_views.unresponsive_work,
        name="unresponsive_work",
    ),
    path(
        "unresponsive/<uuid:meter_id>/<str:program>/idled",
        lane_views.unresponsive_idled,
        name="unresponsive_idled",
    ),
    path("sync/now", views.sync_now, name="sync_now"),
    path("sync/card", views.sync_card, name="sync_card"),
]
