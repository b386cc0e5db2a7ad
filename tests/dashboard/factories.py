"""Small helpers that make dashboard test data straight in the models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from dispatch.models import DispatchTimeslot


def make_timeslot(**overrides: Any) -> DispatchTimeslot:
    """A meter-level dispatch timeslot one hour long, starting in a day, unless overridden."""
    start = overrides.pop("start_time", datetime.now(UTC) + timedelta(days=1))
    meter = overrides.get("meter")
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "level": "meter",
        "meter_uuid": meter.pk if meter is not None else uuid.uuid4(),
        "start_time": start,
        "end_time": start + timedelta(hours=1),
        "energy_kw": 50.0,
        "priority": 5,
        "first_source": "webhook",
        "content_hash": "x",
    }
    fields.update(overrides)
    return DispatchTimeslot.objects.create(**fields)
