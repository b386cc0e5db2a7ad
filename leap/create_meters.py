"""The create-meters request body (create-meters.yml v1.1, `CreateMeter`), field by field.

One catalogue of the fields an asset may carry, with the constraints the spec gives them (type,
enum, pattern, length, range), shared by the portal's dry run (onboarding/) and the simulator's
job processing, so both judge an asset the same way. `tests/leap/test_create_meters.py` checks the
catalogue against the spec itself: every field exists there with the same constraints, and the
spec's required fields are the ones marked required here.

Fields are named by their dotted path in the JSON body (`customer.postal_code`), which is also the
column name of our CSV/XLSX template and what Leap reports in `failed_fields`/`problem_field`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

# Leap publishes no batch limit (no published limits at all; search pages stop at 500 and id
# lists at 1,000). The client refuses more than this many assets in one job, and the simulator
# answers 400 above it; the portal submits in batches of ONBOARDING_BATCH_SIZE (default 500).
MAX_JOB_ASSETS = 1000

TRANSMISSION_REGIONS = ("CAISO", "ERCOT", "NYISO", "ISONE", "PJM", "SERC", "WECC_SW", "WECC_PC")
CLASSIFICATIONS = ("RESIDENTIAL", "COMMERCIAL")
LOAD_TYPES = (
    "HVAC",
    "EV_CHARGING",
    "BATTERY_STORAGE",
    "COLD_STORAGE",
    "PUMPING",
    "WATER_HEATING",
    "BUILDING_AUTOMATION",
    "GENERATION",
    "MANUFACTURING",
    "LIGHTING",
    "OTHER",
)
METER_TYPES = ("UTILITY_METER", "SUBMETER", "DEVICE")
DISPATCH_OPTIONS = ("DAILY", "TARGETED")
DEVICE_TYPES = (
    "BATTERY",
    "GENERATOR",
    "EV",
    "EV_CHARGER",
    "BIDIRECTIONAL_EV_CHARGER",
    "SMART_THERMOSTAT",
    "AIR_CONDITIONER",
    "HEAT_PUMP",
)
FUEL_TYPES = ("DIESEL", "NATURAL_GAS", "DUAL_FUEL", "CO_GEN", "ENERGY_STORAGE", "OTHER")
NEM_TYPES = ("NEM2", "NEM3")
CBL_METHODS = ("AVERAGE_DAY", "WEATHER_ADJUSTED")
COMPANY_TYPES = (
    "INDIVIDUAL_OR_SOLE_PROPRIETOR",
    "LIMITED_LIABILITY_COMPANY",
    "PARTNERSHIP",
    "CORPORATION",
    "OTHER",
    "EXEMPT_PAYEE",
)
UTILITIES = (
    "PGE", "SCE", "SDGE", "SMUD", "LADWP", "SVP", "CECONY", "ORU", "PSEGLI", "NYS", "RIE",
    "EVERSOURCE", "NATGRID", "UNITIL", "PPL", "CAPELIGHT", "UPLIGHT", "UNITED_ILLUMINATED", "SMT",
    "AEP_CENTRAL", "AEP_NORTH", "NUECES_ELECTRIC", "ONCOR", "CENTERPOINT", "ENTERGY_GULF", "SWEPCO",
    "TNMP", "DEMO", "DEMO2", "LEAP_TEST_CAISO", "LEAP_TEST_NYISO", "COMED", "BGE", "PECO", "METED",
    "PENELEC", "PSEG", "DOMINION", "WESTPENN", "PENNPOWER", "PEPCO", "PJM_DEMO", "OTHER", "NES",
    "MLGW", "KUB", "NPU", "MTEMC", "PRECC", "HSVU", "SRP", "PSE", "TVA",
)  # fmt: skip
JOB_STATUSES = ("PROCESSING", "FAILED", "COMPLETED", "COMPLETED_WITH_ERRORS")
ASSET_STATUSES = ("PROCESSING", "FAILED", "DUPLICATE", "COMPLETED", "MULTIPLE_PARTNER_REFERENCE")
STATUS_DETAILS = (
    "ACCOUNT_MISMATCH",
    "ADDRESS_INCOMPLETE",
    "ADDRESS_NOT_FOUND",
    "ADDRESS_NOT_REGISTERED_FOR_ESIID",
    "DUPLICATE_METER",
    "DUPLICATE_REF_ID",
    "METER_CREATED",
    "METER_UPDATED",
    "MULTIPLE_ACCOUNTS",
    "UNSUPPORTED_ADDRESS",
    "UNSUPPORTED_ZIP_CODE",
    "VALIDATION_ERROR",
    "PROCESSING_ERROR",
)

# The spec's patterns (create-meters.yml), compiled once.
_ADDRESS_CHARS = r"’'+#\"@()/&.,;\sA-Za-zÀ-ɏḀ-ỿ0-9\-"
STREET = rf"^[{_ADDRESS_CHARS}|\\]{{1,128}}$"
CITY = rf"^[{_ADDRESS_CHARS}]{{1,128}}$"
POSTAL = r"^[0-9]{5}(?:-[0-9]{4})?$"
REFERENCE = r"^[^\/\\?\]\[{}!#$%^&*()<>|]{3,256}$"
NAME = r"^(?!.*[�\u00A0\uFFFD?])[\s\S]{1,128}$"
CUSTOMER_GROUP = r"^[’'+#\"@()/&.,;A-Za-z\u00C0-\u024F\u1E00-\u1EFF0-9\s_\-]{0,128}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # format: email (no pattern in the spec; a sane check)


@dataclass(frozen=True)
class Field:
    """One field of a CreateMeter body."""

    path: str
    kind: str  # str, enum, enum_list, bool, int, number, date
    required: bool = False  # required by the spec for every asset
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    label: str = ""

    @property
    def block(self) -> str | None:
        """The nested object the field lives in (`customer`), None at the top level."""
        return self.path.rsplit(".", 1)[0] if "." in self.path else None


def _f(path: str, kind: str = "str", **kw: Any) -> Field:
    return Field(path, kind, **kw)


FIELDS: tuple[Field, ...] = (
    _f("partner_reference", required=True, pattern=REFERENCE, min_length=3, max_length=256),
    _f("transmission_region", "enum", required=True, enum=TRANSMISSION_REGIONS),
    _f("customer_classification", "enum", required=True, enum=CLASSIFICATIONS),
    _f("load_types", "enum_list", required=True, enum=LOAD_TYPES),
    _f("meter_type", "enum", required=True, enum=METER_TYPES),
    _f("customer.street_1", required=True, pattern=STREET, min_length=1, max_length=128),
    _f("customer.street_2", pattern=STREET, min_length=1, max_length=128),
    _f("customer.postal_code", required=True, pattern=POSTAL),
    _f("customer.city", required=True, pattern=CITY, min_length=1, max_length=128),
    _f("customer.state_or_province_code", required=True, min_length=2, max_length=2),
    _f("customer.country_code", required=True, min_length=2, max_length=2),
    _f("customer.end_customer_name", pattern=NAME, min_length=1, max_length=128),
    _f("customer.end_customer_title", pattern=CITY, min_length=1, max_length=15),
    _f("customer.end_customer_email", pattern=EMAIL, min_length=3, max_length=128),
    _f("customer.end_customer_phone_number", min_length=3, max_length=32),
    _f("customer.end_customer_company_name", pattern=CITY, min_length=1, max_length=128),
    _f("customer.partner_offering_name", min_length=1, max_length=128),
    _f("customer.partner_offering_date", "date"),
    _f("customer.is_in_wholesale_capacity_market", "bool"),
    _f("customer.dispatch_option", "enum", enum=DISPATCH_OPTIONS),
    _f("customer.partner_customer_reference", pattern=REFERENCE, min_length=3, max_length=256),
    _f("customer.billing.street_1", pattern=STREET, min_length=1, max_length=128),
    _f("customer.billing.street_2", pattern=STREET, min_length=1, max_length=128),
    _f("customer.billing.postal_code", pattern=POSTAL),
    _f("customer.billing.city", pattern=CITY, min_length=1, max_length=128),
    _f("customer.billing.state_or_province_code", min_length=2, max_length=2),
    _f("customer.billing.country_code", min_length=2, max_length=2),
    _f("device.device_type", "enum", enum=DEVICE_TYPES),
    _f("device.device_serial_number", min_length=1, max_length=256),
    _f("device.device_model", min_length=1, max_length=128),
    _f("device.device_manufacturer", min_length=1, max_length=128),
    _f("device.install_date", "date"),
    _f("device.battery_power_capacity_kw", "number", minimum=0, maximum=999999),
    _f("device.battery_energy_capacity_kwh", "number", minimum=0, maximum=999999),
    _f("device.battery_duration_hours", "int", minimum=0, maximum=100),
    _f("device.permission_to_operate_date", "date"),
    _f("site.load_zone", min_length=1, max_length=128),
    _f("site.number_of_devices", "int", minimum=0, maximum=99),
    _f("site.on_site_fossil_generator", "bool"),
    _f("site.renewable_generator", "bool"),
    _f("caiso.is_receiving_sgip_funding", "bool"),
    _f("caiso.nem_type", "enum", enum=NEM_TYPES),
    _f("isone.in_connected_solutions", "bool"),
    _f("nyiso.cbl_method", "enum", enum=CBL_METHODS),
    _f("nyiso.company_type", "enum", enum=COMPANY_TYPES),
    _f("nyiso.existing_nyiso_resource_id"),
    _f("nyiso.partner_nyiso_resource_name"),
    _f("utility.utility_name", "enum", enum=UTILITIES),
    _f("utility.load_serving_entity", min_length=1, max_length=128),
    _f("utility.electric_service_account_number", min_length=1, max_length=128),
    _f("utility.tariff", min_length=1, max_length=128),
    _f("utility.voltage", min_length=1, max_length=128),
    _f("utility.utility_meter_serial_number", min_length=1, max_length=256),
    _f("customer_group", pattern=CUSTOMER_GROUP),
)
BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}
REQUIRED: tuple[str, ...] = tuple(f.path for f in FIELDS if f.required)
# country_code has a default of US in the spec, yet is listed as required: we always send it.
DEFAULTS: dict[str, str] = {"customer.country_code": "US"}
_PATTERNS = {f.path: re.compile(f.pattern) for f in FIELDS if f.pattern}
TRUE = {"true", "yes", "y", "1"}
FALSE = {"false", "no", "n", "0"}


class Problem(tuple[str, str]):
    """(field path, what is wrong with it)."""

    __slots__ = ()

    @property
    def field(self) -> str:
        """The dotted path of the field."""
        return self[0]

    @property
    def message(self) -> str:
        """What is wrong."""
        return self[1]


def parse_text(field: Field, text: str) -> tuple[Any, str | None]:
    """A cell's text as the field's JSON value, or (None, problem)."""
    text = text.strip()
    kind = field.kind
    if kind == "str":
        return text, None
    if kind == "enum":
        value = text.upper()
        if value not in field.enum:
            return None, f"{text!r} is not one of {', '.join(field.enum[:12])}" + (
                ", ..." if len(field.enum) > 12 else ""
            )
        return value, None
    if kind == "enum_list":
        values = [v.strip().upper() for v in re.split(r"[;|,]", text) if v.strip()]
        if not values:
            return None, "needs at least one value"
        bad = [v for v in values if v not in field.enum]
        if bad:
            return None, f"{', '.join(bad)} not among {', '.join(field.enum)}"
        return list(dict.fromkeys(values)), None
    if kind == "bool":
        low = text.lower()
        if low in TRUE:
            return True, None
        if low in FALSE:
            return False, None
        return None, f"{text!r} is not true/false"
    if kind in ("int", "number"):
        try:
            number: float | int = int(text) if kind == "int" else float(text)
        except ValueError:
            return None, f"{text!r} is not a {'whole ' if kind == 'int' else ''}number"
        return number, None
    if kind == "date":
        try:
            return date.fromisoformat(text[:10]).isoformat(), None
        except ValueError:
            return None, f"{text!r} is not a date (YYYY-MM-DD)"
    raise ValueError(f"unknown kind {kind}")  # pragma: no cover - the catalogue is fixed


def check_value(field: Field, value: Any) -> str | None:
    """What is wrong with a JSON value of `field` (None when it is fine)."""
    kind = field.kind
    if kind in ("str", "date"):
        if not isinstance(value, str):
            return "must be a string"
        if kind == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                return f"{value!r} is not a date (YYYY-MM-DD)"
            return None
        if field.min_length is not None and len(value) < field.min_length:
            return f"must be at least {field.min_length} characters"
        if field.max_length is not None and len(value) > field.max_length:
            return f"must be at most {field.max_length} characters"
        pattern = _PATTERNS.get(field.path)
        if pattern is not None and not pattern.match(value):
            return f"{value!r} has characters or a format Leap does not accept"
        return None
    if kind == "enum":
        return None if value in field.enum else f"{value!r} is not an accepted value"
    if kind == "enum_list":
        if not isinstance(value, list) or not value:
            return "must be a non-empty list"
        bad = [v for v in value if v not in field.enum]
        return f"{', '.join(map(str, bad))} not accepted" if bad else None
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if kind == "int" and not float(value).is_integer():
            return "must be a whole number"
        if field.minimum is not None and value < field.minimum:
            return f"must be at least {field.minimum:g}"
        if field.maximum is not None and value > field.maximum:
            return f"must be at most {field.maximum:g}"
        return None
    return None  # pragma: no cover


def get_path(asset: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of an asset (None when absent)."""
    node: Any = asset
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def set_path(asset: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path, creating the nested objects on the way."""
    parts = path.split(".")
    node = asset
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def flatten(asset: dict[str, Any]) -> dict[str, Any]:
    """The catalogue's fields of an asset, by dotted path (absent ones left out)."""
    out = {}
    for field in FIELDS:
        value = get_path(asset, field.path)
        if value is not None:
            out[field.path] = value
    return out


def structural_problems(asset: Any) -> list[Problem]:
    """What makes Leap refuse the whole batch (its 400): missing required fields, wrong types,
    values outside an enum. Format problems of present fields are `field_problems`."""
    if not isinstance(asset, dict):
        return [Problem(("", "an asset must be a JSON object"))]
    problems = []
    for path in REQUIRED:
        value = get_path(asset, path)
        if value is None or value == "" or value == []:
            problems.append(Problem((path, "Missing required parameter")))
    missing = {p.field for p in problems}
    for field in FIELDS:
        value = get_path(asset, field.path)
        if value is None or field.path in missing:
            continue
        if field.kind in ("enum", "enum_list", "bool", "int", "number"):
            problem = check_value(field, value)
            if problem:
                problems.append(Problem((field.path, f"Invalid format: {problem}")))
        elif field.kind in ("str", "date") and not isinstance(value, str):
            problems.append(Problem((field.path, "Invalid format: must be a string")))
    if isinstance(asset.get("partner_reference"), str):
        problem = check_value(BY_PATH["partner_reference"], asset["partner_reference"])
        if problem:
            problems.append(Problem(("partner_reference", f"Invalid format: {problem}")))
    return problems


def field_problems(asset: dict[str, Any]) -> list[Problem]:
    """Format problems (pattern, length, range) of the string fields present in an asset."""
    problems = []
    for field in FIELDS:
        if field.kind not in ("str", "date") or field.path == "partner_reference":
            continue
        value = get_path(asset, field.path)
        if isinstance(value, str):
            problem = check_value(field, value)
            if problem:
                problems.append(Problem((field.path, problem)))
    return problems
