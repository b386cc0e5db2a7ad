"""Register our meter webhook receiver on Leap's webhook platform, idempotently, and test it.

Leap's platform keeps subscriptions by id; PUT replaces one whole (not a patch). We keep exactly
one subscription pointing at PUBLIC_BASE_URL + our receiver path, with the header
settings.LEAP_WEBHOOK_HEADER carrying the FIRST of settings.LEAP_METER_WEBHOOK_SECRETS (rotate by
putting the new secret first, deploying, registering again, then dropping the old one).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.urls import reverse

from leap.client import LeapClient
from leap.errors import LeapError
from meters.models import Meter
from meters.webhook_processing import GROUP_EVENT, METER_EVENTS

EVENT_TYPES = sorted(METER_EVENTS) + [GROUP_EVENT]
# For the test event when we have no meter yet: processing it finds no such meter at Leap.
PLACEHOLDER_METER = uuid.UUID("00000000-0000-4000-8000-0000000d0001")


@dataclass
class Registration:
    """What register_receiver did."""

    url: str
    webhook_id: uuid.UUID | None = None
    action: str = ""  # created | updated
    removed: list[uuid.UUID] = field(default_factory=list)  # duplicate subscriptions dropped
    test_ok: bool | None = None
    test_detail: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        """Registered, and the test (if sent) reached us with a 2xx."""
        return bool(self.webhook_id) and self.test_ok is not False and not self.error

    def describe(self) -> str:
        """One line for the command's output."""
        state = "OK" if self.ok else "FAILED"
        test = "" if self.test_ok is None else f"; test event {self.test_detail}"
        removed = f"; removed {len(self.removed)} duplicate(s)" if self.removed else ""
        error = f": {self.error}" if self.error else ""
        return f"{state} meter webhooks {self.action} {self.webhook_id} -> {self.url}{removed}{test}{error}"


def receiver_url() -> str:
    """The public URL Leap posts meter events to."""
    return settings.PUBLIC_BASE_URL + reverse("meters:webhook")


def test_payload() -> dict[str, Any]:
    """A meter.created payload about one of our meters (or a placeholder)."""
    meter = Meter.objects.order_by("pk").first()
    return {
        "webhook_event_type": "meter.created",
        "meter_id": str(meter.pk if meter else PLACEHOLDER_METER),
        "partner_reference": (meter.partner_reference if meter else None) or "leapportal-test",
        "transmission_region": (meter.transmission_region if meter else "") or "CAISO",
    }


def register_receiver(client: LeapClient, *, send_test: bool = True) -> Registration:
    """Create or update our one subscription (idempotent), then optionally send a test event."""
    result = Registration(url=receiver_url())
    headers = {settings.LEAP_WEBHOOK_HEADER: settings.LEAP_METER_WEBHOOK_SECRETS[0]}
    try:
        ours = [w for w in client.list_webhooks() if w.receiver_url == result.url]
        if ours:
            result.webhook_id = client.update_webhook(
                ours[0].webhook_id, result.url, EVENT_TYPES, headers
            )
            result.action = "updated"
            for extra in ours[1:]:  # two subscriptions would deliver every event twice
                client.delete_webhook(extra.webhook_id)
                result.removed.append(extra.webhook_id)
        else:
            result.webhook_id = client.create_webhook(result.url, EVENT_TYPES, headers)
            result.action = "created"
        if send_test:
            outcome = client.test_webhook(result.webhook_id, test_payload())
            result.test_ok = outcome.is_successful
            result.test_detail = (
                f"answered {outcome.status_code}"
                if outcome.is_successful
                else f"failed: {outcome.error or outcome.status_code or 'no answer'}"
            )
    except LeapError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result
