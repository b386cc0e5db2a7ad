"""HTTP handlers of the webhook platform v1.1 (subscriptions and their test)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from . import validate
from .http import WEBHOOKS, Call, Reply
from .validate import Invalid

if TYPE_CHECKING:
    from .simulator import Simulator


def _public_hook(hook: dict[str, Any]) -> dict[str, Any]:
    return {
        "webhook_id": hook["webhook_id"],
        "event_types": list(hook["event_types"]),
        "headers": [dict(h) for h in hook["headers"]],
        "receiver_url": hook["receiver_url"],
    }


def list_webhooks(sim: Simulator, call: Call) -> Reply:
    """GET /v1.1/webhooks."""
    return Reply.json(200, {"webhooks": [_public_hook(h) for h in sim.webhooks.values()]})


def _hook_body(call: Call) -> dict[str, Any]:
    body = call.json()
    if not isinstance(body, dict):
        raise Invalid("body", "must be a JSON object")
    url = validate.url(body.get("receiver_url"), "receiver_url")
    types = body.get("event_types")
    if not isinstance(types, list) or not types:
        raise Invalid("event_types", "must be a non-empty array")
    for kind in types:
        if kind not in validate.EVENT_TYPES:
            raise Invalid("event_types", f"unknown event type {kind!r}")
    return {
        "receiver_url": url,
        "event_types": list(dict.fromkeys(types)),
        "headers": validate.headers_list(body.get("headers")),
    }


def create_webhook(sim: Simulator, call: Call) -> Reply:
    """POST /v1.1/webhooks."""
    settings = _hook_body(call)
    webhook_id = sim._next_id("webhook")
    sim.webhooks[webhook_id] = {"webhook_id": webhook_id, **settings}
    return Reply.json(200, {"webhook_id": webhook_id})


def _hook(sim: Simulator, call: Call) -> dict[str, Any] | None:
    raw = call.params["webhook_id"]
    if not validate.is_uuid(raw):
        return None
    return sim.webhooks.get(str(uuid.UUID(raw)))


def update_webhook(sim: Simulator, call: Call) -> Reply:
    """PUT /v1.1/webhooks/{id}: replaces every setting."""
    hook = _hook(sim, call)
    if hook is None:
        return WEBHOOKS.error(404, "The specified resource was not found")
    hook.update(_hook_body(call))
    return Reply.json(200, {"webhook_id": hook["webhook_id"]})


def delete_webhook(sim: Simulator, call: Call) -> Reply:
    """DELETE /v1.1/webhooks/{id}."""
    hook = _hook(sim, call)
    if hook is None:
        return WEBHOOKS.error(404, "The specified resource was not found")
    del sim.webhooks[hook["webhook_id"]]
    return Reply.json(200, {"message": "Operation completed successfully"})


def send_test_event(sim: Simulator, call: Call) -> Reply:
    """POST /v1.1/webhooks/{id}/test: send the given payload once, report the outcome."""
    with sim.lock:
        hook = _hook(sim, call)
    if hook is None:
        return WEBHOOKS.error(404, "The specified resource was not found")
    payload = call.json()
    if (
        not isinstance(payload, dict)
        or payload.get("webhook_event_type") not in validate.EVENT_TYPES
    ):
        raise Invalid("webhook_event_type", "must name a known event type")
    envelope = {"webhook_event_id": str(uuid.uuid4()), "payload": payload}
    outcome = sim.send_now(hook["receiver_url"], hook["headers"], envelope)
    ok = outcome.error is None and outcome.status is not None and 200 <= outcome.status < 300
    result: dict[str, Any] = {
        "is_successful": ok,
        "response_time_ms": int(outcome.seconds * 1000),
    }
    if outcome.status is not None:
        result["status_code"] = outcome.status
    if not ok:
        result["error"] = outcome.error or f"receiver answered {outcome.status}"
    return Reply.json(200, result)


ROUTES: list[tuple[str, str, Callable[[Simulator, Call], Reply]]] = [
    ("GET", "/v1.1/webhooks", list_webhooks),
    ("POST", "/v1.1/webhooks", create_webhook),
    ("PUT", "/v1.1/webhooks/{webhook_id}", update_webhook),
    ("DELETE", "/v1.1/webhooks/{webhook_id}", delete_webhook),
    ("POST", "/v1.1/webhooks/{webhook_id}/test", send_test_event),
]


def webhook_routes(sim: Simulator) -> list[tuple[str, str, Callable[[Call], Reply]]]:
    """(method, path template, handler) of the webhook platform, bound to `sim`."""
    return [(method, path, partial(handler, sim)) for method, path, handler in ROUTES]
