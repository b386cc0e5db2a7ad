"""HTTP handlers of Leap's dispatch API v2: the search, the webhook settings, the integration test.

Each handler serves one level (`meter` or `group`, from the path); an unknown level is a 404 in
the dispatch envelope.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from . import validate
from .http import DISPATCH, Call, Reply
from .meter_state import iso
from .validate import Invalid

if TYPE_CHECKING:
    from .dispatches import DispatchEvent
    from .simulator import Simulator

PAGE_SIZE = 500

LevelHandler = Callable[["Simulator", Call, str], Reply]


def _search_key(query: dict[str, Any]) -> str:
    """A search's filters (not its page token), hashed: a page token belongs to one search."""
    filters = {k: v for k, v in query.items() if k != "page_token"}
    digest = hashlib.sha256(json.dumps(filters, default=str, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _chosen(sim: Simulator, query: dict[str, Any], level: str) -> list[DispatchEvent]:
    """The events of `level` the search's filters keep, by target, start and event id."""
    start, end = query["start"], query["end"]
    chosen = []
    for event in sim.dispatches.values():
        slot = event.slot
        if event.level != level or not start <= slot["start_time"] < end:
            continue
        if query["ids"] is not None and event.target_id not in query["ids"]:
            continue
        if query["event_ids"] is not None and event.event_id not in query["event_ids"]:
            continue
        if query["exclude_real_time_events"] and "5m" in slot["dispatch_event_types"]:
            continue
        if query["exclude_voluntary_events"] and slot["is_voluntary"]:
            continue
        chosen.append(event)
    chosen.sort(key=lambda e: (e.target_id, e.slot["start_time"], e.event_id))
    return chosen


def _results(chosen: list[DispatchEvent], level: str) -> list[dict[str, Any]]:
    """Leap's result items: one per meter with its timeslots, or one per group timeslot."""
    if level != "meter":
        return [
            {
                "market_group_id": event.target_id,
                "meter_ids": list(event.meter_ids),
                "partner_references": sorted(set(event.partner_references)),
                "timeslots": [event.timeslot(for_search=True)],
            }
            for event in chosen
        ]
    grouped: dict[str, dict[str, Any]] = {}
    for event in chosen:
        entry = grouped.get(event.target_id)
        if entry is None:
            entry = {"meter_id": event.target_id}
            if event.partner_reference is not None:
                entry["partner_reference"] = event.partner_reference
            entry["timeslots"] = []
            grouped[event.target_id] = entry
        entry["timeslots"].append(event.timeslot(for_search=True))
    return list(grouped.values())


def dispatch_search(sim: Simulator, call: Call, level: str) -> Reply:
    """POST /v2/dispatch/{meter,group}/search."""
    query = validate.dispatch_search(call.json(), level)
    key = _search_key(query)
    offset = 0
    if query["page_token"]:
        saved = sim.dispatch_pages.get(query["page_token"].lower())
        if saved is None or saved[0] != key:
            raise Invalid("page_token", "unknown or expired page token")
        offset = saved[1]
    results = _results(_chosen(sim, query, level), level)
    data: dict[str, Any] = {"results": results[offset : offset + PAGE_SIZE]}
    if offset + PAGE_SIZE < len(results):
        token = str(uuid.uuid4())
        sim.dispatch_pages[token] = (key, offset + PAGE_SIZE)
        data["next_page_token"] = token
    # On the last page Leap's token is "null"; the spec types it as a UUID string, so the
    # simulator leaves it out (the null_page_token fault sends the explicit null).
    return Reply.json(200, data)


def _no_webhook(level: str) -> Reply:
    return DISPATCH.error(404, f"No {level} dispatch webhook is configured")


def webhook_get(sim: Simulator, call: Call, level: str) -> Reply:
    """GET /v2/dispatch/{level}/webhook."""
    hook = sim.dispatch_webhooks.get(level)
    if hook is None:
        return _no_webhook(level)
    return Reply.json(200, {"url": hook["url"], "headers": [dict(h) for h in hook["headers"]]})


def webhook_put(sim: Simulator, call: Call, level: str) -> Reply:
    """PUT /v2/dispatch/{level}/webhook: create or replace."""
    body = call.json()
    if not isinstance(body, dict):
        raise Invalid("body", "must be a JSON object")
    url = validate.url(body.get("url"), "url")
    headers = validate.headers_list(body.get("headers"))
    sim.dispatch_webhooks[level] = {"url": url, "headers": headers}
    return Reply.json(200, {"url": url, "headers": headers})


def webhook_delete(sim: Simulator, call: Call, level: str) -> Reply:
    """DELETE /v2/dispatch/{level}/webhook."""
    if sim.dispatch_webhooks.pop(level, None) is None:
        return _no_webhook(level)
    return Reply(204)


def _check_test_body(body: Any, key: str, level: str) -> None:
    """An integration test's body: a non-empty list of recipients, each with timeslots."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list) or not body[key]:
        raise Invalid(key, "must be a non-empty array")
    id_key = "meter_id" if level == "meter" else "market_group_id"
    for item in body[key]:
        if not isinstance(item, dict) or not validate.is_uuid(item.get(id_key)):
            raise Invalid(key, f"each item needs a UUID {id_key}")
        if not isinstance(item.get("timeslots"), list) or not item["timeslots"]:
            raise Invalid(key, "each item needs at least one timeslot")


def integration_test(sim: Simulator, call: Call, level: str) -> Reply:
    """POST /v2/dispatch/{level}/webhook/integration_test: send the given body now.

    Served without the simulator's lock (Api.unlocked): it takes the lock only around state, so
    a receiver calling the API back meanwhile is not blocked.
    """
    body = call.json()
    key = "meter_dispatches" if level == "meter" else "group_dispatches"
    _check_test_body(body, key, level)
    with sim.lock:
        hook = sim.dispatch_webhooks.get(level)
        sent = sim.now
    if hook is None:
        return _no_webhook(level)
    notification = {
        "integration_test_notification": True,
        "communication_test": False,
        key: body[key],
    }
    outcome = sim.send_now(hook["url"], hook["headers"], notification)
    result: dict[str, Any] = {"sent_time": iso(sent, millis=True)}
    if outcome.status is not None:
        result["http_status"] = outcome.status
        result["received_time"] = iso(sent + timedelta(seconds=outcome.seconds), millis=True)
        result["headers"] = outcome.headers
        result["body"] = outcome.text
    if outcome.error:
        result["error_message"] = outcome.error
    return Reply.json(200, result)


def _at_level(handler: LevelHandler, sim: Simulator, call: Call) -> Reply:
    """Serve `handler` for the path's level; an unknown level is a 404."""
    level = call.params["level"]
    if level not in ("meter", "group"):
        return DISPATCH.error(404, f"No such dispatch level: {level}")
    return handler(sim, call, level)


ROUTES: list[tuple[str, str, LevelHandler]] = [
    ("POST", "/v2/dispatch/{level}/search", dispatch_search),
    ("GET", "/v2/dispatch/{level}/webhook", webhook_get),
    ("PUT", "/v2/dispatch/{level}/webhook", webhook_put),
    ("DELETE", "/v2/dispatch/{level}/webhook", webhook_delete),
    ("POST", "/v2/dispatch/{level}/webhook/integration_test", integration_test),
]


def dispatch_routes(sim: Simulator) -> list[tuple[str, str, Callable[[Call], Reply]]]:
    """(method, path template, handler) of the dispatch API, bound to `sim`."""
    return [(method, path, partial(_at_level, handler, sim)) for method, path, handler in ROUTES]
