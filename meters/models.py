"""Mirror of Leap's meter portfolio."""

from __future__ import annotations

from django.db import models


class MarketGroup(models.Model):
    """A Leap market group (aggregation of meters dispatched together)."""

    market_group_id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=256, blank=True)

    def __str__(self) -> str:
        return self.name or str(self.market_group_id)


class Meter(models.Model):
    """One Leap meter, keyed by Leap's meter_id."""

    meter_id = models.UUIDField(primary_key=True)
    partner_reference = models.CharField(max_length=256, null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return str(self.meter_id)
