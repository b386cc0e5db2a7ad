"""What the simulator sends: webhook platform events and their deliveries, with Leap's retry
ladders, duplicate and out-of-order modes, and the immediate POSTs of the test endpoints."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .delivery import Delivery, Outbox, Outcome, Sender, http_send, send
from .meter_state import MarketGroup, MeterState, iso, stable_uuid
from .portfolio import Portfolio

if TYPE_CHECKING:
    from .dispatches import DispatchEvent

PLATFORM_EVENTS = (
    "meter.created",
    "meter.enrollment.global-status.updated",
    "meter.enrollment.participation-status.updated",
    "meter.enrollment.required-actions.updated",
    "meter.enrollment.group.updated",
)


class Outgoing:
    """Webhook events and deliveries of a Simulator (a base class of it: these methods use its
    state)."""

    if TYPE_CHECKING:
        seed: int
        lock: threading.RLock
        portfolio: Portfolio
        outbox: Outbox
        webhooks: dict[str, dict[str, Any]]
        dispatch_webhooks: dict[str, dict[str, Any]]
        dispatches: dict[str, DispatchEvent]
        deliver_to: Sender | None
        duplicate_deliveries: bool
        out_of_order: bool
        retry_scale: float
        _counter: int

        @property
        def now(self) -> datetime: ...
        def notification(
            self, events: list[DispatchEvent], *, integration_test: bool = False
        ) -> dict[str, Any]: ...

    # --- webhook platform events -----------------------------------------------------------------

    def _next_id(self, kind: str) -> str:
        self._counter += 1
        return stable_uuid(kind, self.seed, self._counter)

    def _emit(self, event_type: str, state: MeterState, extra: dict[str, Any]) -> None:
        payload: dict[str, Any] = {"webhook_event_type": event_type, "meter_id": state.meter_id}
        if state.partner_reference is not None:
            payload["partner_reference"] = state.partner_reference
        payload["transmission_region"] = state.region
        payload["meter_type"] = state.meter_type
        payload.update(extra)
        self._publish(event_type, payload)

    def _emit_actions(self, state: MeterState) -> None:
        # The platform event carries the partner's list of required actions only (webhooks.yml).
        self._emit(
            "meter.enrollment.required-actions.updated",
            state,
            {
                "global_enrollment_status": state.global_status,
                "required_actions": {"partner": [dict(a) for a in state.partner_actions]},
            },
        )

    def _emit_group(self, group: MarketGroup) -> None:
        if not any(
            "meter.enrollment.group.updated" in w["event_types"] for w in self.webhooks.values()
        ):
            return  # membership is a full scan: skip it when nobody listens
        payload = {
            "webhook_event_type": "meter.enrollment.group.updated",
            "market_group_id": group.market_group_id,
            "market_group_name": group.name,
            "start_date_time": iso(group.period.start),
            "end_date_time": iso(group.period.end),
            "meter_ids": self.portfolio.group_members(group),
        }
        self._publish("meter.enrollment.group.updated", payload)

    def _publish(self, event_type: str, payload: dict[str, Any]) -> None:
        body = {"webhook_event_id": self._next_id("webhook-event"), "payload": payload}
        for hook in self.webhooks.values():
            if event_type in hook["event_types"]:
                self._queue("platform", hook["receiver_url"], hook["headers"], body, event_type)

    def _queue(
        self,
        kind: str,
        url: str,
        headers: list[dict[str, str]],
        body: dict[str, Any],
        event_type: str,
    ) -> None:
        # Leap lower-cases the names of the headers the partner registered.
        sent = {h["name"].lower(): h["value"] for h in headers}
        sent["content-type"] = "application/json"
        sent.setdefault("user-agent", "Leap-Webhooks/1.1 (simulator)")
        self.outbox.add(
            kind=kind, url=url, headers=sent, body=body, due=self.now, event_type=event_type
        )
        if self.duplicate_deliveries:
            self.outbox.add(kind=kind, url=url, headers=dict(sent), body=body, due=self.now, event_type=event_type)  # fmt: skip

    def register_webhook(
        self,
        receiver_url: str,
        event_types: Iterable[str] = PLATFORM_EVENTS,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Python twin of POST /v1.1/webhooks; returns the webhook id."""
        with self.lock:
            webhook_id = self._next_id("webhook")
            self.webhooks[webhook_id] = {
                "webhook_id": webhook_id,
                "receiver_url": receiver_url,
                "event_types": list(event_types),
                "headers": [{"name": k, "value": v} for k, v in (headers or {}).items()],
            }
            return webhook_id

    def set_dispatch_webhook(
        self, level: str, url: str, headers: dict[str, str] | None = None
    ) -> None:
        """Python twin of PUT /v2/dispatch/{level}/webhook."""
        if level not in ("meter", "group"):
            raise ValueError("level is 'meter' or 'group'")
        with self.lock:
            self.dispatch_webhooks[level] = {
                "url": url,
                "headers": [{"name": k, "value": v} for k, v in (headers or {}).items()],
            }

    # --- deliveries ------------------------------------------------------------------------------

    def deliver_due(self) -> list[tuple[Delivery, Outcome]]:
        """Send every delivery that is due now, once; failures move along their retry ladder.

        The POSTs happen outside the lock: a receiver that calls the API back while handling a
        webhook (the portal with eager Celery does) must not wait on the simulator.
        """
        with self.lock:
            now = self.now
            due = [d for d in self.outbox.pending() if d.due <= now and not d.in_flight]
            if self.out_of_order:
                due.reverse()
            for delivery in due:
                delivery.in_flight = True
            sender = self.deliver_to or http_send
            scale = self.retry_scale
        done = []
        for delivery in due:
            outcome = send(sender, delivery.url, delivery.headers, delivery.content)
            with self.lock:
                done.append((delivery, self.outbox.record(delivery, outcome, now, scale)))
        return done

    def redeliver_last(self) -> Delivery:
        """Queue an exact copy of the last delivery (Leap retrying after a lost acknowledgement)."""
        with self.lock:
            if not self.outbox.items:
                raise LookupError("nothing was delivered yet")
            last = self.outbox.items[-1]
            return self.outbox.add(
                kind=last.kind,
                url=last.url,
                headers=dict(last.headers),
                body=last.body,
                due=self.now,
                event_type=last.event_type,
            )

    def send_forged(self, event_ids: Iterable[str]) -> Delivery:
        """Queue a notification for these events whose secret headers are wrong (not from Leap)."""
        with self.lock:
            events = [self.dispatches[str(e)] for e in event_ids]
            hook = self.dispatch_webhooks.get(events[0].level)
            if hook is None:
                raise LookupError(f"no {events[0].level} dispatch webhook is registered")
            headers = {h["name"].lower(): f"forged-{h['value'][::-1]}" for h in hook["headers"]}
            headers["content-type"] = "application/json"
            return self.outbox.add(
                kind="dispatch",
                url=hook["url"],
                headers=headers,
                body=self.notification(events),
                due=self.now,
                event_type="forged",
            )

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery queued so far (pending, delivered or failed)."""
        return self.outbox.items

    def send_now(self, url: str, headers: list[dict[str, str]], body: dict[str, Any]) -> Outcome:
        """One immediate POST (the test endpoints), outside the retry ladder."""
        sent = {h["name"].lower(): h["value"] for h in headers}
        sent["content-type"] = "application/json"
        return send(self.deliver_to or http_send, url, sent, json.dumps(body).encode())
