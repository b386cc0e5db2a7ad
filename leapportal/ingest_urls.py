"""The URLs of the receivers' own web pool (leapportal/wsgi_ingest.py): Leap's webhooks only.

The same paths as in leapportal/urls.py, so a proxy can route `/dispatch/webhooks/` and
`/meters/webhooks/` here without rewriting, plus `/healthz` for the load balancer. Anything else
is a 404: the pages need the full middleware chain (sessions, login, CSRF), which this pool
does not load.
"""

from __future__ import annotations

from django.urls import path

from dispatch import webhooks as dispatch_webhooks
from leapportal import views
from meters import webhooks as meter_webhooks

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("dispatch/webhooks/meter", dispatch_webhooks.meter_webhook, name="dispatch-meter"),
    path("dispatch/webhooks/group", dispatch_webhooks.group_webhook, name="dispatch-group"),
    path("meters/webhooks/leap", meter_webhooks.receive, name="meter-events"),
]
