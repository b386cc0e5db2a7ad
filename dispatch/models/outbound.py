"""The hand-on to our systems: endpoints, the messages queued for them, each delivery attempt."""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.utils import timezone

from dispatch.models.timeslots import DispatchTimeslot


def _new_whsec() -> str:
    """A Standard Webhooks secret: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class OutboundEndpoint(models.Model):
    """A URL of our device and event system that learns each change of a timeslot's state."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, default=_new_whsec, help_text="whsec_… (base64)")
    active = models.BooleanField(default=True)
    include_tests = models.BooleanField(
        default=False, help_text="Also send integration-test timeslots"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OutboundMessage(models.Model):
    """One state change to hand on to one endpoint; retried with backoff until delivered."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        RETRYING = "retrying", "Retrying"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(
        OutboundEndpoint, on_delete=models.CASCADE, related_name="messages"
    )
    timeslot = models.ForeignKey(
        DispatchTimeslot, on_delete=models.CASCADE, related_name="outbound_messages"
    )
    webhook_id = models.CharField(max_length=64, unique=True, help_text="Standard Webhooks id")
    event_type = models.CharField(max_length=40)
    effective_hash = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # No unique (endpoint, timeslot, state): a state may come back (A -> B -> A) and must be
        # handed on again. outbound.hand_on queues each change once by a compare-and-set on
        # DispatchTimeslot.effective_hash instead.
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint} ({self.status})"


class OutboundAttempt(models.Model):
    """The delivery log: one row per HTTP attempt of an outbound message."""

    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.message.webhook_id} {self.status_code or self.error[:40]}"
