"""Meters as Leap describes them, their market groups, and the capability overrides we set."""

from __future__ import annotations

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
    # What the devices can do (device and site devices, meters/sync/snapshot.py: capability); the
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
