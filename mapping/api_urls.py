from __future__ import annotations

from django.urls import path

from mapping import api

app_name = "api"
urlpatterns = [
    path("meters/", api.meters, name="meters"),
    path("meters/<uuid:meter_id>/", api.meter, name="meter"),
    path("meters/<uuid:meter_id>/mapping", api.meter_mapping, name="meter_mapping"),
]
