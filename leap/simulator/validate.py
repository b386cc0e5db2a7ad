"""Validation of request bodies sent to the simulator, with Leap-like error details."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from . import catalog

REGIONS = tuple(r.code for r in catalog.REGIONS)
ENROLLMENT_STATUSES = ("ACTIVE", "ELIGIBLE", "INELIGIBLE", "NOT_PARTICIPATING", "PENDING")
METER_TYPES = ("UTILITY_METER", "SUBMETER", "DEVICE")
LOAD_TYPES = (
    "HVAC", "EV_CHARGING", "BATTERY_STORAGE", "COLD_STORAGE", "PUMPING", "WATER_HEATING",
    "BUILDING_AUTOMATION", "GENERATION", "MANUFACTURING", "LIGHTING", "OTHER",
)  # fmt: skip
ACTION_TYPES = (
    "IS_AUTHORIZED", "DOCUMENTS_SIGNED", "HAS_AMI", "NOT_ENROLLED_IN_CONFLICTING_PROGRAM",
    "PARTICIPATING", "HAS_MARKET_REGISTRATION", "NO_MISSING_FIELDS", "GENERATOR", "ADDRESS",
    "HAS_NOMINATIONS", "HAS_BIDDING_STRATEGY", "IS_ELIGIBLE", "IS_ASSIGNED_TO_A_RESOURCE",
    "MEETS_EXTRA_PROGRAM_REQUIREMENTS",
)  # fmt: skip
EVENT_TYPES = (
    "meter.created",
    "connect_session.updated",
    "connect_session.authorization_updated",
    "meter.enrollment.global-status.updated",
    "meter.enrollment.participation-status.updated",
    "meter.enrollment.required-actions.updated",
    "meter.enrollment.group.updated",
)
DISPATCH_PROGRAMS = (
    "CAISO-CCA-SC_ONLY", "CCA", "CEC-DSGS-OPTION4", "CEC-DSGS", "CONED-CSRP", "CONED-DLRP",
    "DRAM", "ELRP", "ENERGY-ONLY", "ERCOT-ERS", "EVERSOURCE-CS", "MA_DOER-CPS", "NATGRID-CS",
    "NRG-REALTIME", "NRG-RED", "NYISO-SCR", "ONCOR-CLM", "PGE-ART", "PGE-CBP", "PJM-CAPACITY",
    "PSEGLI-CSRP", "PSEGLI-DLRP", "RIE-CS", "UNITIL-CS", "PSE-RPO", "SRP-RPO", "TVA-RPO",
    "CAISO-ELRP-A4", "CEC-DSGS-OPTION2", "ENERGYHUB-CS",
)  # fmt: skip
EVENT_KINDS = ("hour-ahead", "day-ahead", "5m", "capacity-test", "standard")
CAPS = ("grid-exports-allowed", "up-to-nomination", "up-to-site-load")
_PARTNER_REF = re.compile(r"^[^/\\?\]\[{}!#$%^&*()<>|]{3,256}$")
_FRACTION = re.compile(r"\.(\d+)")


class Invalid(ValueError):
    """A request the simulator rejects with 400; `field` names the offending input."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def parse_datetime(value: Any, field: str) -> datetime:
    """An aware datetime from ISO 8601 (Z or offset; up to nine fraction digits)."""
    if not isinstance(value, str):
        raise Invalid(field, "must be a date-time string")
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python takes at most six fraction digits; Leap sends nine.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(field, f"not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None or "T" not in text:
        raise Invalid(field, "must be a date-time with a time zone, e.g. 2026-01-01T00:00:00Z")
    return parsed


def is_uuid(value: Any) -> bool:
    """Whether a value is a UUID string."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _list(
    body: dict[str, Any],
    field: str,
    *,
    min_items: int,
    max_items: int,
    enum: tuple[str, ...] | None = None,
    uuids: bool = False,
    check: Any = None,
) -> list[Any] | None:
    if field not in body or body[field] is None:
        return None
    value = body[field]
    if not isinstance(value, list):
        raise Invalid(field, "must be an array")
    if not min_items <= len(value) <= max_items:
        raise Invalid(field, f"must have {min_items} to {max_items} items")
    for item in value:
        if not isinstance(item, str):
            raise Invalid(field, "items must be strings")
        if enum is not None and item not in enum:
            raise Invalid(field, f"unknown value {item!r}")
        if uuids and not is_uuid(item):
            raise Invalid(field, f"not a UUID: {item!r}")
        if check is not None and not check(item):
            raise Invalid(field, f"invalid value {item!r}")
    if len(set(value)) != len(value):
        raise Invalid(field, "items must be unique")
    return [v.lower() for v in value] if uuids else value


def _bool(body: dict[str, Any], field: str, default: bool) -> bool:
    value = body.get(field, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise Invalid(field, "must be true or false")
    return value


def _enum(body: dict[str, Any], field: str, enum: tuple[str, ...]) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if value not in enum:
        raise Invalid(field, f"must be one of {', '.join(enum)}")
    return str(value)


def meter_filter(body: Any) -> dict[str, Any]:
    """A checked MeterFilterRequest (meters.yml), normalised; raises Invalid."""
    if not isinstance(body, dict):
        raise Invalid("body", "must be a JSON object")
    page_size = body.get("page_size", 500)
    if page_size is None:
        page_size = 500
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 500:
        raise Invalid("page_size", "must be an integer from 1 to 500")
    token = body.get("page_token")
    if token is not None and not isinstance(token, str):
        raise Invalid("page_token", "must be a string")
    out: dict[str, Any] = {
        "page_size": page_size,
        "page_token": token or None,
        "transmission_region": _enum(body, "transmission_region", REGIONS),
        "customer_classification": _enum(
            body, "customer_classification", ("RESIDENTIAL", "COMMERCIAL")
        ),
        "meter_ids": _list(body, "meter_ids", min_items=0, max_items=1000, uuids=True),
        "partner_references": _list(
            body, "partner_references", min_items=1, max_items=1000, check=_PARTNER_REF.match
        ),
        "global_enrollment_statuses": _list(
            body, "global_enrollment_statuses", min_items=1, max_items=5, enum=ENROLLMENT_STATUSES
        ),
        "meter_types": _list(body, "meter_types", min_items=1, max_items=20, enum=METER_TYPES),
        "load_types": _list(body, "load_types", min_items=1, max_items=20, enum=LOAD_TYPES),
        "customer_groups": _list(body, "customer_groups", min_items=1, max_items=20),
        "tags": _list(body, "tags", min_items=1, max_items=20),
        "connection_reference_ids": _list(
            body, "connection_reference_ids", min_items=1, max_items=100
        ),
        "action_type": _list(body, "action_type", min_items=1, max_items=20, enum=ACTION_TYPES),
        "partner_action_required": _bool(body, "partner_action_required", False),
        "exclude_archived": _bool(body, "exclude_archived", False),
    }
    for field in ("last_modified_date_time", "created_after_date_time", "created_before_date_time"):
        value = body.get(field)
        out[field] = None if value is None else parse_datetime(value, field)
    return out


def dispatch_search(body: Any, level: str) -> dict[str, Any]:
    """A checked dispatch search request (window at most 31 days); raises Invalid."""
    if not isinstance(body, dict):
        raise Invalid("body", "must be a JSON object")
    for field in ("start_date", "end_date"):
        if body.get(field) is None:
            raise Invalid(field, "is required")
    start = parse_datetime(body["start_date"], "start_date")
    end = parse_datetime(body["end_date"], "end_date")
    if end <= start:
        raise Invalid("end_date", "must be after start_date")
    if (end - start).total_seconds() > 31 * 86400:
        raise Invalid("end_date", "the search window must not exceed 31 days")
    token = body.get("page_token")
    if token is not None and not is_uuid(token):
        raise Invalid("page_token", "must be a UUID")
    ids, event_ids = (
        ("meter_ids", "meter_event_ids")
        if level == "meter"
        else ("market_group_ids", "market_group_event_ids")
    )
    return {
        "start": start,
        "end": end,
        "page_token": token,
        "ids": _list(body, ids, min_items=1, max_items=10_000, uuids=True),
        "event_ids": _list(body, event_ids, min_items=1, max_items=10_000, uuids=True),
        "exclude_real_time_events": _bool(body, "exclude_real_time_events", True),
        "exclude_voluntary_events": _bool(body, "exclude_voluntary_events", False),
    }


def headers_list(value: Any, field: str = "headers") -> list[dict[str, str]]:
    """A list of {name, value} headers."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(field, "must be an array of {name, value}")
    out = []
    for item in value:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("value"), str)
            or not item["name"].strip()
        ):
            raise Invalid(field, "each header needs a string name and value")
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", item["name"]):
            raise Invalid(field, f"invalid header name {item['name']!r}")
        out.append({"name": item["name"], "value": item["value"]})
    return out


def url(value: Any, field: str) -> str:
    """An absolute http(s) URL."""
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise Invalid(field, "must be an absolute http(s) URL")
    return value
