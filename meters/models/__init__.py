"""Mirror of Leap's meter portfolio, with its history.

Leap is the source of truth: the sync (meters/sync/) writes these tables from Leap's meter
details and enrollments; people never edit them, except ReasonCode (our own catalogue) and the
approval of a held SyncRun. Every time is stored in UTC.

One module per part, every name importable from `meters.models` as before:
- `meter`: the choices, `MarketGroup`, `Meter` with its queryset, `CapabilityOverride`;
- `programs`: `ProgramEnrollment`, `RequiredAction`, `ParticipationPreference`, `GroupAssignment`;
- `history`: `SyncRun`, `MeterChange`, `MeterEvent`, `SyncFailure`;
- `catalogue`: `ReasonCode` and its email templates' fields;
- `inbox`: `WebhookDelivery`, the meter-event webhook inbox.
"""

from __future__ import annotations

from meters.models.catalogue import TEMPLATE_FIELDS, ReasonCode, template_problems
from meters.models.history import MeterChange, MeterEvent, SyncFailure, SyncRun
from meters.models.inbox import WebhookDelivery
from meters.models.meter import (
    LIVE,
    CapabilityOverride,
    ChangeSource,
    EnrollmentStatus,
    MarketGroup,
    Meter,
    MeterQuerySet,
    Side,
)
from meters.models.programs import (
    GroupAssignment,
    ParticipationPreference,
    ProgramEnrollment,
    RequiredAction,
)

__all__ = [
    "LIVE",
    "TEMPLATE_FIELDS",
    "CapabilityOverride",
    "ChangeSource",
    "EnrollmentStatus",
    "GroupAssignment",
    "MarketGroup",
    "Meter",
    "MeterChange",
    "MeterEvent",
    "MeterQuerySet",
    "ParticipationPreference",
    "ProgramEnrollment",
    "ReasonCode",
    "RequiredAction",
    "Side",
    "SyncFailure",
    "SyncRun",
    "WebhookDelivery",
    "template_problems",
]
