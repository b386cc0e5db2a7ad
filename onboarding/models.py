"""Onboarding: files of assets checked before anything is sent, jobs at Leap, and each asset's
way from submitted to ACTIVE.

Draft (a file as received, or failed assets being fixed) -> DraftRow (one line's verdict) ->
Job (what one person submitted) -> Batch (one create-meters job at Leap, within its limits) ->
Asset (one line sent: Leap's outcome, its meter, its funnel timestamps) -> ProgramStep (a created
asset's way to ACTIVE in one of the programs it was onboarded for).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Draft(models.Model):
    """An uploaded file (or a set of fixed failed assets) and its dry run."""

    class Status(models.TextChoices):
        REFUSED = "refused", "refused (file unreadable)"
        PREVIEWED = "previewed", "checked, not sent"
        SUBMITTED = "submitted", "submitted"

    class Source(models.TextChoices):
        CSV = "csv", "CSV file"
        XLSX = "xlsx", "XLSX file"
        FIX = "fix", "fixed failed assets"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.CharField(max_length=8, choices=Source)
    filename = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    # Kept as received for inspection (empty only when refused for its size).
    raw = models.BinaryField(blank=True, default=b"")
    region = models.CharField(max_length=16)
    meter_type = models.CharField(max_length=16)
    programs: models.JSONField[list[str]] = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.PREVIEWED)
    file_error = models.TextField(blank=True)
    counts: models.JSONField[dict[str, int]] = models.JSONField(default=dict)
    parent_job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="fix_drafts"
    )
    update_existing = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"draft {self.pk} ({self.filename})"

    @property
    def sendable(self) -> int:
        """Lines that would be sent (ok or with warnings)."""
        return self.counts.get("ok", 0) + self.counts.get("warning", 0)


class DraftRow(models.Model):
    """The dry-run verdict of one line."""

    class Verdict(models.TextChoices):
        OK = "ok", "ready"
        WARNING = "warning", "ready, with a warning"
        ERROR = "error", "will not be sent"

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField()
    partner_reference = models.CharField(max_length=300, blank=True)
    customer_id = models.CharField(max_length=200, blank=True)
    site_id = models.CharField(max_length=200, blank=True)
    label = models.CharField(max_length=400, blank=True)
    asset: models.JSONField[dict] = models.JSONField(default=dict)
    verdict = models.CharField(max_length=8, choices=Verdict)
    # [[field, message], ...]; field "" for the line as a whole.
    problems: models.JSONField[list] = models.JSONField(default=list)
    fixes_asset = models.ForeignKey(
        "Asset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["line"]
        indexes = [models.Index(fields=["draft", "verdict", "line"])]

    def __str__(self) -> str:
        return f"line {self.line}: {self.verdict}"


class Job(models.Model):
    """What one person submitted: the sendable lines of one draft, in batches."""

    class Status(models.TextChoices):
        SENDING = "sending", "sending to Leap"
        PROCESSING = "processing", "Leap is processing"
        DONE = "done", "done"
        DONE_WITH_ERRORS = "done_with_errors", "done, some assets failed"
        FAILED = "failed", "failed"

    draft = models.OneToOneField(Draft, on_delete=models.PROTECT, related_name="job")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resubmissions"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_by_name = models.CharField(max_length=150)
    submitted_at = models.DateTimeField(default=timezone.now, db_index=True)
    region = models.CharField(max_length=16)
    meter_type = models.CharField(max_length=16)
    programs: models.JSONField[list[str]] = models.JSONField(default=list, blank=True)
    update_existing = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status, default=Status.SENDING)
    counts: models.JSONField[dict[str, int]] = models.JSONField(default=dict)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at"]

    def __str__(self) -> str:
        return f"onboarding job {self.pk}"

    @property
    def is_open(self) -> bool:
        """Still waiting for Leap (the page keeps polling)."""
        return self.status in (self.Status.SENDING, self.Status.PROCESSING)


class Batch(models.Model):
    """One create-meters job at Leap (at most ONBOARDING_BATCH_SIZE assets)."""

    class Status(models.TextChoices):
        PENDING = "pending", "waiting to be sent"
        SENDING = "sending", "being sent"
        UNSURE = "unsure", "sent, answer lost: checking Leap before sending again"
        REJECTED = "rejected", "refused by Leap (400)"
        PROCESSING = "processing", "Leap is processing"
        COMPLETED = "completed", "completed"
        COMPLETED_WITH_ERRORS = "completed_with_errors", "completed with errors"
        FAILED = "failed", "failed"

    OPEN = (Status.PENDING, Status.SENDING, Status.UNSURE, Status.PROCESSING)
    LEAP_STATUS = {
        "PROCESSING": Status.PROCESSING,
        "COMPLETED": Status.COMPLETED,
        "COMPLETED_WITH_ERRORS": Status.COMPLETED_WITH_ERRORS,
        "FAILED": Status.FAILED,
    }

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    # Unique per batch and stable across retries: how a job whose id was lost is found at Leap.
    file_name = models.CharField(max_length=255, unique=True)
    update_existing = models.BooleanField(default=False)
    size = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=24, choices=Status, default=Status.PENDING)
    leap_job_id = models.UUIDField(null=True, blank=True, unique=True)
    send_attempts = models.PositiveIntegerField(default=0)
    sending_since = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    poll_failures = models.PositiveIntegerField(default=0)  # in a row; 0 after a good read
    last_polled_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    rejection: models.JSONField[list] = models.JSONField(default=list, blank=True)
    leap_counts: models.JSONField[dict] = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="onboarding_batch_number")
        ]

    def __str__(self) -> str:
        return f"batch {self.number} of job {self.job_id}"

    @property
    def is_open(self) -> bool:
        """Not finished at Leap yet (sent or not)."""
        return self.status in self.OPEN


class Asset(models.Model):
    """One line sent to Leap: its outcome, its meter and its way to ACTIVE."""

    class Status(models.TextChoices):
        WAITING = "waiting", "not sent yet"
        PROCESSING = "PROCESSING", "Leap is processing"
        COMPLETED = "COMPLETED", "meter created or updated"
        FAILED = "FAILED", "failed"
        DUPLICATE = "DUPLICATE", "duplicate partner reference"
        MULTIPLE = "MULTIPLE_PARTNER_REFERENCE", "partner reference used twice"
        REJECTED = "REJECTED", "batch refused by Leap"

    FAILED_STATUSES = (Status.FAILED, Status.DUPLICATE, Status.MULTIPLE, Status.REJECTED)

    class Stage(models.TextChoices):
        SUBMITTED = "submitted"
        CREATED = "created"
        ELIGIBLE = "eligible", "ELIGIBLE"
        ACTIVE = "active", "ACTIVE"
        FAILED = "failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="assets")
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="assets")
    line = models.PositiveIntegerField()
    position = models.PositiveIntegerField()  # index in the batch's assets array (json_index)
    partner_reference = models.CharField(max_length=300, db_index=True)
    customer_id = models.CharField(max_length=200, blank=True)
    site_id = models.CharField(max_length=200, blank=True)
    label = models.CharField(max_length=400, blank=True)
    payload: models.JSONField[dict] = models.JSONField(default=dict)
    programs: models.JSONField[list[str]] = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=28, choices=Status, default=Status.WAITING)
    detail_name = models.CharField(max_length=64, blank=True)
    detail_description = models.TextField(blank=True)
    failed_fields: models.JSONField[dict] = models.JSONField(default=dict, blank=True)
    meter_id = models.UUIDField(null=True, blank=True, db_index=True)
    resubmitted_in = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="fixed_assets"
    )
    stage = models.CharField(max_length=10, choices=Stage, default=Stage.SUBMITTED)
    stage_since = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    eligible_at = models.DateTimeField(null=True, blank=True)
    active_at = models.DateTimeField(null=True, blank=True)
    linked_at = models.DateTimeField(null=True, blank=True)
    link_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["job", "line"]
        indexes = [
            models.Index(fields=["batch", "position"]),
            models.Index(fields=["job", "status", "line"]),
            # The stuck lane and the funnel's live stuck count per job (from the index alone).
            models.Index(
                fields=["stage", "stage_since"], include=["job"], name="onboarding_asset_stuck"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_reference} ({self.status})"

    @property
    def failed(self) -> bool:
        """Leap did not create or update a meter for it."""
        return self.status in self.FAILED_STATUSES


class ProgramStep(models.Model):
    """A created asset's way to ACTIVE in one program it was onboarded for.

    Leap enrolls a meter per program (and delivery period): one meter can be ACTIVE in one program
    and PENDING in another (Leap enrolls per program), so each program of the job has its own step, read from
    the meter's enrollment rows of that program (the best of its delivery periods). A job that
    named no program has one step, program "", read from the meter's global status. The asset's
    own stage and timestamps are the rollup of its steps (onboarding.follow): it is as far as its
    slowest program.
    """

    # The identity's prefix indexes the asset.
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="steps", db_index=False)
    program = models.CharField(max_length=64, blank=True)
    stage = models.CharField(max_length=10, choices=Asset.Stage, default=Asset.Stage.CREATED)
    stage_since = models.DateTimeField()
    created_at = models.DateTimeField()  # the asset's (Leap made the meter): days to ELIGIBLE
    eligible_at = models.DateTimeField(null=True, blank=True)
    active_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "program"], name="onboarding_step_identity")
        ]
        # The funnel's live stuck count per program, from the index alone.
        indexes = [
            models.Index(
                fields=["stage", "stage_since"], include=["program"], name="onboarding_step_stuck"
            )
        ]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.program or '(no program)'}: {self.stage}"


class FunnelSum(models.Model):
    """The funnel's sums over one job's assets (program None), or over its steps in one program.

    Kept by onboarding.follow.refresh_funnel whenever a job's assets or steps change (sent,
    outcomes, steps stamped, resubmitted): the funnel page adds up a few hundred of these rather
    than aggregating every asset and step (at 100,000 meters those passes alone cost more than
    the page's budget). Waiting is kept as the sum of the epochs its rows began at, so the page
    computes it for any now; stuck depends on now and is counted live, from the indexes.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+")
    program = models.CharField(max_length=64, null=True, blank=True)
    submitted = models.IntegerField(default=0)
    created = models.IntegerField(default=0)
    eligible = models.IntegerField(default=0)
    active = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)  # and not resubmitted
    create_seconds = models.FloatField(default=0)
    create_n = models.IntegerField(default=0)
    eligible_seconds = models.FloatField(default=0)
    eligible_n = models.IntegerField(default=0)
    active_seconds = models.FloatField(default=0)
    active_n = models.IntegerField(default=0)
    # Waiting to be created (only on the assets' row), and waiting in created or ELIGIBLE.
    waiting_submitted_n = models.IntegerField(default=0)
    waiting_submitted_epochs = models.FloatField(default=0)
    waiting_open_n = models.IntegerField(default=0)
    waiting_open_epochs = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "program"], name="onboarding_funnel_sum", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"funnel of job {self.job_id} ({self.program or 'assets'})"
