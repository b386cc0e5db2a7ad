"""Register our dispatch receivers with Leap and prove the path with an integration test.

Leap keeps one receiver per level (meter, group); PUT replaces it, headers included. We register
`PUBLIC_BASE_URL` + our receiver path with the header settings.LEAP_WEBHOOK_HEADER carrying the
FIRST of settings.LEAP_DISPATCH_WEBHOOK_SECRETS. To rotate: put the new secret first and the old
one second, deploy, register again, then drop the old one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from dispatch.comparable import comparable
from dispatch.models import Level
from leap.client import LeapClient
from leap.client import Level as LeapLevel
from leap.errors import LeapError
from meters.models import MarketGroup, Meter

# Used when we have no meter or group of our own yet; harmless (test events are never handed on).
PLACEHOLDER_ID = uuid.UUID("00000000-0000-4000-8000-00000000d15b")


@dataclass
class RegistrationResult:
    """What happened for one level."""

    level: str
    url: str
    registered: bool
    test_status: int | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """Registered and, if a test was sent, our receiver answered 2xx."""
        tested = self.test_status is None or 200 <= self.test_status < 300
        return self.registered and tested and not self.error


def receiver_url(level: str) -> str:
    """The public URL Leap posts this level's notifications to."""
    return settings.PUBLIC_BASE_URL + reverse(f"dispatch:webhook_{level}")


def test_notification(level: str) -> dict[str, Any]:
    """A realistic one-timeslot notification body for Leap's integration_test endpoint."""
    start = (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    slot = {
        "start_time": comparable(start),
        "end_time": comparable(start + timedelta(hours=1)),
        "cancelled": False,
        "energy_kw": 1.0,
        "nomination_kw": 1.0,
        "performance_compensation_cap": "up-to-nomination",
        "priority": 1,
        "is_voluntary": False,
        "dispatch_event_types": ["standard"],
        "programs": ["PJM-CAPACITY"],
    }
    if level == Level.METER:
        meter = Meter.objects.order_by("pk").first()
        slot["meter_event_id"] = str(uuid.uuid4())
        return {
            "meter_dispatches": [
                {"meter_id": str(meter.pk if meter else PLACEHOLDER_ID), "timeslots": [slot]}
            ]
        }
    group = MarketGroup.objects.order_by("pk").first()
    slot["market_group_event_id"] = str(uuid.uuid4())
    return {
        "group_dispatches": [
            {
                "market_group_id": str(group.pk if group else PLACEHOLDER_ID),
                "meter_ids": [str(PLACEHOLDER_ID)],
                "timeslots": [slot],
            }
        ]
    }


def register_receivers(
    client: LeapClient,
    *,
    levels: tuple[LeapLevel, ...] = ("meter", "group"),
    send_test: bool = True,
) -> list[RegistrationResult]:
    """PUT our receiver for each level, then (optionally) ask Leap to send a test notification."""
    secret = settings.LEAP_DISPATCH_WEBHOOK_SECRETS[0]
    results = []
    for level in levels:
        result = RegistrationResult(level=level, url=receiver_url(level), registered=False)
        try:
            client.put_dispatch_webhook(level, result.url, {settings.LEAP_WEBHOOK_HEADER: secret})
            result.registered = True
            if send_test:
                outcome = client.dispatch_integration_test(level, test_notification(level))
                result.test_status = outcome.http_status
                if outcome.error_message:
                    result.error = outcome.error_message
                elif outcome.http_status is None:
                    result.error = "Leap got no answer from our receiver"
        except (LeapError, ValueError) as exc:  # ValueError: the client refused our test body
            result.error = f"{type(exc).__name__}: {exc}"
        results.append(result)
    return results


def describe(result: RegistrationResult) -> str:
    """One line for the command's output and the admin message."""
    state = "OK" if result.ok else "FAILED"
    test = (
        "" if result.test_status is None else f", test notification answered {result.test_status}"
    )
    error = f": {result.error}" if result.error else ""
    return (
        f"{state} {result.level} receiver {result.url} registered={result.registered}{test}{error}"
    )
