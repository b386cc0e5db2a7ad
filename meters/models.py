"""Mirror of Leap's meter portfolio, with its history.

Leap is the source of truth: the sync (meters/sync.py) writes these tables from Leap's meter
details and enrollments; people never edit them, except ReasonCode (our own catalogue) and the
approval of a held SyncRun. Every time is stored in UTC.
"""

from __future__ import annotations

import string
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# --- choices -------------------------------------------------------------------------------------


class EnrollmentStatus(models.TextChoices):
    """Leap's EnrollmentStatus (global and per program); unknown values are stored as they come."""

    ACTIVE = "ACTIVE"
    ELIGIBLE = "ELIGIBLE"
    INELIGIBLE = "INELIGIBLE"
    NOT_PARTICIPATING = "NOT_PARTICIPATING"
    PENDING = "PENDING"


class Side(models.TextChoices):
    """Who must act on a required action: the list Leap puts it in decides."""

    PARTNER = "partner"
    LEAP = "leap"


class ChangeSource(models.TextChoices):
    """How a change reached us."""

    POLL = "poll"  # a scheduled or requested full/incremental sync
    WEBHOOK = "webhook"  # a Leap webhook event made us fetch the meter
    RESYNC = "resync"  # someone asked to resync one meter


# --- market groups -------------------------------------------------------------------------------


class MarketGroup(models.Model):
    """A Leap market group (aggregation of meters dispatched together)."""

    market_group_id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=256, blank=True)
    # Learnt from the enrollment rows that name the group (a group-updated event carries neither).
    region = models.CharField(max_length=16, blank=True, db_index=True)
    program_identifier = models.CharField(max_length=64, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name or str(self.market_group_id)


# --- meters --------------------------------------------------------------------------------------


class MeterQuerySet(models.QuerySet["Meter"]):
    """Named filters the dashboard and the sync use."""

    def present(self) -> MeterQuerySet:
        """Meters the last full sync still saw (not marked missing)."""
        return self.filter(missing_since__isnull=True)

    def missing(self) -> MeterQuerySet:
        """Meters a full sync no longer saw."""
        return self.filter(missing_since__isnull=False)

    def live(self) -> MeterQuerySet:
        """Present and not archived: the working portfolio."""
        return self.present().filter(is_archived=False)

    def archived(self) -> MeterQuerySet:
        """Meters Leap archived."""
        return self.filter(is_archived=True)

    def active(self) -> MeterQuerySet:
        """Globally ACTIVE meters: ready for dispatch."""
        return self.live().filter(global_enrollment_status=EnrollmentStatus.ACTIVE)

    def action_required(self) -> MeterQuerySet:
        """Meters with open partner actions (the seed's ActionRequired)."""
        return self.live().filter(action_required=True)

    def with_status(self, *statuses: str) -> MeterQuerySet:
        """Meters whose global enrollment status is one of these."""
        return self.filter(global_enrollment_status__in=statuses)

    def in_region(self, region: str) -> MeterQuerySet:
        """Meters of one transmission region (CAISO, ERCOT, ...)."""
        return self.filter(transmission_region=region)

    def search(self, text: str) -> MeterQuerySet:
        """Free-text search on the identifiers and customer fields people type."""
        text = text.strip()
        if not text:
            return self
        query = (
            Q(partner_reference__icontains=text)
            | Q(end_customer_name__icontains=text)
            | Q(end_customer_email__icontains=text)
            | Q(electric_service_account_number__icontains=text)
            | Q(street_1__icontains=text)
        )
        try:
            query |= Q(meter_id=uuid.UUID(text))
        except ValueError:
            pass
        return self.filter(query)


# The live portfolio (MeterQuerySet.live), as the partial indexes of the meter list state it.
LIVE = Q(missing_since__isnull=True, is_archived=False)


class Meter(models.Model):
    """One Leap meter, keyed by Leap's meter_id: details and enrollment, flattened and raw."""

    meter_id = models.UUIDField(primary_key=True)
    partner_reference = models.CharField(max_length=256, null=True, blank=True)

    # identifiers and classification (meter details and enrollments both carry these)
    transmission_region = models.CharField(max_length=16, blank=True)
    customer_classification = models.CharField(max_length=16, null=True, blank=True)
    meter_type = models.CharField(max_length=32, null=True, blank=True)
    load_types = models.JSONField(default=list, blank=True)
    connection_references = models.JSONField(default=list, blank=True)
    customer_group = models.CharField(max_length=128, null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    is_archived = models.BooleanField(default=False, db_index=True)

    # utility
    utility_name = models.CharField(max_length=64, null=True, blank=True)
    load_serving_entity = models.CharField(max_length=128, null=True, blank=True)
    electric_service_account_number = models.CharField(max_length=128, null=True, blank=True)
    tariff = models.CharField(max_length=128, null=True, blank=True)
    voltage = models.CharField(max_length=128, null=True, blank=True)
    utility_meter_serial_number = models.CharField(max_length=256, null=True, blank=True)
    bill_service_agreement_number = models.CharField(max_length=128, null=True, blank=True)
    bill_customer_account_number = models.CharField(max_length=128, null=True, blank=True)

    # customer contact and service address
    end_customer_name = models.CharField(max_length=128, null=True, blank=True)
    end_customer_title = models.CharField(max_length=64, null=True, blank=True)
    end_customer_email = models.CharField(max_length=128, null=True, blank=True)
    end_customer_phone_number = models.CharField(max_length=32, null=True, blank=True)
    end_customer_company_name = models.CharField(max_length=128, null=True, blank=True)
    partner_customer_reference = models.CharField(max_length=256, null=True, blank=True)
    street_1 = models.CharField(max_length=128, null=True, blank=True)
    street_2 = models.CharField(max_length=128, null=True, blank=True)
    city = models.CharField(max_length=128, null=True, blank=True)
    postal_code = models.CharField(max_length=16, null=True, blank=True)
    state_or_province_code = models.CharField(max_length=8, null=True, blank=True)
    country_code = models.CharField(max_length=8, null=True, blank=True)

    # site and device summaries (the full objects stay in details_raw)
    load_zone = models.CharField(max_length=128, null=True, blank=True)
    number_of_devices = models.IntegerField(null=True, blank=True)
    device_type = models.CharField(max_length=64, null=True, blank=True)
    device_manufacturer = models.CharField(max_length=128, null=True, blank=True)
    device_model = models.CharField(max_length=128, null=True, blank=True)
    site_device_count = models.IntegerField(null=True, blank=True)
    # What the devices can do (device and site devices, meters/snapshot.py: capability); the
    # dispatch planner reads these, or an admin's CapabilityOverride where Leap gives none.
    battery_max_discharge_rate_kw = models.FloatField(null=True, blank=True)
    battery_max_charge_rate_kw = models.FloatField(null=True, blank=True)
    battery_energy_capacity_kwh = models.FloatField(null=True, blank=True)
    battery_min_soc_percent = models.FloatField(null=True, blank=True)
    battery_max_soc_percent = models.FloatField(null=True, blank=True)
    other_devices_power_kw = models.FloatField(
        null=True, blank=True, help_text="Power capacity of the site's devices other than batteries"
    )
    is_connected_to_solar = models.BooleanField(null=True, blank=True)

    # Leap's audit
    leap_created_by = models.CharField(max_length=16, null=True, blank=True)
    leap_created_at = models.DateTimeField(null=True, blank=True, db_index=True)
    leap_updated_at = models.DateTimeField(null=True, blank=True)

    # enrollment
    global_enrollment_status = models.CharField(max_length=32, blank=True)
    action_required = models.BooleanField(default=False, db_index=True)  # open partner actions
    open_partner_actions = models.IntegerField(default=0)
    open_leap_actions = models.IntegerField(default=0)
    next_action_deadline = models.DateTimeField(null=True, blank=True, db_index=True)

    # raw payloads as Leap sent them, and their content hashes: an unchanged payload writes nothing
    details_raw = models.JSONField(null=True, blank=True)
    enrollment_raw = models.JSONField(null=True, blank=True)
    details_hash = models.CharField(max_length=32, blank=True)
    enrollment_hash = models.CharField(max_length=32, blank=True)

    # our bookkeeping
    first_seen_at = models.DateTimeField(default=timezone.now)
    # Written whenever a sync writes this meter (new, changed, or back from missing). An unchanged
    # meter is not rewritten (an unchanged re-run writes nothing): that a full sync still sees it
    # is told by missing_since staying empty.
    last_seen_at = models.DateTimeField(default=timezone.now)
    details_synced_at = models.DateTimeField(null=True, blank=True)
    enrollment_synced_at = models.DateTimeField(null=True, blank=True)
    missing_since = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = MeterQuerySet.as_manager()

    class Meta:
        # Every index is paid for on each of the sync's two writes of a meter (details, then
        # enrollment). db_index=True on a CharField also made a varchar_pattern_ops copy for
        # LIKE 'prefix%', which no query here runs: these plain indexes replace them (meters
        # 0006), and the region has none of its own (meter_region_status starts with it).
        indexes = [
            models.Index(
                fields=["transmission_region", "global_enrollment_status"],
                name="meter_region_status",
            ),
            # Status filters, and the overview's counts per status (ops.overview.meters_by_status)
            # read from the index alone instead of 100,000 wide rows (meters 0010).
            models.Index(
                fields=[
                    "global_enrollment_status",
                    "is_archived",
                    "action_required",
                    "missing_since",
                ],
                name="meter_status_summary",
            ),
            models.Index(fields=["partner_reference"], name="meter_partner_reference"),
            models.Index(fields=["customer_group"], name="meter_customer_group"),
            models.Index(fields=["utility_name"], name="meter_utility_name"),
            # meter_region_status_updated (region, status, leap_updated_at DESC NULLS LAST,
            # meter_id DESC) is created by raw SQL in migration 0005.
            # The meter list (meters/views.py) of the live portfolio, the view nearly every
            # visit starts with: its default order, and a region sorted by Leap update, each
            # read in the list's own order (NULLS LAST, meter_id tiebreak) and counted from the
            # index alone, instead of sorting or counting the table's rows (meters 0009).
            models.Index(
                F("partner_reference").asc(nulls_last=True),
                F("meter_id").asc(),
                name="meter_live_by_reference",
                condition=LIVE,
            ),
            models.Index(
                F("transmission_region").asc(),
                F("leap_updated_at").desc(nulls_last=True),
                F("meter_id").desc(),
                name="meter_live_region_updated",
                condition=LIVE,
            ),
        ]

    def __str__(self) -> str:
        return self.partner_reference or str(self.meter_id)

    def customer_context(self) -> dict[str, Any]:
        """The placeholders a customer email template may use."""
        return {
            "meter_id": str(self.meter_id),
            "partner_reference": self.partner_reference or "",
            "end_customer_name": self.end_customer_name or "",
            "end_customer_company_name": self.end_customer_company_name or "",
            "end_customer_email": self.end_customer_email or "",
            "street_1": self.street_1 or "",
            "city": self.city or "",
            "postal_code": self.postal_code or "",
            "state_or_province_code": self.state_or_province_code or "",
            "utility_name": self.utility_name or "",
            "electric_service_account_number": self.electric_service_account_number or "",
        }


class CapabilityOverride(models.Model):
    """Our own figures for what a meter's devices can do, where Leap gives none or a wrong one.

    Edited by admins (Django admin); a figure left empty falls back to Leap's. The dispatch
    planner re-plans the meter's upcoming events when one is saved.
    """

    meter = models.OneToOneField(
        Meter, primary_key=True, on_delete=models.CASCADE, related_name="capability_override"
    )
    max_discharge_kw = models.FloatField(
        null=True, blank=True, help_text="kW the site can reduce or export at most"
    )
    energy_capacity_kwh = models.FloatField(null=True, blank=True)
    min_soc_percent = models.FloatField(null=True, blank=True)
    max_soc_percent = models.FloatField(null=True, blank=True)
    site_load_kw = models.FloatField(
        null=True,
        blank=True,
        help_text="Typical site load during dispatch hours: the most an up-to-site-load event plans",
    )
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_discharge_kw__gte=0) | Q(max_discharge_kw__isnull=True),
                name="override_discharge_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(energy_capacity_kwh__gte=0) | Q(energy_capacity_kwh__isnull=True),
                name="override_energy_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(site_load_kw__gte=0) | Q(site_load_kw__isnull=True),
                name="override_site_load_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"capability of {self.meter_id}"

    def clean(self) -> None:
        """State-of-charge limits are percentages, the minimum below the maximum."""
        from django.core.exceptions import ValidationError

        for name in ("min_soc_percent", "max_soc_percent"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 100:
                raise ValidationError({name: "a percentage between 0 and 100"})
        if (
            self.min_soc_percent is not None
            and self.max_soc_percent is not None
            and self.min_soc_percent >= self.max_soc_percent
        ):
            raise ValidationError({"min_soc_percent": "must be below the maximum"})


class ProgramEnrollment(models.Model):
    """One program x delivery period row of a meter's enrollment."""

    # No index of its own: program_enrollment_identity starts with the meter (also below).
    meter = models.ForeignKey(
        Meter, on_delete=models.CASCADE, related_name="program_enrollments", db_index=False
    )
    # "" when Leap leaves them out: they are part of the row's identity.
    program_identifier = models.CharField(max_length=64, blank=True)
    delivery_period = models.CharField(max_length=128, blank=True)
    # Leap's spec requires both; a row without them is kept but never yields a group assignment.
    delivery_period_start = models.DateTimeField(null=True, blank=True)
    delivery_period_end = models.DateTimeField(null=True, blank=True)
    enrollment_status = models.CharField(max_length=32)
    # [{"enrollment_deadline_date_time": iso, "activation_date_time": iso}, ...] as Leap sends it
    enrollment_deadlines = models.JSONField(default=list, blank=True)
    next_deadline = models.DateTimeField(null=True, blank=True)
    market_group = models.ForeignKey(
        MarketGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="enrollments"
    )
    market_group_name = models.CharField(max_length=256, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "program_identifier", "delivery_period"],
                name="program_enrollment_identity",
            )
        ]
        indexes = [
            models.Index(
                fields=["delivery_period_start", "delivery_period_end"], name="enrollment_window"
            ),
            models.Index(fields=["enrollment_status"], name="enrollment_status"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.program_identifier} {self.delivery_period}"


class RequiredAction(models.Model):
    """A status reason: something the partner or Leap must do before the meter can participate."""

    meter = models.ForeignKey(
        Meter, on_delete=models.CASCADE, related_name="required_actions", db_index=False
    )
    side = models.CharField(max_length=8, choices=Side.choices)
    program_identifier = models.CharField(max_length=64, blank=True)
    delivery_period = models.CharField(max_length=128, blank=True)
    action_type = models.CharField(max_length=64)
    code = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "side", "code", "program_identifier", "delivery_period"],
                name="required_action_identity",
            )
        ]
        # The meter's own index is the identity's prefix; plain indexes, not db_index (which
        # added LIKE-pattern copies no query uses), for the action type and code filters.
        indexes = [
            models.Index(fields=["side", "resolved_at"], name="required_action_open"),
            models.Index(fields=["action_type"], name="required_action_type"),
            models.Index(fields=["code"], name="required_action_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.side}) on {self.meter_id}"

    @property
    def is_open(self) -> bool:
        """Leap still lists it."""
        return self.resolved_at is None


class ParticipationPreference(models.Model):
    """A window of the partner's participation preference (PARTICIPATE / IDLE / DISENROLL)."""

    meter = models.ForeignKey(
        Meter, on_delete=models.CASCADE, related_name="participation_preferences"
    )
    participation_preference = models.CharField(max_length=16)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)  # None or a far-future sentinel: open
    reason = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["meter", "start_time"]

    def __str__(self) -> str:
        return f"{self.participation_preference} from {self.start_time:%Y-%m-%d}"


class GroupAssignment(models.Model):
    """Which market group a meter is in on one trade day (today and the next two)."""

    class Source(models.TextChoices):
        ENROLLMENT = "enrollment"  # derived from program_enrollment rows
        WEBHOOK = "webhook"  # from a meter.enrollment.group.updated event

    meter = models.ForeignKey(
        Meter, on_delete=models.CASCADE, related_name="group_assignments", db_index=False
    )
    trade_date = models.DateField()  # in the market's time zone (leapportal.timezones)
    market_group = models.ForeignKey(
        MarketGroup, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "trade_date", "market_group"], name="group_assignment_identity"
            )
        ]
        indexes = [
            models.Index(fields=["trade_date", "market_group"], name="group_by_day"),
            # "members of group G on day D" (meter list filter, groups page) from the index alone.
            models.Index(
                fields=["market_group", "trade_date", "meter"], name="group_members_by_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} in {self.market_group_id} on {self.trade_date}"


# --- history and runs ----------------------------------------------------------------------------


class SyncRun(models.Model):
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
    progress_done = models.IntegerField(default=0)
    progress_total = models.IntegerField(null=True, blank=True)  # Leap gives no totals: estimate

    # incremental: the instant Leap was asked for changes after (previous run's start - overlap)
    window_start = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.IntegerField(default=0)
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

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

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


# --- catalogue -----------------------------------------------------------------------------------


class _SafeFormat(dict):
    """str.format_map mapping that leaves unknown placeholders visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# The fields a customer email template may use: Meter.customer_context() and the action's text.
TEMPLATE_FIELDS = (
    "meter_id", "partner_reference", "end_customer_name", "end_customer_company_name",
    "end_customer_email", "street_1", "city", "postal_code", "state_or_province_code",
    "utility_name", "electric_service_account_number", "action_description",
)  # fmt: skip


def template_problems(text: str) -> list[str]:
    """Why a customer email template cannot be used (empty when it can)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [f"malformed placeholder ({exc}); write {{{{ and }}}} for literal braces"]
    problems = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            problems.append(
                f"unknown field {{{name}}}: the fields are {', '.join(TEMPLATE_FIELDS)}"
            )
        elif spec or conversion:
            problems.append(f"{{{name}}} must be written without a format or conversion")
    return problems


class ReasonCode(models.Model):
    """Our catalogue of Leap's action codes and action types: what they mean, what to do."""

    class Kind(models.TextChoices):
        ACTION_CODE = "action_code"  # e.g. AUTH_0001
        ACTION_TYPE = "action_type"  # e.g. IS_AUTHORIZED

    class Actor(models.TextChoices):
        PARTNER = "partner"
        CUSTOMER = "customer"  # the partner has to reach out to the end customer
        LEAP = "leap"
        UNKNOWN = "unknown"

    code = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ACTION_CODE)
    title = models.CharField(max_length=200, blank=True)
    who_acts = models.CharField(max_length=16, choices=Actor.choices, default=Actor.UNKNOWN)
    guidance = models.TextField(blank=True)
    email_subject = models.CharField(max_length=200, blank=True)
    email_body = models.TextField(
        blank=True,
        help_text="Placeholders: {end_customer_name}, {partner_reference}, {street_1}, {city}, "
        "{utility_name}, {electric_service_account_number}, {meter_id}, {action_description}.",
    )
    link = models.URLField(blank=True)
    # A code the sync met before anyone described it: shown as lacking guidance until edited.
    needs_guidance = models.BooleanField(default=False, db_index=True)
    example_description = models.TextField(blank=True)  # Leap's text when first seen
    first_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Describing a code (title and guidance) clears its lacking-guidance mark."""
        if self.needs_guidance and self.title and self.guidance:
            self.needs_guidance = False
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """A template referring to an unknown field is refused (the admin and the editor)."""
        errors = {
            name: problems
            for name in ("email_subject", "email_body")
            if (problems := template_problems(getattr(self, name)))
        }
        if errors:
            raise ValidationError(errors)

    def placeholders(self) -> set[str]:
        """The placeholder names the templates use."""
        names = set()
        for text in (self.email_subject, self.email_body):
            names |= {name for _, name, _, _ in string.Formatter().parse(text) if name}
        return names

    def render_email(self, meter: Meter, action: RequiredAction | None = None) -> tuple[str, str]:
        """(subject, body) for the meter's customer; unknown placeholders stay visible."""
        context = _SafeFormat(meter.customer_context())
        context["action_description"] = action.description if action else ""
        return self.email_subject.format_map(context), self.email_body.format_map(context)


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
