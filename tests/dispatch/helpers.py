"""Builders for Leap dispatch notifications, in Leap's wrapper, and a poster."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

# 17:00 UTC three days ahead: events must lie in the future, since an event that has already
# ended when it reaches us is stored but never planned nor handed on.
T0 = (datetime.now(UTC) + timedelta(days=3)).replace(hour=17, minute=0, second=0, microsecond=0)
SECRET = "dev-dispatch-webhook-secret-01"


def iso(value: datetime) -> str:
    """Leap's UTC 'Z' form."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def slot(
    event_id: uuid.UUID | str | None = None,
    *,
    level: str = "meter",
    start: datetime = T0,
    hours: float = 1,
    end: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One timeslot with realistic defaults (CAISO CCA day-ahead award, as Leap's example)."""
    key = "meter_event_id" if level == "meter" else "market_group_event_id"
    body = {
        key: str(event_id or uuid.uuid4()),
        "start_time": iso(start),
        "end_time": iso(end or start + timedelta(hours=hours)),
        "cancelled": False,
        "energy_kw": 8.0,
        "nomination_kw": 10.0,
        "performance_compensation_cap": "up-to-site-load",
        "priority": 2,
        "is_voluntary": False,
        "dispatch_event_types": ["day-ahead"],
        "programs": ["CCA"],
    }
    body.update(fields)
    return body


def meter_notification(
    *dispatches: tuple[uuid.UUID | str, list[dict[str, Any]]],
    integration_test: bool = False,
    communication_test: bool = False,
) -> dict[str, Any]:
    """{integration_test_notification, communication_test, meter_dispatches: [...]}."""
    return {
        "integration_test_notification": integration_test,
        "communication_test": communication_test,
        "meter_dispatches": [
            {"meter_id": str(m), "partner_reference": f"ref-{str(m)[:8]}", "timeslots": slots}
            for m, slots in dispatches
        ],
    }


def group_notification(
    group_id: uuid.UUID | str,
    meter_ids: list[uuid.UUID | str],
    slots: list[dict[str, Any]],
    *,
    integration_test: bool = False,
) -> dict[str, Any]:
    """{..., group_dispatches: [{market_group_id, meter_ids, partner_references, timeslots}]}."""
    return {
        "integration_test_notification": integration_test,
        "communication_test": False,
        "group_dispatches": [
            {
                "market_group_id": str(group_id),
                "meter_ids": [str(m) for m in meter_ids],
                "partner_references": [f"ref-{str(m)[:8]}" for m in meter_ids],
                "timeslots": slots,
            }
        ],
    }


def post(
    client: Any,
    payload: Any,
    *,
    level: str = "meter",
    secret: str | None = SECRET,
    raw: bytes | None = None,
) -> Any:
    """POST a notification to our receiver the way Leap does (lower-cased secret header)."""
    headers = {settings.LEAP_WEBHOOK_HEADER: secret} if secret is not None else {}
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.generic(
        "POST",
        f"/dispatch/webhooks/{level}",
        body,
        content_type="application/json",
        headers=headers,
    )
