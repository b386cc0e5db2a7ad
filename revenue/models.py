"""Leap's revenue reports mirrored: versions (never overwritten), meter rows, responsiveness.

A report is one month; Leap publishes versions of it (V1 PRELIMINARY, later ones FINALIZED).
Each version's meter rows are stored on their own and never updated once the version is
complete, so a finalized figure is never overwritten by a later one: a later version is a new
set of rows, and the month's `current_version` moves to it. What changed between a version and
the one before is kept on the version (`changes`) and on each row (`previous_total_revenue`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leapportal.models import RunRecord


class ReportStatus(models.TextChoices):
    PRELIMINARY = "PRELIMINARY", "Preliminary"
    FINALIZED = "FINALIZED", "Final"


class RevenueReport(models.Model):
    """One month of Leap's revenue reports; `current_version` is the newest complete one."""

    month = models.DateField(unique=True, help_text="First day of the delivery month")
    status = models.CharField(max_length=16, choices=ReportStatus.choices, blank=True)
    current_version = models.ForeignKey(
        "ReportVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    diagnosis_fetched_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} ({self.status or 'none'})"


class ReportVersion(models.Model):
    """One version of a month's report as Leap published it, and what changed from the last."""

    class State(models.TextChoices):
        FETCHING = "fetching"  # rows being written (a run that died leaves this; redone)
        COMPLETE = "complete"
        INVALID = "invalid"  # Leap's report did not validate: kept with its error, not applied
        # Listed by Leap but already replaced by a newer version when we first synced the month:
        # not fetched (its rows would be history nobody saw), kept so the list of versions is whole.
        SUPERSEDED = "superseded"

    report = models.ForeignKey(RevenueReport, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=16)
    number = models.IntegerField(help_text="V3 -> 3: orders the versions")
    status = models.CharField(max_length=16, choices=ReportStatus.choices, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.FETCHING)
    leap_updated_at = models.DateTimeField(null=True, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    summary_raw = models.JSONField(null=True, blank=True)  # the PeriodicReportResponse as sent
    rows = models.IntegerField(default=0)
    invalid_rows = models.IntegerField(default=0)
    earned = models.FloatField(default=0)
    potential = models.FloatField(default=0)
    missed = models.FloatField(default=0)
    penalty = models.FloatField(default=0)
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["report", "number"]
        constraints = [
            models.UniqueConstraint(fields=["report", "version"], name="one_row_per_report_version")
        ]

    def __str__(self) -> str:
        return f"{self.report.month:%Y-%m} {self.version} ({self.status}, {self.state})"

    @property
    def is_final(self) -> bool:
        return self.status == ReportStatus.FINALIZED


class MeterRevenue(models.Model):
    """One meter × program of one report version (insert-only: written by COPY, never updated)."""

    version = models.ForeignKey(ReportVersion, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()
    meter_id = models.UUIDField()
    program = models.CharField(max_length=64, blank=True)
    partner_reference = models.CharField(max_length=256, blank=True)
    market_group = models.CharField(max_length=128, blank=True)
    utility = models.CharField(max_length=64, blank=True)
    customer = models.CharField(max_length=200, blank=True)  # Leap's customer name
    customer_group = models.CharField(max_length=200, blank=True)
    load_types = models.JSONField(default=list, blank=True)
    revenue_type = models.CharField(max_length=40)
    nomination_w = models.FloatField(null=True)
    capacity_revenue = models.FloatField(null=True)
    energy_revenue = models.FloatField(null=True)
    total_revenue = models.FloatField()
    potential_revenue = models.FloatField(null=True)
    missed_revenue = models.FloatField(null=True)
    penalty = models.FloatField(null=True)
    payment_adjustment = models.FloatField(null=True)
    performance_adjustment = models.FloatField(null=True)
    data_coverage = models.FloatField(null=True)
    response_percentage = models.FloatField(null=True)
    events = models.IntegerField(null=True)
    diagnosis = models.CharField(max_length=32, blank=True)
    historical_responsiveness = models.CharField(max_length=32, blank=True)
    extra = models.JSONField(null=True, blank=True)  # fields Leap sent that we do not know
    # Filled when the version is complete: the same meter's total in the version before, and
    # missed ÷ potential where Leap's data coverage is at least 75% (else NULL: not ranked).
    previous_total_revenue = models.FloatField(null=True)
    risk = models.FloatField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["meter_id", "month"], name="meterrevenue_meter_month"),
            # The at-risk ranking reads one page of one version in this order, from the index.
            models.Index(
                "version",
                models.F("risk").desc(),
                models.F("missed_revenue").desc(),
                "id",
                name="meterrevenue_version_risk",
                condition=Q(risk__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.month:%Y-%m} {self.total_revenue}"


class RevenueAggregate(models.Model):
    """A version's sums by one dimension (program, market group, utility, load type, customer)."""

    class Dimension(models.TextChoices):
        PROGRAM = "program", "Program"
        MARKET_GROUP = "market_group", "Market group"
        UTILITY = "utility", "Utility"
        LOAD_TYPE = "load_type", "Load type"
        CUSTOMER = "customer", "Our customer"
        REVENUE_TYPE = "revenue_type", "Revenue type"

    version = models.ForeignKey(ReportVersion, on_delete=models.CASCADE, related_name="aggregates")
    dimension = models.CharField(max_length=16, choices=Dimension.choices)
    key = models.CharField(max_length=256)
    meters = models.IntegerField()
    earned = models.FloatField()
    potential = models.FloatField()
    missed = models.FloatField()
    previous_earned = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["version", "dimension"], name="revenueaggregate_dim")]

    def __str__(self) -> str:
        return f"{self.dimension}={self.key}"


class InvalidRevenueRecord(models.Model):
    """Something Leap sent about revenue that did not validate: kept as sent, with why."""

    run = models.ForeignKey("RevenueSyncRun", null=True, on_delete=models.SET_NULL)
    version = models.ForeignKey(ReportVersion, null=True, on_delete=models.CASCADE)
    month = models.DateField(null=True)
    what = models.CharField(max_length=64)  # "meter row", "report", "diagnosis row"
    raw = models.JSONField(null=True)
    errors = models.JSONField(default=list)
    message = models.TextField()
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.what}: {self.message[:80]}"


class MeterResponsiveness(models.Model):
    """A meter × program × month of Leap's unresponsive-meters diagnosis (never/rarely respond)."""

    month = models.DateField()
    meter_id = models.UUIDField()
    program = models.CharField(max_length=64)
    transmission_region = models.CharField(max_length=16, blank=True)
    partner_reference = models.CharField(max_length=256, blank=True)
    customer_name = models.CharField(max_length=200, blank=True)
    historical_responsiveness = models.CharField(max_length=32)
    response_percentage = models.FloatField()
    events = models.IntegerField()
    missed_revenue = models.FloatField(null=True)
    nomination_w = models.FloatField(null=True)
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "meter_id", "program"], name="one_diagnosis_per_meter_month"
            )
        ]
        indexes = [
            models.Index(fields=["meter_id", "month"], name="responsiveness_meter_month"),
            models.Index(
                "month", models.F("missed_revenue").desc(), name="responsiveness_month_missed"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.meter_id} {self.program} {self.month:%Y-%m}: {self.historical_responsiveness}"
        )


class RevenueSyncRun(RunRecord):
    """One revenue sync: which versions were new, how far it got, what went wrong."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=32, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    versions_found = models.IntegerField(default=0)
    versions_fetched = models.IntegerField(default=0)
    rows_written = models.IntegerField(default=0)
    invalid = models.IntegerField(default=0)
    # progress, error, attempts and the run's times: RunRecord's

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_revenue_sync",
            )
        ]

    def __str__(self) -> str:
        return f"revenue sync #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        if not self.is_active:
            return 100 if self.status == self.Status.DONE else 0
        if self.progress_total:
            return min(99, int(self.progress_done * 100 / self.progress_total))
        return 0


class UnresponsiveWorkItem(models.Model):
    """Our work on a meter × program that never or rarely responds (the queue's workflow)."""

    class State(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        WAITING_CUSTOMER = "waiting_customer", "Waiting on customer"
        IDLED = "idled", "Idled in Leap"
        DONE = "done", "Done"

    meter_id = models.UUIDField()
    program = models.CharField(max_length=64)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_unresponsive",
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.NEW)
    note = models.TextField(blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    idled_at = models.DateTimeField(null=True, blank=True)
    idled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["meter_id", "program"], name="one_work_item_per_meter_program"
            )
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.program}: {self.state}"


class UnresponsiveWorkItemChange(models.Model):
    """One change to an unresponsive-meter work item: who, when, each field before and after."""

    work_item = models.ForeignKey(
        UnresponsiveWorkItem, on_delete=models.CASCADE, related_name="history"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.work_item_id} {sorted(self.changes)}"
