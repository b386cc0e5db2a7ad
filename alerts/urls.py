from __future__ import annotations

from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.alert_list, name="list"),
    path("<int:pk>/", views.alert_detail, name="detail"),
    path("acknowledge-all", views.acknowledge_all, name="acknowledge_all"),
    path("<int:pk>/status", views.alert_status, name="status"),
    path("notifications/", views.preferences, name="prefs"),
    path("messages/<int:pk>/retry", views.message_retry, name="retry"),
]
