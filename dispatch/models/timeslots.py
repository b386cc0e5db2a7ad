"""Timeslots keyed on Leap's event id, their versions, the ones refused, and unknown-meter alerts.

Leap's event id (meter_event_id or market_group_event_id) stays the same across updates and
cancellation, so webhooks, retries and polling all converge on one row.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dispatch.models.choices import RECHECK_CHOICES, Level, Source
from dispatch.models.inbox import DispatchDelivery
from leap.schemas import SPECIAL_EVENT_TYPES


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
    # No index of its own: the index (meter, start_time) below serves every lookup by meter
    # (dispatch 0011), one index fewer to write with each timeslot.
    meter = models.ForeignKey(
        "meters.Meter",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dispatch_timeslots",
        db_index=False,
    )
    meter_uuid = models.UUIDField(null=True, blank=True, db_index=True)
    partner_reference = models.CharField(max_length=256, null=True, blank=True)
    # The meter's present partner_reference (Leap's `partner_reference` above is the one of
    # the notification), for the timeline's "by meter" order. Derived, never written by us:
    # PostgreSQL's triggers (migrations 0009, 0010) set it on every insert of a timeslot and
    # every update that changes its meter, and follow every change of the meter's reference,
    # whatever path writes either.
    meter_reference = models.CharField(max_length=256, null=True, blank=True, editable=False)
    # Recipient, group level.
    market_group = models.ForeignKey(
        "meters.MarketGroup",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dispatch_timeslots",
    )
    market_group_uuid = models.UUIDField(null=True, blank=True, db_index=True)
    # The group's present name, for the timeline's "by group" order, as meter_reference is for
    # "by meter": derived, never written by us; PostgreSQL's triggers (migration 0012) set it on
    # every insert of a group timeslot and every update that changes its group, and follow every
    # rename of the group.
    market_group_name = models.CharField(max_length=256, null=True, blank=True, editable=False)
    group_meter_ids = models.JSONField(default=list, blank=True)
    group_partner_references = models.JSONField(default=list, blank=True)

    start_time = models.DateTimeField(db_index=True)
    end_time = models.DateTimeField()  # indexed as (end_time, start_time), below
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

    # Not a column: the market a page shows this timeslot in, attached by
    # dispatch.timeline.slot_region's callers to the rows they show.
    region: str

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
            # The timeline's "by meter" order, walked in order: a page of a day of tens of
            # thousands of meter timeslots without a meter lookup for each (migration 0009).
            models.Index(
                fields=["meter_reference", "meter_uuid", "start_time", "event_id"],
                include=["end_time", "cancelled"],
                condition=Q(integration_test=False),
                name="timeslot_live_by_meter",
            ),
            # The timeline's "by group" order, walked in order (migration 0012): the page of a
            # week is found without joining and sorting every timeslot of the window.
            models.Index(
                fields=["market_group_name", "market_group_uuid", "start_time", "event_id"],
                include=["end_time", "cancelled"],
                condition=Q(integration_test=False),
                name="timeslot_live_by_group",
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

    timeslot = models.ForeignKey(  # indexed as (timeslot, version), below
        DispatchTimeslot, on_delete=models.CASCADE, related_name="versions", db_index=False
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
