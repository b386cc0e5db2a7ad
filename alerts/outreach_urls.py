from __future__ import annotations

from django.urls import path

from alerts import outreach_views

app_name = "outreach"
urlpatterns = [
    path("actions/<int:pk>/email", outreach_views.compose, name="compose"),
    path("send-all", outreach_views.send_all, name="send_all"),
    path("templates/", outreach_views.template_list, name="templates"),
    path("templates/<str:code>/", outreach_views.template_edit, name="template"),
]
