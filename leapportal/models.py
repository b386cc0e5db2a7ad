"""Project-wide permissions. No table: the model only anchors the permissions the roles use."""

from __future__ import annotations

from django.db import models


class Portal(models.Model):
    """Anchor for the dashboard's own permissions (see leapportal.roles)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_dashboard", "Can read every dashboard page"),
            ("work_queue", "Can work the action queue and dispatches"),
            ("start_sync", "Can start syncs and resyncs"),
            ("edit_mapping", "Can edit meter-to-customer mappings"),
            ("manage_settings", "Can change settings, schedules and Leap registrations"),
        ]

    def __str__(self) -> str:
        return "leapportal"
