"""Project-wide models: the permissions anchor and the worker heartbeat."""

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


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the heartbeat task (one row per worker hostname)."""

    hostname = models.CharField(max_length=255, unique=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    beats = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen_at"]
        get_latest_by = "last_seen_at"

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.last_seen_at:%Y-%m-%d %H:%M:%S}Z"
