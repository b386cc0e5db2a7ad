"""The sync's runs and the history it keeps: changes, events and failures."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leapportal.models import RunRecord
from meters.models.meter import ChangeSource, Meter

# --- history and runs ----------------------------------------------------------------------------


class SyncRun(RunRecord):
    """One sync of Leap into our tables: who asked, how far it got, what it changed."""

    class Kind(models.TextChoices):
        FULL = "full"
        INCREMENTAL = "incremental"
        METER = "meter"  # resync of one meter
        WEBHOOK = "webhook"  # processing of one meter webhook delivery

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        HELD = "held"  # done, except the mass-missing part that waits for an admin

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    meter_id = models.UUIDField(null=True, blank=True)  # kind meter/webhook: the meter concerned
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    trigger = models.CharField(max_length=32, blank=True)  # "schedule", "user", "webhook", ...

    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    missing = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)

    # incremental: the instant Leap was asked for changes after (previous run's start - overlap)
    window_start = models.DateTimeField(null=True, blank=True)
    # held runs: the meters that would have gone missing, until an admin approves
    held_meter_ids = models.JSONField(default=list, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approved_sync_runs",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # Seconds the run waited for dispatch to catch up (leapportal/priority.py): part of its time.
    gave_way_seconds = models.FloatField(default=0)
    # Objects (details and enrollments) Leap sent exactly as stored, passed to the planner without
    # validation (meters/sync/known.py); a full sync's unchanged night is mostly these.
    unvalidated = models.IntegerField(default=0)
    # progress, error, attempts and the run's times: RunRecord's

    # Not columns: the progress bar's figures, attached by meters.views.with_percent.
    percent: int
    phase: str
    meters_done: int
    meters_total: int | None

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One active full and one active incremental run; one active resync per meter.
            # Webhook runs are claimed per delivery instead, so they are not limited here.
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(status__in=["queued", "running"], kind__in=["full", "incremental"]),
                name="one_active_sync_per_kind",
            ),
            models.UniqueConstraint(
                fields=["kind", "meter_id"],
                condition=Q(status__in=["queued", "running"], kind="meter"),
                name="one_active_resync_per_meter",
            ),
        ]
        indexes = [models.Index(fields=["kind", "status"], name="syncrun_kind_status")]

    def __str__(self) -> str:
        return f"{self.kind} sync #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        """Queued or running."""
        return self.status in self.ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        """Wall time from start to finish (or to now while running)."""
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class MeterChange(models.Model):
    """One field of one meter that changed: from, to, when, and through which path."""

    meter = models.ForeignKey(
        Meter, on_delete=models.CASCADE, related_name="changes", db_index=False
    )
    # a column name, or a dotted path into the enrollment ("program.CCA/CAISO-CCA_2024_OCT.status")
    field = models.CharField(max_length=255)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=16, choices=ChangeSource.choices)
    sync_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )

    class Meta:
        indexes = [
            models.Index(fields=["meter", "changed_at"], name="change_by_meter"),
            models.Index(fields=["changed_at"], name="change_by_time"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id}.{self.field}: {self.old!r} -> {self.new!r}"


class MeterEvent(models.Model):
    """A transition worth telling people about; the dashboard and notifications read these."""

    class Kind(models.TextChoices):
        NEW_METER = "new_meter"
        BECAME_ACTIVE = "became_active"
        ACTION_OPENED = "action_opened"
        ACTION_RESOLVED = "action_resolved"
        GROUP_CHANGING = "group_changing"
        PARTNER_REFERENCE_SET = "partner_reference_set"
        WENT_MISSING = "went_missing"
        RETURNED = "returned"
        ARCHIVED = "archived"

    meter = models.ForeignKey(
        Meter, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    # action_opened: the action's deadline; group_changing: start of the trade day that changes
    deadline = models.DateTimeField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=16, choices=ChangeSource.choices)
    sync_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    # Set for events that must not repeat when the same fact is derived again (group changes).
    dedupe_key = models.CharField(max_length=255, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["kind", "occurred_at"], name="event_by_kind"),
            models.Index(fields=["meter", "occurred_at"], name="event_by_meter"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.meter_id}"


class SyncFailure(models.Model):
    """An object Leap sent that did not validate: kept for inspection, counted as a failed meter."""

    class Stream(models.TextChoices):
        DETAILS = "details"
        ENROLLMENT = "enrollment"

    sync_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.CASCADE, related_name="failures"
    )
    meter_id = models.UUIDField(null=True, blank=True, db_index=True)  # when it could be read
    stream = models.CharField(max_length=16, choices=Stream.choices)
    raw = models.JSONField(null=True, blank=True)
    error = models.TextField()
    errors = models.JSONField(default=list, blank=True)  # pydantic's list: loc, msg, type
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.stream} {self.meter_id or '?'}: {self.error[:80]}"
