"""Reactions to the meters app: a meter arrives (attach its parked events), a capability changes
(re-plan its upcoming events)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from dispatch import enqueue
from dispatch.models import DispatchAllocation, DispatchTimeslot, Level
from meters.models import CapabilityOverride, Meter
from meters.signals import capability_changed


@receiver(post_save, sender=Meter, dispatch_uid="dispatch-attach-parked")
def meter_saved(sender: type[Meter], instance: Meter, created: bool, **kwargs: Any) -> None:
    """A new meter may have parked events (bulk inserts are caught by the reconcile sweep)."""
    if not created or kwargs.get("raw"):
        return
    if DispatchTimeslot.objects.filter(
        level=Level.METER, meter_uuid=instance.pk, meter__isnull=True
    ).exists() or (_has_group_allocation(instance.pk)):
        enqueue.attach_parked_events_on_commit([instance.pk])


def _has_group_allocation(meter_uuid: Any) -> bool:
    """Some group dispatch named this meter before we had it."""
    return DispatchAllocation.objects.filter(meter_uuid=meter_uuid, meter__isnull=True).exists()


@receiver(capability_changed, dispatch_uid="dispatch-replan-capability")
def capability_saved(sender: Any, meter_ids: list[Any], **kwargs: Any) -> None:
    """The meters' device capability changed: re-plan their upcoming events after commit."""
    enqueue.replan_meters_on_commit(meter_ids)


@receiver(post_save, sender=CapabilityOverride, dispatch_uid="dispatch-override-saved")
@receiver(post_delete, sender=CapabilityOverride, dispatch_uid="dispatch-override-deleted")
def override_changed(sender: Any, instance: CapabilityOverride, **kwargs: Any) -> None:
    """An admin set or removed our own capability figures of a meter."""
    if kwargs.get("raw"):
        return
    capability_changed.send(sender=CapabilityOverride, meter_ids=[instance.meter_id])
