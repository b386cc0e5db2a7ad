"""The JSON-able form of a stored timeslot value: one form for hashing, `changes`, the feed and
the outbound webhook, so they never disagree on how a time or a UUID is written.

Its own module so the feed and outbound use it without importing the inbox or the apply step.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def comparable(value: Any) -> Any:
    """A JSON-able form of a stored value, stable for hashing and for `changes`."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [comparable(v) for v in value]
    return value
