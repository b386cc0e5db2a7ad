from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from leapportal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without a <link rel=icon> (files, error pages).
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("meters/", include("meters.urls")),
    path("dispatch/", include("dispatch.urls")),
    path("mapping/", include("mapping.urls")),
    path("api/", include("mapping.api_urls")),
    path("revenue/", include("revenue.urls")),
    path("alerts/", include("alerts.urls")),
    path("outreach/", include("alerts.outreach_urls")),
    path("onboarding/", include("onboarding.urls")),
    # dashboard (ops): action queue, groups, preferences
    path("", include("ops.urls")),
]
