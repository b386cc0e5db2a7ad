"""Leap dispatch events: the raw inbox, timeslots, their versions, reconciling, planning, hand-on.

The inbox (DispatchDelivery) keeps every body Leap sent, byte for byte, before we acknowledge it.
Timeslots are keyed on Leap's own event id (meter_event_id or market_group_event_id), which stays
the same across updates and cancellation, so webhooks, retries and polling all converge on one row.

A package by subject (choices, inbox, timeslots, reconcile, plan, outbound); every model is
imported here, so `dispatch.models.X` names it as before and Django registers them all.
"""

from dispatch.models.choices import RECHECK_CHOICES, Level, Source
from dispatch.models.inbox import DeliverySweep, DispatchDelivery
from dispatch.models.outbound import (
    OutboundAttempt,
    OutboundEndpoint,
    OutboundMessage,
    _new_whsec,
)
from dispatch.models.plan import DispatchAllocation
from dispatch.models.reconcile import ReconcileFinding, ReconcileRun
from dispatch.models.timeslots import (
    DispatchTimeslot,
    DispatchTimeslotQuerySet,
    DispatchTimeslotVersion,
    RejectedTimeslot,
    UnknownMeterAlert,
)

__all__ = [
    "RECHECK_CHOICES",
    "DeliverySweep",
    "DispatchAllocation",
    "DispatchDelivery",
    "DispatchTimeslot",
    "DispatchTimeslotQuerySet",
    "DispatchTimeslotVersion",
    "Level",
    "OutboundAttempt",
    "OutboundEndpoint",
    "OutboundMessage",
    "ReconcileFinding",
    "ReconcileRun",
    "RejectedTimeslot",
    "Source",
    "UnknownMeterAlert",
    "_new_whsec",  # migration 0001 names dispatch.models._new_whsec (the endpoint secret default)
]
