"""Project-wide models: the permissions anchor, the worker heartbeat, the time-zone preference,
the webhook inboxes' refusal counter."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


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


class UserPreference(models.Model):
    """How one user wants the dashboard to show things (times in market zone or UTC)."""

    class TimeZoneMode(models.TextChoices):
        MARKET = "market", "Market time (zone named)"
        UTC = "utc", "UTC"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ops_preference"
    )
    time_zone = models.CharField(max_length=10, choices=TimeZoneMode, default=TimeZoneMode.MARKET)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ops_userpreference"  # moved from ops with its table (ops 0005, leapportal 0003)

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"


class Receiver(models.TextChoices):
    """Which receiver refused a request: the two dispatch levels, or meter events."""

    METER = "meter", "Meter dispatches"
    GROUP = "group", "Group dispatches"
    METER_EVENTS = "events", "Meter events"


class WebhookAuthFailure(models.Model):
    """Requests refused for a missing or wrong secret, counted per day and level.

    A counter, not a row per request: whoever hammers the receiver without the secret must not be
    able to fill our database, and the body of an unauthenticated request is not Leap's. Both
    inboxes count here (leapportal/receivers.py `count_refusal`), so it sits beside their base.
    """

    day = models.DateField()
    level = models.CharField(max_length=10, choices=Receiver)
    count = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField(default=timezone.now)
    last_remote_addr = models.GenericIPAddressField(null=True, blank=True)
    last_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        db_table = "dispatch_webhookauthfailure"  # moved from dispatch with its table
        constraints = [
            models.UniqueConstraint(fields=["day", "level"], name="one_auth_failure_counter_a_day")
        ]
        ordering = ["-day", "level"]

    def __str__(self) -> str:
        return f"{self.day} {self.level}: {self.count}"
