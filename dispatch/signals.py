"""When a meter arrives, attach the dispatch events that were parked waiting for it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from meters.models import Meter


@receiver(post_save, sender=Meter, dispatch_uid="dispatch-attach-parked")
def meter_saved(sender: type[Meter], instance: Meter, created: bool, **kwargs: Any) -> None:
    """A new meter may have parked events (bulk inserts are caught by the reconcile sweep)."""
    if not created or kwargs.get("raw"):
        return
    from dispatch import tasks
    from dispatch.models import DispatchTimeslot, Level

    if DispatchTimeslot.objects.filter(
        level=Level.METER, meter_uuid=instance.pk, meter__isnull=True
    ).exists() or (_has_group_allocation(instance.pk)):
        tasks.attach_parked_events.delay_on_commit([str(instance.pk)])


def _has_group_allocation(meter_uuid: Any) -> bool:
    """Some group dispatch named this meter before we had it."""
    from dispatch.models import DispatchAllocation

    return DispatchAllocation.objects.filter(meter_uuid=meter_uuid, meter__isnull=True).exists()
