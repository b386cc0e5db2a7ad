"""Leap payloads (leap.schemas objects) flattened into the values our tables hold.

Pure functions, no database: the planners (meters/sync/details.py, enrollments.py) compare what
these return with what is stored and write only the difference. Strings are cut to their column's length (the raw payload
keeps Leap's full text), so an over-long value from Leap can never fail a whole bulk write.
"""

from __future__ import annotations

import hashlib
import operator
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from django.db import models

from meters.bulk import JsonText, dumps
from meters.models import Meter, ProgramEnrollment, RequiredAction

# Fields of a meter's details, by the object that carries them (the column has the same name).
UTILITY_FIELDS = (
    "utility_name",
    "load_serving_entity",
    "electric_service_account_number",
    "tariff",
    "voltage",
    "utility_meter_serial_number",
    "bill_service_agreement_number",
    "bill_customer_account_number",
)
CUSTOMER_FIELDS = (
    "end_customer_name",
    "end_customer_title",
    "end_customer_email",
    "end_customer_phone_number",
    "end_customer_company_name",
    "partner_customer_reference",
    "street_1",
    "street_2",
    "city",
    "postal_code",
    "state_or_province_code",
    "country_code",
)
# What the devices can do, for the dispatch planner (capability()).
CAPABILITY_COLUMNS = (
    "battery_max_discharge_rate_kw",
    "battery_max_charge_rate_kw",
    "battery_energy_capacity_kwh",
    "battery_min_soc_percent",
    "battery_max_soc_percent",
    "other_devices_power_kw",
    "is_connected_to_solar",
)
# Columns filled from meter details.
DETAIL_COLUMNS = [
    "partner_reference",
    "transmission_region",
    "customer_classification",
    "meter_type",
    "load_types",
    "connection_references",
    "customer_group",
    "tags",
    "is_archived",
    *UTILITY_FIELDS,
    *CUSTOMER_FIELDS,
    "load_zone",
    "number_of_devices",
    "device_type",
    "device_manufacturer",
    "device_model",
    "site_device_count",
    *CAPABILITY_COLUMNS,
    "leap_created_by",
    "leap_created_at",
    "leap_updated_at",
]
# Identity fields both payloads carry; an enrollment only sets those its raw object really has,
# so a field the enrollment leaves out never flips what the details said.
SHARED_COLUMNS = {
    "partner_reference": "partner_reference",
    "transmission_region": "transmission_region",
    "customer_classification": "customer_classification",
    "meter_type": "meter_type",
    "load_types": "load_types",
    "connection_references": "connection_references",
    "customer_group": "customer_group",
    "tags": "tags",
    "is_archived": "is_archived",
}
AUDIT_COLUMNS = {"leap_created_by", "leap_created_at", "leap_updated_at"}
ENROLLMENT_COLUMNS = [
    "global_enrollment_status",
    "action_required",
    "open_partner_actions",
    "open_leap_actions",
    "next_action_deadline",
]


def _max_lengths(model: type[models.Model]) -> dict[str, int]:
    return {
        f.name: f.max_length
        for f in model._meta.get_fields()
        if isinstance(f, models.CharField) and f.max_length
    }


_METER_LENGTHS = _max_lengths(Meter)
_ENROLLMENT_LENGTHS = _max_lengths(ProgramEnrollment)
_ACTION_LENGTHS = _max_lengths(RequiredAction)


def clean_str(value: Any, limit: int | None) -> str | None:
    """A storable string: NULs dropped (PostgreSQL refuses them), cut to the column length."""
    if value is None:
        return None
    text = str(value).replace("\x00", "")
    return text[:limit] if limit else text


def canonical_json(raw: Any) -> JsonText:
    """A JSON object as text with sorted keys: what its content hash is taken of.

    The sync hashes this text and stores the same text (COPY sends it as is), so a payload is
    serialised once, not once for the hash and again for the database.
    """
    return dumps(raw, sort_keys=True)


def text_hash(text: str) -> str:
    """The content hash of canonical JSON text."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def content_hash(raw: Any) -> str:
    """A stable hash of a JSON object (key order does not matter)."""
    return text_hash(canonical_json(raw))


def jsonable(value: Any) -> Any:
    """A value as it goes into a JSON column of the history (datetimes as ISO text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def _str_list(values: Any) -> list[str]:
    return [str(v) for v in (values or [])]


def _identity(obj: Any) -> dict[str, Any]:
    """The identity and audit columns of a details or an enrollment object."""
    audit = obj.audit
    row = {
        "partner_reference": obj.partner_reference,
        "transmission_region": obj.transmission_region or "",
        "customer_classification": obj.customer_classification,
        "meter_type": obj.meter_type,
        "load_types": _str_list(obj.load_types),
        "connection_references": _str_list(obj.connection_references),
        "customer_group": obj.customer_group,
        "tags": _str_list(obj.tags),
        "is_archived": bool(obj.is_archived),
        "leap_created_by": audit.created_by if audit else None,
        "leap_created_at": audit.created_at if audit else None,
        "leap_updated_at": audit.updated_at if audit else None,
    }
    return row


def _cut(row: dict[str, Any], lengths: dict[str, int]) -> dict[str, Any]:
    for name, value in row.items():
        if isinstance(value, str) and name in lengths:
            row[name] = clean_str(value, lengths[name])
    return row


def detail_columns(detail: Any) -> dict[str, Any]:
    """Meter columns from a leap.schemas.MeterDetail."""
    row = _identity(detail)
    customer = detail.customer
    utility = detail.utility
    site = detail.site
    device = detail.device
    for name in CUSTOMER_FIELDS:
        row[name] = getattr(customer, name, None) if customer else None
    for name in UTILITY_FIELDS:
        row[name] = getattr(utility, name, None) if utility else None
    row["load_zone"] = site.load_zone if site else None
    row["number_of_devices"] = site.number_of_devices if site else None
    row["site_device_count"] = len(site.site_devices) if site else None
    row["device_type"] = device.device_type if device else None
    row["device_manufacturer"] = device.device_manufacturer if device else None
    row["device_model"] = device.device_model if device else None
    row.update(capability(device, site))
    return _cut(row, _METER_LENGTHS)


def _total(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known), 3) if known else None


def capability(device: Any, site: Any) -> dict[str, Any]:
    """What the meter's devices can do, from Leap's device and site devices (meters.yml).

    Batteries: the site devices' rates and energy added up (a site may have several); where the
    site lists no battery, the primary device's own fields. A rate Leap leaves out falls back to
    the battery's power capacity. State-of-charge limits: the narrowest window. Other devices
    (EV chargers, generators...) count with their power capacity.
    """
    batteries = [d for d in (site.site_devices if site else []) if d.device_type == "BATTERY"]
    others = [d for d in (site.site_devices if site else []) if d.device_type != "BATTERY"]
    if batteries:
        discharge = _total(
            [d.battery_max_discharge_rate_kw or d.power_capacity_kw for d in batteries]
        )
        charge = _total([d.battery_max_charge_rate_kw or d.power_capacity_kw for d in batteries])
        energy = _total([d.energy_capacity_kwh for d in batteries])
        lows = [d.battery_min_state_of_charge_percentage for d in batteries]
        highs = [d.battery_max_state_of_charge_percentage for d in batteries]
        solar = [d.is_connected_to_solar for d in batteries]
    elif device is not None and (
        device.device_type == "BATTERY" or device.battery_max_discharge_rate_kw is not None
    ):
        discharge = device.battery_max_discharge_rate_kw or device.battery_power_capacity_kw
        charge = device.battery_max_charge_rate_kw or device.battery_power_capacity_kw
        energy = device.battery_energy_capacity_kwh
        lows = [device.battery_min_state_of_charge_percentage]
        highs = [device.battery_max_state_of_charge_percentage]
        solar = [device.is_connected_to_solar]
    else:
        discharge = charge = energy = None
        lows, highs, solar = [], [], [device.is_connected_to_solar if device else None]
    solar += [d.is_connected_to_solar for d in others]
    lows = [v for v in lows if v is not None]
    highs = [v for v in highs if v is not None]
    known_solar = [v for v in solar if v is not None]
    return {
        "battery_max_discharge_rate_kw": discharge,
        "battery_max_charge_rate_kw": charge,
        "battery_energy_capacity_kwh": energy,
        "battery_min_soc_percent": max(lows) if lows else None,
        "battery_max_soc_percent": min(highs) if highs else None,
        "other_devices_power_kw": _total([d.power_capacity_kw for d in others]),
        "is_connected_to_solar": any(known_solar) if known_solar else None,
    }


@dataclass
class ProgramRow:
    """One program_enrollment item, ready to store."""

    program_identifier: str
    delivery_period: str
    delivery_period_start: datetime | None
    delivery_period_end: datetime | None
    enrollment_status: str
    enrollment_deadlines: list[dict[str, str]]
    next_deadline: datetime | None
    market_group_id: uuid.UUID | None
    market_group_name: str

    @property
    def key(self) -> str:
        """The row's identity within its meter."""
        return f"{self.program_identifier}/{self.delivery_period}"

    def tracked(self) -> dict[str, Any]:
        """What the history records about the row."""
        return {
            "status": self.enrollment_status,
            "market_group": str(self.market_group_id) if self.market_group_id else None,
            "start": jsonable(self.delivery_period_start),
            "end": jsonable(self.delivery_period_end),
            "deadlines": self.enrollment_deadlines,
        }


@dataclass
class ActionRow:
    """One required action, ready to store."""

    side: str
    program_identifier: str
    delivery_period: str
    action_type: str
    code: str
    description: str
    deadline: datetime | None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The action's identity within its meter (model constraint required_action_identity)."""
        return (self.side, self.code, self.program_identifier, self.delivery_period)

    @property
    def label(self) -> str:
        """The key as history field text."""
        return f"action.{self.side}.{self.code}.{self.program_identifier}/{self.delivery_period}"


@dataclass
class EnrollmentSnapshot:
    """Everything one MeterEnrollment says, flattened."""

    columns: dict[str, Any]
    programs: dict[str, ProgramRow] = field(default_factory=dict)
    actions: dict[tuple[str, str, str, str], ActionRow] = field(default_factory=dict)
    participation: list[dict[str, Any]] = field(default_factory=list)


_deadline_of = operator.attrgetter("enrollment_deadline_date_time")


def enrollment_snapshot(enrollment: Any) -> EnrollmentSnapshot:
    """Columns and child rows from a leap.schemas.MeterEnrollment."""
    raw = enrollment.raw if isinstance(getattr(enrollment, "raw", None), dict) else {}
    identity = _identity(enrollment)
    columns: dict[str, Any] = {
        name: identity[name] for name in SHARED_COLUMNS if not raw or name in raw
    }
    if not raw or "audit" in raw:
        columns.update({name: identity[name] for name in AUDIT_COLUMNS})

    programs: dict[str, ProgramRow] = {}
    for item in enrollment.program_enrollment:
        ordered = sorted(item.enrollment_deadlines, key=_deadline_of)  # stable, earliest first
        deadlines = [
            {
                "enrollment_deadline_date_time": d.enrollment_deadline_date_time.isoformat(),
                "activation_date_time": d.activation_date_time.isoformat(),
            }
            for d in ordered
        ]
        row = ProgramRow(
            program_identifier=clean_str(item.program_identifier or "", 64) or "",
            delivery_period=clean_str(item.delivery_period or "", 128) or "",
            delivery_period_start=item.delivery_period_start_date_time,
            delivery_period_end=item.delivery_period_end_date_time,
            enrollment_status=clean_str(item.enrollment_status, 32) or "",
            enrollment_deadlines=deadlines,
            next_deadline=ordered[0].enrollment_deadline_date_time if ordered else None,
            market_group_id=item.market_group_id,
            market_group_name=clean_str(item.market_group_name or "", 256) or "",
        )
        programs[row.key] = row  # a repeated key: the later row wins, as Leap's list reads

    actions: dict[tuple[str, str, str, str], ActionRow] = {}
    for side, items in (
        ("partner", enrollment.required_actions.partner),
        ("leap", enrollment.required_actions.leap),
    ):
        for item in items:
            action = ActionRow(
                side=side,
                program_identifier=clean_str(item.program_identifier or "", 64) or "",
                delivery_period=clean_str(item.delivery_period or "", 128) or "",
                action_type=clean_str(item.action_type, _ACTION_LENGTHS["action_type"]) or "",
                code=clean_str(item.action_code, _ACTION_LENGTHS["code"]) or "",
                description=clean_str(item.action_description or "", None) or "",
                deadline=item.enrollment_deadline_date_time,
            )
            actions[action.key] = action

    partner_open = [a for a in actions.values() if a.side == "partner"]
    action_deadlines = [a.deadline for a in partner_open if a.deadline]
    columns.update(
        {
            "global_enrollment_status": clean_str(enrollment.global_enrollment_status, 32) or "",
            "action_required": bool(partner_open),
            "open_partner_actions": len(partner_open),
            "open_leap_actions": len(actions) - len(partner_open),
            "next_action_deadline": min(action_deadlines) if action_deadlines else None,
        }
    )
    participation = [
        {
            "participation_preference": clean_str(p.participation_preference, 16) or "",
            "start_time": p.start_time,
            "end_time": p.end_time,
            "reason": p.reason,
        }
        for p in enrollment.participation_preferences
    ]
    return EnrollmentSnapshot(
        columns=_cut(columns, _METER_LENGTHS),
        programs=programs,
        actions=actions,
        participation=participation,
    )


class Prepared(NamedTuple):
    """One Leap object as the writer plans from it: no pydantic model, plain values only.

    Built where the object was validated (a thread of the sync, or the full sync's fetch
    process, which sends it over a pipe): `text` is the payload's canonical JSON (hashed, and
    stored as the raw column), `data` the flattened columns (details) or the
    EnrollmentSnapshot (enrollments).
    """

    meter_id: uuid.UUID
    text: str
    hash: str
    data: Any


def prepare_details(detail: Any) -> Prepared:
    """A leap.schemas.MeterDetail, prepared for the writer."""
    text = canonical_json(detail.raw)
    return Prepared(detail.meter_id, text, text_hash(text), detail_columns(detail))


def prepare_enrollment(enrollment: Any) -> Prepared:
    """A leap.schemas.MeterEnrollment, prepared for the writer."""
    text = canonical_json(enrollment.raw)
    return Prepared(enrollment.meter_id, text, text_hash(text), enrollment_snapshot(enrollment))
