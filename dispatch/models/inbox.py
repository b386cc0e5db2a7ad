"""The raw inbox: every notification as received (DispatchDelivery), and the sweeps that
requeue lost ones (DeliverySweep)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

from dispatch.models.choices import Level, Source


class DispatchDelivery(models.Model):
    """One notification as received (raw inbox): stored before we answer Leap, processed later."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        DUPLICATE = "duplicate", "Duplicate"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=10, choices=Source, default=Source.WEBHOOK)
    level = models.CharField(max_length=10, choices=Level)
    status = models.CharField(max_length=10, choices=Status, default=Status.RECEIVED)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Bytes, not text: a body that is not even UTF-8 is kept exactly as it came, for inspection.
    body = models.BinaryField()
    # Not indexed: nothing looks a delivery up by it (the admin's search is a substring match).
    body_sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False, help_text="Body was over the size limit")
    headers = models.JSONField(
        default=dict, blank=True, help_text="Request headers, secrets removed"
    )
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    integration_test = models.BooleanField(default=False)
    communication_test = models.BooleanField(default=False)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    summary = models.JSONField(default=dict, blank=True, help_text="What processing changed")

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name_plural = "dispatch deliveries"
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.level} #{self.pk} ({self.status})"

    @staticmethod
    def hash_body(body: bytes) -> str:
        """The dedupe key of a body: its SHA-256."""
        return hashlib.sha256(body).hexdigest()

    @classmethod
    def store_poll(
        cls, level: str, body: bytes, polled_at: datetime, *, status: str, **fields: Any
    ) -> DispatchDelivery:
        """What a search of Leap found, stored in the inbox as a poll delivery received at
        `polled_at` (so the versions it makes can point at it, as at a webhook's)."""
        return cls.objects.create(
            source=Source.POLL,
            level=level,
            received_at=polled_at,
            body=body,
            body_sha256=cls.hash_body(body),
            size=len(body),
            status=status,
            **fields,
        )

    @property
    def body_text(self) -> str:
        """The body for display; undecodable bytes shown as replacement characters."""
        return bytes(self.body).decode("utf-8", errors="replace")


class DeliverySweep(models.Model):
    """One sweep that queued stored webhook deliveries again (their task was lost): how many."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    dispatch_requeued = models.PositiveIntegerField(default=0)
    meter_requeued = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.dispatch_requeued}+{self.meter_requeued}"
