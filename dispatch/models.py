"""Leap dispatch events: the raw inbox, timeslots, their versions, reconciling, planning, hand-on.

The inbox (DispatchDelivery) keeps every body Leap sent, byte for byte, before we acknowledge it.
Timeslots are keyed on Leap's own event id (meter_event_id or market_group_event_id), which stays
the same across updates and cancellation, so webhooks, retries and polling all converge on one row.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leap.schemas import SPECIAL_EVENT_TYPES


class Level(models.TextChoices):
    """Leap dispatches either single meters or whole market groups."""

    METER = "meter", "Meter"
    GROUP = "group", "Group"


class Source(models.TextChoices):
    """How a notification reached us."""

    WEBHOOK = "webhook", "Webhook"
    POLL = "poll", "Poll (reconcile)"
    TEST = "test", "Test"


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
    body_sha256 = models.CharField(max_length=64, db_index=True)
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


RECHECK_CHOICES = [
    ("pending", "Waiting for Leap's search"),
    ("confirmed", "Leap lists it active: brought back"),
    ("refused", "Leap lists it cancelled: stays cancelled"),
    ("not_listed", "Leap does not list it: stays cancelled"),
    ("failed", "Leap unreachable: stays cancelled, reconcile retries"),
]


class DispatchTimeslotQuerySet(models.QuerySet["DispatchTimeslot"]):
    """Named selections of timeslots for views, planning and the feed."""

    def live(self) -> DispatchTimeslotQuerySet:
        """Real events (integration-test notifications left out)."""
        return self.filter(integration_test=False)

    def for_ops(self, *, include_tests: bool = False) -> DispatchTimeslotQuerySet:
        """What operations pages list: live events unless tests are explicitly asked for."""
        return self if include_tests else self.live()

    def active(self) -> DispatchTimeslotQuerySet:
        """Live and not cancelled."""
        return self.live().filter(cancelled=False)

    def parked(self) -> DispatchTimeslotQuerySet:
        """Meter-level events for a meter we do not (yet) have."""
        return self.filter(level=Level.METER, meter__isnull=True)

    def overlapping(self, start: Any, end: Any) -> DispatchTimeslotQuerySet:
        """Timeslots whose [start, end) window overlaps [start, end)."""
        return self.filter(start_time__lt=end, end_time__gt=start)

    def upcoming(self, *, now: Any = None) -> DispatchTimeslotQuerySet:
        """Not yet ended."""
        return self.filter(end_time__gt=now or timezone.now())


class DispatchTimeslot(models.Model):
    """One Leap dispatch event (a timeslot), as Leap last told us; unique on Leap's event id."""

    class PerformanceCap(models.TextChoices):
        UP_TO_NOMINATION = "up-to-nomination", "Up to nomination"
        UP_TO_SITE_LOAD = "up-to-site-load", "Up to site load"
        GRID_EXPORTS_ALLOWED = "grid-exports-allowed", "Grid exports allowed"

    # meter_event_id or market_group_event_id: stable across updates and cancellation.
    event_id = models.UUIDField(unique=True)
    level = models.CharField(max_length=10, choices=Level)

    # Recipient, meter level: the FK stays null while the meter is unknown (parked).
    meter = models.ForeignKey(
        "meters.Meter",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dispatch_timeslots",
    )
    meter_uuid = models.UUIDField(null=True, blank=True, db_index=True)
    partner_reference = models.CharField(max_length=256, null=True, blank=True)
    # Recipient, group level.
    market_group = models.ForeignKey(
        "meters.MarketGroup",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dispatch_timeslots",
    )
    market_group_uuid = models.UUIDField(null=True, blank=True, db_index=True)
    group_meter_ids = models.JSONField(default=list, blank=True)
    group_partner_references = models.JSONField(default=list, blank=True)

    start_time = models.DateTimeField(db_index=True)
    end_time = models.DateTimeField(db_index=True)
    cancelled = models.BooleanField(default=False)
    # null means "as much as the meter can" (Leap's documented meaning).
    energy_kw = models.FloatField(null=True, blank=True)
    nomination_kw = models.FloatField(null=True, blank=True)
    performance_compensation_cap = models.CharField(max_length=40, blank=True)
    priority = models.PositiveSmallIntegerField(default=10, help_text="1 is the highest")
    is_voluntary = models.BooleanField(default=False)
    dispatch_event_types = models.JSONField(default=list, blank=True)
    programs = models.JSONField(default=list, blank=True)
    communication_test = models.BooleanField(default=False)
    integration_test = models.BooleanField(default=False)
    raw = models.JSONField(
        default=dict, blank=True, help_text="The timeslot exactly as Leap sent it"
    )

    content_hash = models.CharField(max_length=64, help_text="Hash of the stored Leap fields")
    effective_hash = models.CharField(max_length=64, blank=True, help_text="Last state handed on")
    version = models.PositiveIntegerField(default=1)
    first_source = models.CharField(max_length=10, choices=Source)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)
    # Receipt time of the notification whose content is applied: an older one arriving (being
    # processed) later than it does not overwrite it. See dispatch/apply.py.
    applied_received_at = models.DateTimeField(default=timezone.now)
    # A webhook body that would bring this cancelled event back is held, and Leap's dispatch
    # search for its window decides (dispatch/recheck.py): Leap promises no order.
    recheck = models.CharField(
        max_length=12, choices=RECHECK_CHOICES, blank=True, help_text="Leap search check"
    )
    recheck_note = models.CharField(max_length=300, blank=True)
    recheck_at = models.DateTimeField(null=True, blank=True)
    first_delivery = models.ForeignKey(
        DispatchDelivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_delivery = models.ForeignKey(
        DispatchDelivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = DispatchTimeslotQuerySet.as_manager()

    class Meta:
        ordering = ["start_time", "priority", "event_id"]
        indexes = [
            models.Index(fields=["meter", "start_time"]),
            models.Index(fields=["end_time", "start_time"]),
            # The timeline's page of a window (ops): which live timeslots overlap it, sorted by
            # group, meter or time, read from this index alone; only the page's rows are read.
            models.Index(
                fields=["end_time", "start_time"],
                include=[
                    "id",
                    "market_group",
                    "market_group_uuid",
                    "meter",
                    "meter_uuid",
                    "event_id",
                    "cancelled",
                ],
                condition=Q(integration_test=False),
                name="timeslot_live_window",
            ),
            # Sync health's list of events waiting on (or failed) a Leap check: a few rows, found
            # without reading every timeslot (dispatch/templatetags/dispatch_alerts.py).
            models.Index(
                fields=["-recheck_at"],
                condition=Q(recheck__in=["pending", "failed", "not_listed"]),
                name="timeslot_rechecks_open",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")), name="timeslot_ends_after_start"
            ),
            models.CheckConstraint(
                condition=(Q(level="meter") & Q(meter_uuid__isnull=False))
                | (Q(level="group") & Q(market_group_uuid__isnull=False)),
                name="timeslot_has_recipient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} event {self.event_id}"

    @property
    def special_types(self) -> list[str]:
        """Labels of the special event types it carries (capacity test, real time)."""
        return [
            SPECIAL_EVENT_TYPES[t] for t in self.dispatch_event_types if t in SPECIAL_EVENT_TYPES
        ]

    @property
    def is_capacity_test(self) -> bool:
        """A capacity test: Leap measures the asset's performance."""
        return "capacity-test" in self.dispatch_event_types

    @property
    def plan_from(self) -> Any:
        """When the plan starts: its start, or when it reached us if it had already started."""
        return max(self.start_time, self.first_seen_at)

    @property
    def is_parked(self) -> bool:
        """A meter-level event whose meter we do not have yet."""
        return self.level == Level.METER and self.meter_id is None

    @property
    def recipient_uuid(self) -> uuid.UUID | None:
        """The meter or market group Leap addressed."""
        return self.meter_uuid if self.level == Level.METER else self.market_group_uuid


class DispatchTimeslotVersion(models.Model):
    """What changed on a timeslot, when, and through which delivery or poll."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        CANCELLED = "cancelled", "Cancelled"
        REINSTATED = "reinstated", "Reinstated"
        STALE = "stale", "Stale (older than what is applied; not applied)"
        ATTACHED = "attached", "Attached to its meter"
        HELD = "held", "Would bring a cancelled event back: held for Leap's search"
        CHECKED = "checked", "Leap's search checked (stays cancelled)"

    timeslot = models.ForeignKey(
        DispatchTimeslot, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=Kind)
    changed_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=10, choices=Source)
    delivery = models.ForeignKey(
        DispatchDelivery,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="timeslot_versions",
    )
    reconcile_run = models.ForeignKey(
        "ReconcileRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="versions"
    )
    changes = models.JSONField(default=dict, blank=True, help_text="{field: [old, new]}")
    snapshot = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["timeslot", "-changed_at", "-pk"]
        indexes = [models.Index(fields=["timeslot", "version"])]

    def __str__(self) -> str:
        return f"{self.timeslot.event_id} v{self.version} {self.kind}"


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


class DispatchAllocation(models.Model):
    """The plan for one meter and one timeslot: its share, and whether the meter follows it.

    Recomputed by dispatch/planning/ whenever a meter's timeslots change.
    """

    class Flag(models.TextChoices):
        NOT_ACTIVE = "not_active", "Meter not ACTIVE"
        NOT_IN_GROUP = "not_in_group", "Not in our copy of the group"
        UNKNOWN_METER = "unknown_meter", "Meter not in our portfolio"

    timeslot = models.ForeignKey(
        DispatchTimeslot, on_delete=models.CASCADE, related_name="allocations"
    )
    meter = models.ForeignKey(
        "meters.Meter",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="dispatch_allocations",
    )
    meter_uuid = models.UUIDField(db_index=True)
    # null: "as much as the meter can" (the timeslot's energy_kw was null).
    share_kw = models.FloatField(null=True, blank=True)
    # What the meter is told to deliver, after Leap's compensation cap and its capability, and
    # which limit set it (dispatch/planning/shares.py: BOUNDS).
    planned_kw = models.FloatField(null=True, blank=True)
    bound_by = models.CharField(max_length=20, blank=True)
    # The intervals the meter runs this event: [[start, end], ...] (ISO, UTC); an overlapping
    # higher-ranked event takes the rest.
    segments = models.JSONField(default=list, blank=True)
    followed = models.BooleanField(default=True)
    overruled_by = models.ForeignKey(
        DispatchTimeslot,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="overruling",
    )
    reason = models.CharField(max_length=200, blank=True)
    flags = models.JSONField(default=list, blank=True)
    planned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["timeslot", "meter_uuid"]
        constraints = [
            models.UniqueConstraint(
                fields=["timeslot", "meter_uuid"], name="one_allocation_per_meter_and_timeslot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.meter_uuid} ← {self.timeslot.event_id}"

    @property
    def is_conflict(self) -> bool:
        """Overruled by another overlapping timeslot of the same meter."""
        return not self.followed and self.overruled_by_id is not None


class RejectedTimeslot(models.Model):
    """A timeslot that broke Leap's rules (enums, ranges, shape): kept with its error, not applied.

    The rest of its notification is applied; sync health lists these.
    """

    delivery = models.ForeignKey(
        DispatchDelivery, null=True, blank=True, on_delete=models.CASCADE, related_name="rejected"
    )
    level = models.CharField(max_length=10, choices=Level)
    event_id = models.UUIDField(null=True, blank=True, db_index=True)
    recipient_uuid = models.UUIDField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list)
    received_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"rejected {self.event_id or 'timeslot'}: {'; '.join(self.errors)[:80]}"


class UnknownMeterAlert(models.Model):
    """Leap dispatched a meter we do not have: open until the meter arrives or someone dismisses.

    One row per meter (reopened if it comes back after a dismissal). `open()` is the query the
    overview and sync health show, and what a general alerts app can raise its own alert from.
    """

    meter_uuid = models.UUIDField(unique=True)
    first_event = models.ForeignKey(
        DispatchTimeslot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    events = models.PositiveIntegerField(default=0, help_text="Timeslots that named it")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resolution = models.CharField(
        max_length=10,
        blank=True,
        choices=[("arrived", "Meter arrived"), ("dismissed", "Dismissed")],
    )
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"unknown meter {self.meter_uuid}"

    @classmethod
    def open(cls) -> models.QuerySet[UnknownMeterAlert]:
        """Alerts nobody has resolved yet, newest first."""
        return cls.objects.filter(resolved_at__isnull=True).select_related("first_event")


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
