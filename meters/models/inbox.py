"""The meter-event webhook inbox: one row per delivery Leap sent."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from meters.models.history import SyncRun

# --- webhook inbox -------------------------------------------------------------------------------


class WebhookDelivery(models.Model):
    """One POST from Leap's webhook platform to our meter receiver, kept as it came."""

    class Status(models.TextChoices):
        RECEIVED = "received"  # stored, task queued
        PROCESSING = "processing"
        PROCESSED = "processed"
        IGNORED = "ignored"  # connect_session.* and types we do not act on
        REJECTED = "rejected"  # bad JSON or wrong shape (answered 400)
        UNAUTHORIZED = "unauthorized"  # wrong or missing secret (answered 401)
        FAILED = "failed"  # processing gave up; error says why

    webhook_event_id = models.UUIDField(null=True, blank=True, unique=True)
    event_type = models.CharField(max_length=64, blank=True, db_index=True)
    meter_id = models.UUIDField(null=True, blank=True, db_index=True)
    headers = models.JSONField(default=dict, blank=True)  # minus the secret and cookies
    body = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.IntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    sync_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type or '?'} {self.webhook_event_id or self.pk} ({self.status})"
