"""Project-wide models: the permissions anchor, the worker heartbeat, the time-zone preference,
the webhook inboxes' refusal counter, the iCal feed's calendar tokens; the sync runs' common
fields (RunRecord, abstract)."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class RunRecord(models.Model):
    """What every sync run records besides its status and counters (abstract: each sync has its
    own table, meters.SyncRun and revenue.RevenueSyncRun): progress (against an estimated total,
    Leap gives none), the last error, attempts, and when it was created, started, last heard
    of and finished."""

    progress_done = models.IntegerField(default=0)
    progress_total = models.IntegerField(null=True, blank=True)  # Leap gives no totals: estimate
    error = models.TextField(blank=True)
    attempts = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


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


class CalendarToken(models.Model):
    """A per-user secret for the iCal feed; calendars cannot log in, so the URL carries it.

    Only the SHA-256 is stored: the feed URL is shown once, when the token is issued or rotated.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_token"
    )
    token_sha256 = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=10)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set: the feed answers 404 (the user or an admin revoked it)",
    )
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "ops_calendartoken"  # moved from ops with its table (ops 0007, leapportal 0005)

    def __str__(self) -> str:
        return f"{self.user} {self.token_prefix}…{' (revoked)' if self.revoked_at else ''}"

    @property
    def is_active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None

    @classmethod
    def revoke(cls, tokens: models.QuerySet[CalendarToken], by: models.Model | None) -> int:
        """Revoke the given tokens now; returns how many were still active."""
        return tokens.filter(revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=by
        )

    @staticmethod
    def hash_token(token: str) -> str:
        """How a token is stored and looked up."""
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: models.Model) -> str:
        """Create or rotate the user's token; return the token (the only time it is visible)."""
        token = "lpc_" + secrets.token_urlsafe(24)
        cls.objects.update_or_create(
            user=user,
            defaults={
                "token_sha256": cls.hash_token(token),
                "token_prefix": token[:10],
                "created_at": timezone.now(),
                "last_used_at": None,
                "revoked_at": None,
                "revoked_by": None,
            },
        )
        return token
