"""Admin-only HTTP endpoints under /_sim/ for the demo: move time, change meters, dispatch.

They need `Authorization: Bearer <admin token>` (not the API key). Leap has no such endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from . import validate
from .http import Call, Reply
from .meter_state import iso
from .scenarios import SCENARIOS
from .validate import Invalid

if TYPE_CHECKING:
    from .simulator import Simulator


def ok(data: Any, status: int = 200) -> Reply:
    """A JSON reply."""
    return Reply.json(status, data)


def body(call: Call) -> dict[str, Any]:
    data = call.json()
    if not isinstance(data, dict):
        raise Invalid("body", "must be a JSON object")
    return data


def meter_id(sim: Simulator, call: Call) -> str:
    raw = call.params["meter_id"]
    if not validate.is_uuid(raw) or sim.portfolio.index_of(raw.lower()) is None:
        raise Invalid("meter_id", f"unknown meter {raw}")
    return raw.lower()


def number(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise Invalid(key, "must be a non-negative number")
    return float(value)


def when(data: dict[str, Any], key: str) -> Any:
    return None if data.get(key) is None else validate.parse_datetime(data[key], key)


def state(sim: Simulator, call: Call) -> Reply:
    return ok(sim.summary())


def advance(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    changes = data.get("changes")
    if changes is not None and (not isinstance(changes, int) or changes < 0):
        raise Invalid("changes", "must be a non-negative integer")
    made = sim.advance(number(data, "minutes", 0), changes=changes)
    return ok({"now": iso(sim.now, millis=True), "changes": made})


def add_meters(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    count = int(number(data, "count", 1))
    if not 1 <= count <= 1000:
        raise Invalid("count", "must be from 1 to 1000")
    region = data.get("region")
    if region is not None and region not in validate.REGIONS:
        raise Invalid("region", f"must be one of {', '.join(validate.REGIONS)}")
    status = data.get("status", "PENDING")
    if status not in validate.ENROLLMENT_STATUSES:
        raise Invalid("status", "unknown enrollment status")
    added = [sim.add_meter(region=region, status=status).meter_id for _ in range(count)]
    return ok({"meter_ids": added}, 201)


def set_status(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    status = data.get("status")
    if status not in validate.ENROLLMENT_STATUSES:
        raise Invalid("status", "unknown enrollment status")
    sim.set_global_status(meter_id(sim, call), status)
    return ok({"meter_id": meter_id(sim, call), "global_enrollment_status": status})


def open_action(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    code = data.get("code")
    if not isinstance(code, str) or not code:
        raise Invalid("code", "is required")
    side = data.get("side", "partner")
    if side not in ("partner", "leap"):
        raise Invalid("side", "must be partner or leap")
    action_type = data.get("action_type")
    if action_type is not None and action_type not in validate.ACTION_TYPES:
        raise Invalid("action_type", "unknown action type")
    action = sim.open_action(
        meter_id(sim, call),
        code,
        side=side,
        action_type=action_type,
        description=data.get("description"),
    )
    return ok(action, 201)


def resolve_action(sim: Simulator, call: Call) -> Reply:
    try:
        gone = sim.resolve_action(meter_id(sim, call), call.params["code"])
    except KeyError as exc:
        raise Invalid("code", str(exc)) from None
    return ok({"resolved": gone})


def participation(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    preference = data.get("preference")
    if preference not in ("PARTICIPATE", "IDLE", "DISENROLL"):
        raise Invalid("preference", "must be PARTICIPATE, IDLE or DISENROLL")
    sim.set_participation(
        meter_id(sim, call),
        preference,
        start=when(data, "start"),
        end=when(data, "end"),
        reason=data.get("reason"),
    )
    return ok({"meter_id": meter_id(sim, call), "participation_preference": preference})


def group(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    group_id = str(data.get("market_group_id", "")).lower()
    if group_id not in sim.market_groups:
        raise Invalid("market_group_id", "unknown market group")
    try:
        sim.reassign_group(meter_id(sim, call), group_id)
    except ValueError as exc:
        raise Invalid("market_group_id", str(exc)) from None
    return ok({"meter_id": meter_id(sim, call), "market_group_id": group_id})


def archive(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    archived = data.get("archived", True)
    if not isinstance(archived, bool):
        raise Invalid("archived", "must be true or false")
    sim.archive(meter_id(sim, call), archived)
    return ok({"meter_id": meter_id(sim, call), "is_archived": archived})


def remove(sim: Simulator, call: Call) -> Reply:
    target = meter_id(sim, call)
    sim.remove_meter(target)
    return ok({"removed": target})


def groups(sim: Simulator, call: Call) -> Reply:
    return ok(
        {
            "market_groups": [
                {
                    "market_group_id": g.market_group_id,
                    "market_group_name": g.name,
                    "transmission_region": g.region,
                    "program": g.program,
                    "delivery_period": g.period.name,
                    "start_date_time": iso(g.period.start),
                    "end_date_time": iso(g.period.end),
                }
                for g in sim.market_groups.values()
            ]
        }
    )


def slot_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in ("energy_kw", "nomination_kw"):
        if key in data:
            value = data[key]
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0.01 <= value <= 100000):  # fmt: skip
                raise Invalid(key, "must be null or a number from 0.01 to 100000")
            fields[key] = value
    if "priority" in data:
        if not isinstance(data["priority"], int) or not 1 <= data["priority"] <= 10:
            raise Invalid("priority", "must be an integer from 1 to 10")
        fields["priority"] = data["priority"]
    for key in ("is_voluntary", "cancelled"):
        if key in data:
            if not isinstance(data[key], bool):
                raise Invalid(key, "must be true or false")
            fields[key] = data[key]
    if "performance_compensation_cap" in data:
        if data["performance_compensation_cap"] not in validate.CAPS:
            raise Invalid("performance_compensation_cap", "unknown cap")
        fields["performance_compensation_cap"] = data["performance_compensation_cap"]
    if "dispatch_event_types" in data:
        kinds = data["dispatch_event_types"]
        if (
            not isinstance(kinds, list)
            or not kinds
            or any(k not in validate.EVENT_KINDS for k in kinds)
        ):
            raise Invalid(
                "dispatch_event_types", f"must be a list of {', '.join(validate.EVENT_KINDS)}"
            )
        fields["dispatch_event_types"] = kinds
    for key, name in (("start", "start_time"), ("end", "end_time")):
        if data.get(key) is not None:
            fields[name] = validate.parse_datetime(data[key], key)
    return fields


def create_dispatch(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    program = data.get("program")
    if program is not None and program not in validate.DISPATCH_PROGRAMS:
        raise Invalid("program", "unknown program")
    fields = slot_fields(data)
    start, end = fields.pop("start_time", None), fields.pop("end_time", None)
    fields.pop("cancelled", None)
    comm = bool(data.get("communication_test", False))
    if data.get("market_group_id"):
        if str(data["market_group_id"]).lower() not in sim.market_groups:
            raise Invalid("market_group_id", "unknown market group")
        try:
            ids = sim.create_dispatch(
                market_group_id=str(data["market_group_id"]).lower(), program=program, start=start, end=end, communication_test=comm, **fields
            )  # fmt: skip
        except ValueError as exc:
            raise Invalid("start", str(exc)) from None
    else:
        meters = data.get("meter_ids")
        if not isinstance(meters, list) or not meters:
            raise Invalid("meter_ids", "give meter_ids or market_group_id")
        for m in meters:
            if not validate.is_uuid(m) or sim.portfolio.index_of(str(m).lower()) is None:
                raise Invalid("meter_ids", f"unknown meter {m}")
        ids = sim.create_dispatch(
            meter_ids=[str(m).lower() for m in meters], program=program, start=start, end=end, communication_test=comm, **fields
        )  # fmt: skip
    return ok({"event_ids": ids}, 201)


def event_id(sim: Simulator, call: Call) -> str:
    raw = call.params["event_id"].lower()
    if raw not in sim.dispatches:
        raise Invalid("event_id", f"unknown dispatch event {raw}")
    return raw


def update_dispatch(sim: Simulator, call: Call) -> Reply:
    fields = slot_fields(body(call))
    event = sim.update_dispatch(event_id(sim, call), **fields)
    return ok({"event_id": event.event_id, "version": event.version})


def cancel_dispatch(sim: Simulator, call: Call) -> Reply:
    event = sim.cancel_dispatch(event_id(sim, call))
    return ok({"event_id": event.event_id, "cancelled": True})


def add_fault(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    try:
        fault = sim.faults.add(
            str(data.get("kind")),
            times=int(number(data, "times", 1)),
            path=data.get("path"),
            retry_after=data.get("retry_after", 1.0),
            delay=number(data, "delay", 2.0),
        )
    except ValueError as exc:
        raise Invalid("kind", str(exc)) from None
    return ok({"kind": fault.kind, "times": fault.times}, 201)


def clear_faults(sim: Simulator, call: Call) -> Reply:
    sim.faults.clear()
    return ok({"faults": []})


def deliver(sim: Simulator, call: Call) -> Reply:
    done = sim.deliver_due()
    return ok(
        {
            "attempted": [
                {"id": d.id, "url": d.url, "status": o.status, "error": o.error} for d, o in done
            ]
        }
    )


def deliveries(sim: Simulator, call: Call) -> Reply:
    return ok(
        {
            "deliveries": [
                {
                    "id": d.id,
                    "kind": d.kind,
                    "event_type": d.event_type,
                    "url": d.url,
                    "state": d.state,
                    "attempts": len(d.attempts),
                    "due": iso(d.due, millis=True),
                    "last_status": d.attempts[-1].status if d.attempts else None,
                }
                for d in sim.deliveries[-500:]
            ]
        }
    )


def webhook_mode(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    for key, attr in (("duplicate", "duplicate_deliveries"), ("out_of_order", "out_of_order")):
        if key in data:
            if not isinstance(data[key], bool):
                raise Invalid(key, "must be true or false")
            setattr(sim, attr, data[key])
    if "retry_scale" in data:
        sim.retry_scale = number(data, "retry_scale", 1.0)
    return ok({"duplicate": sim.duplicate_deliveries, "out_of_order": sim.out_of_order, "retry_scale": sim.retry_scale})  # fmt: skip


def scenarios(sim: Simulator, call: Call) -> Reply:
    return ok({"scenarios": {name: (fn.__doc__ or "").strip() for name, fn in SCENARIOS.items()}})


def run_scenario(sim: Simulator, call: Call) -> Reply:
    name = call.params["name"]
    if name not in SCENARIOS:
        raise Invalid("name", f"unknown scenario; known: {', '.join(SCENARIOS)}")
    try:
        result = sim.run_scenario(name)
    except (LookupError, ValueError) as exc:
        raise Invalid("name", str(exc)) from None
    return ok({"scenario": name, **result}, 201)


def onboarding_token(sim: Simulator, call: Call) -> Reply:
    return ok({"onboarding_token": sim.jobs.issue_token()}, 201)


def process_jobs(sim: Simulator, call: Call) -> Reply:
    data = body(call)
    if data.get("now"):  # process every waiting job regardless of its due time
        for job in sim.jobs.jobs.values():
            job.due = min(job.due, sim.now)
    return ok({"processed": sim.jobs.process_due()})


ROUTES: list[tuple[str, str, Callable[[Simulator, Call], Reply]]] = [
    ("GET", "/_sim/state", state),
    ("POST", "/_sim/onboarding-tokens", onboarding_token),
    ("POST", "/_sim/jobs/process", process_jobs),
    ("GET", "/_sim/scenarios", scenarios),
    ("POST", "/_sim/scenarios/{name}", run_scenario),
    ("POST", "/_sim/advance", advance),
    ("POST", "/_sim/meters", add_meters),
    ("POST", "/_sim/meters/{meter_id}/status", set_status),
    ("POST", "/_sim/meters/{meter_id}/actions", open_action),
    ("DELETE", "/_sim/meters/{meter_id}/actions/{code}", resolve_action),
    ("POST", "/_sim/meters/{meter_id}/participation", participation),
    ("POST", "/_sim/meters/{meter_id}/group", group),
    ("POST", "/_sim/meters/{meter_id}/archive", archive),
    ("DELETE", "/_sim/meters/{meter_id}", remove),
    ("GET", "/_sim/groups", groups),
    ("POST", "/_sim/dispatches", create_dispatch),
    ("PATCH", "/_sim/dispatches/{event_id}", update_dispatch),
    ("DELETE", "/_sim/dispatches/{event_id}", cancel_dispatch),
    ("POST", "/_sim/faults", add_fault),
    ("DELETE", "/_sim/faults", clear_faults),
    ("POST", "/_sim/deliver", deliver),
    ("GET", "/_sim/deliveries", deliveries),
    ("POST", "/_sim/webhook-mode", webhook_mode),
]


def admin_routes(sim: Simulator) -> list[tuple[str, str, Callable[[Call], Reply]]]:
    """(method, path template, handler) of every admin endpoint, bound to `sim`."""
    return [(method, path, partial(handler, sim)) for method, path, handler in ROUTES]
