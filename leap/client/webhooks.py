"""The webhook platform v1.1: the account's subscriptions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from leap.client.core import ClientCore, _header_list
from leap.schemas import (
    Webhook,
    WebhookIdResponse,
    WebhookList,
    WebhookTestResult,
)


class WebhooksAPI(ClientCore):
    """The webhook platform v1.1."""

    def list_webhooks(self) -> list[Webhook]:
        """Every webhook platform subscription of the account (Leap does not page this list)."""
        path = "/v1.1/webhooks"
        envelope = self._envelope(WebhookList, self._send("GET", path), "GET", path)
        return [self._parse_one(Webhook, raw, "GET", path) for raw in envelope.webhooks]

    @staticmethod
    def _webhook_body(
        receiver_url: str, event_types: Iterable[str], headers: dict[str, str] | None
    ) -> dict[str, Any]:
        """The body of a webhook create/update, checked before it goes to Leap."""
        if not receiver_url.startswith(("https://", "http://")):
            raise ValueError(f"receiver_url must be an http(s) URL, got {receiver_url!r}")
        types = list(dict.fromkeys(event_types))
        if not types:
            raise ValueError("subscribe to at least one event type")
        return {
            "receiver_url": receiver_url,
            "event_types": types,
            "headers": _header_list(headers),
        }

    def create_webhook(
        self,
        receiver_url: str,
        event_types: Iterable[str],
        headers: dict[str, str] | None = None,
    ) -> UUID:
        """Subscribe `receiver_url` to `event_types`; returns the new webhook id."""
        path = "/v1.1/webhooks"
        body = self._webhook_body(receiver_url, event_types, headers)
        data = self._send("POST", path, json_body=body, idempotent=False)
        return self._envelope(WebhookIdResponse, data, "POST", path).webhook_id

    def update_webhook(
        self,
        webhook_id: UUID | str,
        receiver_url: str,
        event_types: Iterable[str],
        headers: dict[str, str] | None = None,
    ) -> UUID:
        """Replace every setting of a subscription (Leap's PUT is not a patch)."""
        path = f"/v1.1/webhooks/{UUID(str(webhook_id))}"
        body = self._webhook_body(receiver_url, event_types, headers)
        data = self._send("PUT", path, json_body=body)
        if data is None:
            return UUID(str(webhook_id))
        return self._envelope(WebhookIdResponse, data, "PUT", path).webhook_id

    def delete_webhook(self, webhook_id: UUID | str) -> None:
        """Delete a subscription; LeapNotFound if Leap does not know it."""
        self._send("DELETE", f"/v1.1/webhooks/{UUID(str(webhook_id))}")

    def test_webhook(self, webhook_id: UUID | str, payload: dict[str, Any]) -> WebhookTestResult:
        """Ask Leap to send `payload` (an event payload) to the subscription's receiver."""
        if not isinstance(payload, dict) or not payload.get("webhook_event_type"):
            raise ValueError("a test payload needs a webhook_event_type")
        path = f"/v1.1/webhooks/{UUID(str(webhook_id))}/test"
        data = self._send("POST", path, json_body=payload, idempotent=False)
        return self._parse_one(WebhookTestResult, data, "POST", path)
