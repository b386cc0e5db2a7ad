from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerts raised from the data, their delivery to people, and customer outreach email."""

    name = "alerts"
    verbose_name = "Alerts, notifications and outreach"
