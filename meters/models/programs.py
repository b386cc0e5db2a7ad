"""What a meter takes part in: program enrollments, required actions, participation
preferences and market-group assignments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone

from meters.models.meter import MarketGroup, Meter, Side

if TYPE_CHECKING:
    from meters.models.catalogue import ReasonCode


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

    # Not a column: the catalogue's entry for `code`, attached by the meter page
    # (meters.views.meter_detail) to the actions it shows.
    reason: ReasonCode | None

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
