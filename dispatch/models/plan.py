"""The plan: one DispatchAllocation per (meter, timeslot)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from dispatch.models.timeslots import DispatchTimeslot


class DispatchAllocation(models.Model):
    """The plan for one meter and one timeslot: its share, and whether the meter follows it.

    Recomputed by dispatch/planning/ whenever a meter's timeslots change.
    """

    class Flag(models.TextChoices):
        NOT_ACTIVE = "not_active", "Meter not ACTIVE"
        NOT_IN_GROUP = "not_in_group", "Not in our copy of the group"
        UNKNOWN_METER = "unknown_meter", "Meter not in our portfolio"

    timeslot = models.ForeignKey(  # indexed by one_allocation_per_meter_and_timeslot
        DispatchTimeslot, on_delete=models.CASCADE, related_name="allocations", db_index=False
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
