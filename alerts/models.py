"""Alerts, who gets told about them and how, and every message we send (alerts and customers).

An Alert is one live cause (a partner action due in a day, a meter that went missing, ...) with a
lifecycle: open -> acknowledged / snoozed -> resolved. The evaluation pass (alerts/evaluate.py)
raises and resolves them in set-based SQL; every status change is an AlertChange (who, when).

OutboundMessage is one email or chat post, queued before it is sent and kept after: notifications
to our staff (immediate or digest) and customer outreach emails of the action queue alike. A send
that fails stays queued with its error and is retried with backoff (alerts/sending.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Alert(models.Model):
    """One live cause worth telling people about; raised and resolved by the evaluation pass."""

    class Kind(models.TextChoices):
        NEW_ACTION = "new_action", "New partner action"
        DEADLINE_7D = "deadline_7d", "Action deadline within 7 days"
        DEADLINE_1D = "deadline_1d", "Action deadline within 1 day"
        OVERDUE = "overdue", "Action overdue"
        DISPATCH_UNREADY = "dispatch_unready", "Dispatch soon, members not ready"
        UNKNOWN_METER = "unknown_meter", "Dispatch for a meter we do not know"
        SYNC_PROBLEM = "sync_problem", "Meter sync failed or stale"
        RECONCILE_PROBLEM = "reconcile_problem", "Dispatch reconcile failed or stale"
        WEBHOOK_SPIKE = "webhook_spike", "Spike of refused webhook requests"
        METER_MISSING = "meter_missing", "Meter went missing"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    LIVE_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED, Status.SNOOZED)

    kind = models.CharField(max_length=32, choices=Kind)
    # What the cause is about, unique per kind among unresolved alerts ("a123" = action 123, ...).
    key = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status, default=Status.OPEN)
    severity = models.CharField(max_length=10, choices=Severity, default=Severity.WARNING)
    title = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    # What it is about (no foreign keys: an alert outlives an unknown meter or a deleted row).
    meter_id = models.UUIDField(null=True, blank=True)
    action_id = models.BigIntegerField(null=True, blank=True)
    timeslot_id = models.BigIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)  # deadline, dispatch start, ...
    raised_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            # One unresolved alert per cause: the pass raises with ON CONFLICT DO NOTHING on this.
            models.UniqueConstraint(
                fields=["kind", "key"],
                condition=Q(resolved_at__isnull=True),
                name="alert_one_unresolved_per_cause",
            )
        ]
        indexes = [
            models.Index(fields=["status", "kind"], name="alert_by_status"),
            models.Index(fields=["raised_at"], name="alert_by_raised"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title} ({self.status})"

    @property
    def is_live(self) -> bool:
        """Not resolved yet."""
        return self.resolved_at is None


class AlertChange(models.Model):
    """One status change of an alert: who (None: the system), when, from, to, why."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["alert", "at"], name="alert_change_by_alert")]

    def __str__(self) -> str:
        return f"{self.alert_id}: {self.from_status or '-'} -> {self.to_status}"


class CounterSample(models.Model):
    """A monotonic counter read at one pass (refused dispatch webhooks), for rates over a window."""

    name = models.CharField(max_length=64)
    at = models.DateTimeField(default=timezone.now)
    value = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["name", "at"], name="counter_sample_by_time")]

    def __str__(self) -> str:
        return f"{self.name}={self.value} at {self.at:%Y-%m-%d %H:%M}"


class NotificationPreference(models.Model):
    """How one person wants to hear about alerts: channels, kinds, timing, quiet hours."""

    class Mode(models.TextChoices):
        IMMEDIATE = "immediate", "Immediately"
        HOURLY = "hourly", "Hourly digest"
        DAILY = "daily", "Daily digest"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email_enabled = models.BooleanField(default=False)
    email = models.EmailField(blank=True, help_text="Blank: the address of the user account")
    chat_enabled = models.BooleanField(default=False)
    chat_webhook_url = models.URLField(blank=True, max_length=500)
    kinds = models.JSONField(default=list, blank=True, help_text="Alert kinds; empty: all")
    mode = models.CharField(max_length=10, choices=Mode, default=Mode.IMMEDIATE)
    digest_hour = models.PositiveSmallIntegerField(default=8)  # daily: local hour to send at
    time_zone = models.CharField(max_length=64, default="UTC")
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    # Every alert up to this id has been handed on (or was older than the preference): an alert is
    # never sent twice to the same person.
    last_alert_id = models.BigIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} ({self.mode})"

    @property
    def email_address(self) -> str:
        """Where email goes: the preference's address, else the account's."""
        return self.email or getattr(self.user, "email", "") or ""


def one_line(text: str, limit: int = 300) -> str:
    """An email subject: one line (a newline would be a header injection), at most `limit`."""
    return " ".join(text.split())[:limit]


class OutboundMessage(models.Model):
    """One email or chat post: queued, then sent, retried with backoff on failure, kept."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        CHAT = "chat", "Chat webhook"

    class Purpose(models.TextChoices):
        ALERT = "alert", "Alert notification"
        DIGEST = "digest", "Alert digest"
        OUTREACH = "outreach", "Customer email"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RETRYING = "retrying", "Queued, retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (retries used up)"
        REFUSED = "refused", "Not sent (invalid address)"

    PENDING_STATUSES = (Status.QUEUED, Status.RETRYING)

    channel = models.CharField(max_length=8, choices=Channel)
    purpose = models.CharField(max_length=10, choices=Purpose)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    recipient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    to = models.CharField(max_length=500)  # an email address or the chat webhook URL
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # alert notifications: the alerts (ids first..last, of the person's kinds) this message covers
    alert_first_id = models.BigIntegerField(null=True, blank=True)
    alert_last_id = models.BigIntegerField(null=True, blank=True)
    alert_count = models.IntegerField(default=0)
    # customer outreach: the action and meter it is about, and who sent it
    action = models.ForeignKey(
        "meters.RequiredAction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="outreach_messages",
    )
    meter_id = models.UUIDField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="message_due"),
            models.Index(fields=["action", "to", "created_at"], name="message_by_action"),
            models.Index(fields=["sent_at"], name="message_by_sent_at"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to}: {self.subject} ({self.status})"

    @property
    def is_pending(self) -> bool:
        """Not sent yet, and will be tried (again)."""
        return self.status in self.PENDING_STATUSES
