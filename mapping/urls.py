from __future__ import annotations

from django.urls import path

from mapping import import_views, views

app_name = "mapping"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("meters/<uuid:meter_id>/", views.meter_mapping, name="meter"),
    path("meters/<uuid:meter_id>/inline", views.inline, name="inline"),
    path("meters/<uuid:meter_id>/edit", views.edit, name="edit"),
    path("meters/<uuid:meter_id>/save", views.save, name="save"),
    path("meters/<uuid:meter_id>/clear", views.clear, name="clear"),
    path("audit/", views.audit, name="audit"),
    path("audit.csv", views.audit_csv, name="audit_csv"),
    path("export.csv", import_views.export, name="export"),
    path("import/", import_views.upload, name="import"),
    path("import/<int:pk>/", import_views.detail, name="import_detail"),
    path("import/<int:pk>/apply", import_views.apply, name="import_apply"),
    path("import/<int:pk>/repreview", import_views.repreview, name="import_repreview"),
    path("import/<int:pk>/file", import_views.download, name="import_file"),
]
