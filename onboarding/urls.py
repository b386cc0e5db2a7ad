from __future__ import annotations

from django.urls import path

from onboarding import views

app_name = "onboarding"
urlpatterns = [
    path("", views.index, name="index"),
    path("upload", views.upload, name="upload"),
    path("template.csv", views.template, name="template"),
    path("from-mapping.csv", views.from_mapping, name="from_mapping"),
    path("drafts/<int:pk>/", views.draft, name="draft"),
    path("drafts/<int:pk>/file", views.draft_file, name="draft_file"),
    path("drafts/<int:pk>/submit", views.submit, name="submit"),
    path("jobs/<int:pk>/", views.job, name="job"),
    path("jobs/<int:pk>/fix", views.fix, name="fix"),
    path("jobs/<int:pk>/failed.csv", views.failed_csv, name="failed_csv"),
    path("funnel/", views.funnel, name="funnel"),
    path("stuck/", views.stuck, name="stuck"),
]
