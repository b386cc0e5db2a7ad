"""The reconcile poll's runs and what each found (missed webhooks, values that differ)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from dispatch.models.timeslots import DispatchTimeslot


class ReconcileRun(models.Model):
    """One pass of the reconcile poll over Leap's dispatch searches."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.RUNNING)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [  # two overlapping polls would only do the same work twice
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="running"), name="one_running_reconcile"
            )
        ]

    def __str__(self) -> str:
        return f"reconcile {self.started_at:%Y-%m-%d %H:%M} {self.status}"


class ReconcileFinding(models.Model):
    """Something the reconcile poll found that webhooks had not told us."""

    class Kind(models.TextChoices):
        MISSED_WEBHOOK = "missed_webhook", "Seen only by polling (webhook missed)"
        VALUE_DIFFERS = "value_differs", "Values differ from the webhook's"

    run = models.ForeignKey(ReconcileRun, on_delete=models.CASCADE, related_name="findings")
    timeslot = models.ForeignKey(
        DispatchTimeslot, on_delete=models.CASCADE, related_name="findings"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    found_at = models.DateTimeField(default=timezone.now)
    differences = models.JSONField(default=dict, blank=True, help_text="{field: [ours, Leap's]}")

    class Meta:
        ordering = ["-found_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.timeslot.event_id}"
