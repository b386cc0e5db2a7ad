"""Typed views of what Leap sends, parsed at the edge (pydantic v2).

Rules every model follows, because Leap changes payloads without a version bump (DIGEST §1.3, §9):
- unknown fields are kept (`extra="allow"`) and never fail validation;
- enumerations are plain strings: a new region, program or action type must not break a sync;
- empty strings of optional strings become None (`customer_group: ""`, `generator_fuel_type: ""`);
- datetimes are aware UTC; naive ones are read as UTC; nine-digit fractions and far-future
  sentinels (`9000-12-31T23:59:59.999999999Z`) parse;
- drifting spellings are all accepted and normalised to one name (device rates, solar flag,
  `communication_test` / `is_communication_test`);
- top-level objects keep `.raw`, the exact dict Leap sent, for storage.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from leap.errors import LeapBadPayload

# --- field types ---------------------------------------------------------------------------------


def _empty_to_none(value: Any) -> Any:
    """Leap sends "" and null interchangeably for absent optional strings."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _as_utc(value: datetime) -> datetime:
    """Aware UTC from whatever offset Leap used; a naive datetime is read as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _as_utc_or_none(value: datetime | None) -> datetime | None:
    """_as_utc for optional datetimes."""
    return None if value is None else _as_utc(value)


def _none_to_list(value: Any) -> Any:
    """Leap sends null for an empty list in places (`market_group_event_ids: null`)."""
    return [] if value is None else value


OptStr = Annotated[str | None, BeforeValidator(_empty_to_none)]
StrList = Annotated[list[str], BeforeValidator(_none_to_list)]
UUIDList = Annotated[list[UUID], BeforeValidator(_none_to_list)]


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
OptDatetime = Annotated[
    datetime | None, BeforeValidator(_empty_to_none), AfterValidator(_as_utc_or_none)
]
OptDate = Annotated[date | None, BeforeValidator(_empty_to_none)]


class LeapModel(BaseModel):
    """Base of every Leap payload model: keeps unknown fields, tolerant of Leap's drift."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=False)

    @property
    def extra_fields(self) -> dict[str, Any]:
        """Fields Leap sent that this model does not know (kept, for storage and diagnostics)."""
        return dict(self.__pydantic_extra__ or {})


class RawModel(LeapModel):
    """A top-level Leap object: `.raw` is the exact dict Leap sent."""

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: Any) -> Any:
        """Keep the dict Leap sent on the object after validating it."""
        obj = handler(data)
        if isinstance(data, dict):
            # The private-attribute dict directly: pydantic's __setattr__/__getattr__ for a
            # private name showed in the sync's profile (every object, read several times).
            obj.__pydantic_private__["_raw"] = data
        return obj

    @property
    def raw(self) -> dict[str, Any]:
        """The dict exactly as Leap sent it (not a copy: do not mutate)."""
        return self.__pydantic_private__["_raw"]

    @classmethod
    def parse(cls, raw: Any) -> Any:
        """Validate one object from Leap, raising LeapBadPayload (with the raw object) on failure."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise bad_payload(cls, raw, exc) from exc


def bad_payload(model: type[BaseModel], raw: Any, exc: ValidationError) -> LeapBadPayload:
    """A LeapBadPayload describing why `raw` failed to validate as `model`."""
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(object)'}: {e['msg']}" for e in errors[:5]
    )
    ident = raw.get("meter_id") if isinstance(raw, dict) else None
    label = f" {ident}" if isinstance(ident, str) else ""
    return LeapBadPayload(
        f"{model.__name__}{label} does not validate: {summary}",
        raw=raw,
        errors=errors,
        model=model.__name__,
    )


# --- meters v2 (meter details) --------------------------------------------------------------------


class Address(LeapModel):
    """A postal address (customer billing address)."""

    street_1: OptStr = None
    street_2: OptStr = None
    postal_code: OptStr = None
    city: OptStr = None
    state_or_province_code: OptStr = None
    country_code: OptStr = None


class Customer(LeapModel):
    """The end customer of a meter, with address and billing address (DIGEST §2.4)."""

    street_1: OptStr = None
    street_2: OptStr = None
    postal_code: OptStr = None
    city: OptStr = None
    state_or_province_code: OptStr = None
    country_code: OptStr = None
    end_customer_name: OptStr = None
    end_customer_title: OptStr = None
    end_customer_email: OptStr = None
    end_customer_phone_number: OptStr = None
    end_customer_company_name: OptStr = None
    partner_offering_name: OptStr = None
    partner_offering_date: OptDate = None
    is_in_wholesale_capacity_market: bool | None = None
    dispatch_option: OptStr = None
    billing: Address | None = None
    partner_customer_reference: OptStr = None


# The S-MET spelling and the newer LF spelling of the same device fields (DIGEST §9.2).
_DISCHARGE = AliasChoices("battery_max_discharge_rate_kw", "max_energy_production_rate_kw")
_CHARGE = AliasChoices("battery_max_charge_rate_kw", "max_energy_consumption_rate_kw")
_SOLAR = AliasChoices("is_connected_to_solar", "pv_connected")


class Device(LeapModel):
    """The meter's primary device; drifting battery field names are normalised to LF's."""

    device_type: OptStr = None
    device_serial_number: OptStr = None
    device_model: OptStr = None
    device_manufacturer: OptStr = None
    install_date: OptDate = None
    permission_to_operate_date: OptDate = None
    battery_power_capacity_kw: float | None = None
    battery_energy_capacity_kwh: float | None = None
    battery_duration_hours: float | None = None
    battery_max_discharge_rate_kw: float | None = Field(default=None, validation_alias=_DISCHARGE)
    battery_max_charge_rate_kw: float | None = Field(default=None, validation_alias=_CHARGE)
    battery_max_state_of_charge_percentage: float | None = None
    battery_min_state_of_charge_percentage: float | None = None
    installer: OptStr = None
    is_connected_to_solar: bool | None = Field(default=None, validation_alias=_SOLAR)


class SiteDevice(LeapModel):
    """One entry of `site.site_devices[]` (Leap's DeviceInfo)."""

    device_type: OptStr = None
    model: OptStr = None
    manufacturer: OptStr = None
    serial_number: OptStr = None
    energy_capacity_kwh: float | None = None
    power_capacity_kw: float | None = None
    energy_capacity_duration_hours: float | None = None
    voltage_level: OptStr = None
    model_year: int | None = None
    fuel_type: OptStr = None
    battery_max_discharge_rate_kw: float | None = Field(default=None, validation_alias=_DISCHARGE)
    battery_max_charge_rate_kw: float | None = Field(default=None, validation_alias=_CHARGE)
    battery_max_state_of_charge_percentage: float | None = None
    battery_min_state_of_charge_percentage: float | None = None
    installer: OptStr = None
    is_connected_to_solar: bool | None = Field(default=None, validation_alias=_SOLAR)


class Site(LeapModel):
    """Site information; the generator_* fields are deprecated by Leap in favour of site_devices."""

    load_zone: OptStr = None
    number_of_devices: int | None = None
    on_site_fossil_generator: bool | None = None
    renewable_generator: bool | None = None
    generator_capacity_kw: float | None = None
    generator_model_year: int | None = None
    generator_manufacturer: OptStr = None
    generator_fuel_type: OptStr = None
    generator_serial_number: OptStr = None
    site_devices: list[SiteDevice] = Field(default_factory=list)

    _none_lists = field_validator("site_devices", mode="before")(_none_to_list)


class Utility(LeapModel):
    """The utility account of a meter."""

    utility_name: OptStr = None
    load_serving_entity: OptStr = None
    electric_service_account_number: OptStr = None
    tariff: OptStr = None
    voltage: OptStr = None
    utility_meter_serial_number: OptStr = None
    bill_service_agreement_number: OptStr = None
    bill_customer_account_number: OptStr = None


class Audit(LeapModel):
    """Who created the meter and when it was created and last updated."""

    created_by: OptStr = None
    created_at: OptDatetime = None
    updated_at: OptDatetime = None


class _MeterIdentity(RawModel):
    """Fields shared by meter details and meter enrollments."""

    meter_id: UUID
    partner_reference: OptStr = None
    transmission_region: str
    customer_classification: OptStr = None
    load_types: StrList = Field(default_factory=list)
    meter_type: OptStr = None
    connection_references: StrList = Field(default_factory=list)
    customer_group: OptStr = None
    tags: StrList = Field(default_factory=list)
    is_archived: bool = False
    audit: Audit = Field(default_factory=Audit)

    _none_audit = field_validator("audit", mode="before")(
        lambda v: {} if v is None else v  # an absent audit is not worth failing a meter for
    )


class MeterDetail(_MeterIdentity):
    """`GET /v2/meters/{id}` and each item of `POST /v2/meters/search`."""

    customer: Customer = Field(default_factory=Customer)
    device: Device | None = None
    site: Site | None = None
    utility: Utility | None = None
    caiso: dict[str, Any] | None = None
    isone: dict[str, Any] | None = None
    nyiso: dict[str, Any] | None = None

    _none_customer = field_validator("customer", mode="before")(lambda v: {} if v is None else v)


# --- enrollments v2 ------------------------------------------------------------------------------


class ParticipationPreference(LeapModel):
    """A participation window: PARTICIPATE, IDLE or DISENROLL from start_time to end_time."""

    participation_preference: str
    start_time: UtcDatetime
    end_time: OptDatetime = None
    reason: OptStr = None


class EnrollmentDeadline(LeapModel):
    """Clear every action by the deadline to be activated on the paired activation date."""

    enrollment_deadline_date_time: UtcDatetime
    activation_date_time: UtcDatetime


class ProgramEnrollment(LeapModel):
    """One program × delivery period of a meter, with its status, deadlines and market group."""

    program_identifier: OptStr = None
    delivery_period: OptStr = None
    delivery_period_start_date_time: OptDatetime = None
    delivery_period_end_date_time: OptDatetime = None
    enrollment_status: str
    enrollment_deadlines: list[EnrollmentDeadline] = Field(default_factory=list)
    market_group_id: UUID | None = None
    market_group_name: OptStr = None

    _none_lists = field_validator("enrollment_deadlines", mode="before")(_none_to_list)
    _empty_group = field_validator("market_group_id", mode="before")(_empty_to_none)


class RequiredAction(LeapModel):
    """An action blocking enrollment; who must act depends on the list it sits in."""

    program_identifier: OptStr = None
    delivery_period: OptStr = None
    enrollment_deadline_date_time: OptDatetime = None
    action_type: str
    # Leap's own examples omit the description; Leap says always show it when present.
    action_description: str = ""
    action_code: str

    _none_description = field_validator("action_description", mode="before")(
        lambda v: "" if v is None else v
    )


class RequiredActions(LeapModel):
    """Actions for the partner and for Leap; a missing list is an empty list."""

    partner: list[RequiredAction] = Field(default_factory=list)
    leap: list[RequiredAction] = Field(default_factory=list)

    _none_lists = field_validator("partner", "leap", mode="before")(_none_to_list)


class MeterEnrollment(_MeterIdentity):
    """`GET /v2/meters/{id}/enrollments` and each item of the enrollments search."""

    global_enrollment_status: str
    participation_preferences: list[ParticipationPreference] = Field(default_factory=list)
    program_enrollment: list[ProgramEnrollment] = Field(default_factory=list)
    required_actions: RequiredActions = Field(default_factory=RequiredActions)

    _none_lists = field_validator("participation_preferences", "program_enrollment", mode="before")(
        _none_to_list
    )
    _none_actions = field_validator("required_actions", mode="before")(
        lambda v: {} if v is None else v
    )


# --- dispatch v2 ---------------------------------------------------------------------------------

# Leap's dispatch enumerations (S-DSP; programs: the dispatch enum plus CT_GB-ESS, which the
# enrollment and nomination enums carry, DIGEST §9.8). Parsing keeps them plain strings so a
# payload never fails as a whole; dispatch/ingest.py checks each timeslot against these sets and
# keeps one that breaks them, with its error, instead of planning it. tests/leap checks them
# against the specs.
DISPATCH_PROGRAMS = frozenset(
    """CAISO-CCA-SC_ONLY CCA CEC-DSGS-OPTION4 CEC-DSGS CONED-CSRP CONED-DLRP DRAM ELRP ENERGY-ONLY
    ERCOT-ERS EVERSOURCE-CS MA_DOER-CPS NATGRID-CS NRG-REALTIME NRG-RED NYISO-SCR ONCOR-CLM PGE-ART
    PGE-CBP PJM-CAPACITY PSEGLI-CSRP PSEGLI-DLRP RIE-CS UNITIL-CS PSE-RPO SRP-RPO TVA-RPO
    CAISO-ELRP-A4 CEC-DSGS-OPTION2 ENERGYHUB-CS CT_GB-ESS""".split()
)
PERFORMANCE_CAPS = frozenset({"up-to-nomination", "up-to-site-load", "grid-exports-allowed"})
# DispatchEventType, plus 15m: Leap's polling guide names CAISO's 15-minute real-time events,
# which MarketType spells "15m" (DIGEST §9.6).
DISPATCH_EVENT_TYPES = frozenset(
    {"hour-ahead", "day-ahead", "5m", "15m", "capacity-test", "standard"}
)
# Types an operator must notice: a capacity test measures performance, real-time events leave
# minutes of notice.
SPECIAL_EVENT_TYPES = {
    "capacity-test": "capacity test",
    "5m": "real-time (5 min)",
    "15m": "real-time (15 min)",
}

_COMM_TEST = AliasChoices("communication_test", "is_communication_test")


class DispatchTimeslot(LeapModel):
    """One dispatch event; updates and cancellations reuse its event id (DIGEST §6.6)."""

    meter_event_id: UUID | None = None
    market_group_event_id: UUID | None = None
    start_time: UtcDatetime
    end_time: UtcDatetime
    cancelled: bool = False
    energy_kw: float | None = None
    nomination_kw: float | None = None
    performance_compensation_cap: str
    priority: int
    is_voluntary: bool
    dispatch_event_types: StrList = Field(default_factory=list)
    programs: StrList = Field(default_factory=list)
    communication_test: bool = Field(default=False, validation_alias=_COMM_TEST)

    _null_flag = field_validator("communication_test", mode="before")(
        lambda v: False if v is None else v
    )

    @model_validator(mode="after")
    def _has_event_id(self) -> DispatchTimeslot:
        """A timeslot without any event id cannot be stored or updated."""
        if self.meter_event_id is None and self.market_group_event_id is None:
            raise ValueError("a timeslot needs meter_event_id or market_group_event_id")
        return self

    @property
    def event_id(self) -> UUID:
        """The event id whichever level the timeslot came from."""
        return self.meter_event_id or self.market_group_event_id  # type: ignore[return-value]


class MeterDispatch(RawModel):
    """Dispatch timeslots for one meter (meter search results and meter notifications)."""

    meter_id: UUID
    partner_reference: OptStr = None
    timeslots: list[DispatchTimeslot] = Field(default_factory=list)


class GroupDispatch(RawModel):
    """Dispatch timeslots for one market group, with the meters in it for these events."""

    market_group_id: UUID
    meter_ids: UUIDList = Field(default_factory=list)
    partner_references: StrList = Field(default_factory=list)
    timeslots: list[DispatchTimeslot] = Field(default_factory=list)


class DispatchNotification(RawModel):
    """The body Leap POSTs to a dispatch webhook (meter or group level, DIGEST §6.2)."""

    integration_test_notification: bool = False
    communication_test: bool = Field(default=False, validation_alias=_COMM_TEST)
    meter_dispatches: list[MeterDispatch] = Field(default_factory=list)
    group_dispatches: list[GroupDispatch] = Field(default_factory=list)

    _none_lists = field_validator("meter_dispatches", "group_dispatches", mode="before")(
        _none_to_list
    )
    _null_flags = field_validator(
        "integration_test_notification", "communication_test", mode="before"
    )(lambda v: False if v is None else v)


class LenientMeterDispatch(RawModel):
    """A meter's entry of a notification whose timeslots are validated one by one (ingest)."""

    meter_id: UUID
    partner_reference: OptStr = None
    timeslots: list[Any] = Field(default_factory=list)

    _none_lists = field_validator("timeslots", mode="before")(_none_to_list)


class LenientGroupDispatch(RawModel):
    """A group's entry of a notification whose timeslots are validated one by one (ingest)."""

    market_group_id: UUID
    meter_ids: UUIDList = Field(default_factory=list)
    partner_references: StrList = Field(default_factory=list)
    timeslots: list[Any] = Field(default_factory=list)

    _none_lists = field_validator("timeslots", mode="before")(_none_to_list)


class LenientNotification(DispatchNotification):
    """DispatchNotification whose timeslots stay raw: one bad timeslot must not reject the rest."""

    meter_dispatches: list[LenientMeterDispatch] = Field(default_factory=list)  # type: ignore[assignment]
    group_dispatches: list[LenientGroupDispatch] = Field(default_factory=list)  # type: ignore[assignment]


class Header(LeapModel):
    """A header name and value Leap sends with each webhook delivery."""

    name: str
    value: str


class DispatchWebhookConfig(RawModel):
    """The dispatch webhook registered for one level (meter or group)."""

    url: str
    headers: list[Header] = Field(default_factory=list)

    _none_lists = field_validator("headers", mode="before")(_none_to_list)


class IntegrationTestResult(RawModel):
    """What Leap saw when it POSTed an integration-test notification to our receiver."""

    sent_time: UtcDatetime
    http_status: int | None = None
    received_time: OptDatetime = None
    headers: dict[str, list[str]] = Field(default_factory=dict)
    body: str | None = None
    error_message: OptStr = None

    _none_headers = field_validator("headers", mode="before")(lambda v: {} if v is None else v)


class CommunicationTestResult(RawModel):
    """Leap's answer to a communication test request (dry run unless approved)."""

    dispatch_status: OptStr = None
    start_time: OptDatetime = None
    end_time: OptDatetime = None
    test_event: bool | None = None
    program: OptStr = None
    approved: bool | None = None
    transmission_region: OptStr = None
    market_type: OptStr = None
    meter_count: int | None = None


# --- webhook platform v1.1 -----------------------------------------------------------------------


class Webhook(RawModel):
    """A webhook platform subscription."""

    webhook_id: UUID
    receiver_url: str
    event_types: StrList = Field(default_factory=list)
    headers: list[Header] = Field(default_factory=list)

    _none_lists = field_validator("headers", mode="before")(_none_to_list)


class WebhookTestResult(RawModel):
    """Whether Leap reached our receiver with a test event and got a 2xx back."""

    is_successful: bool
    error: OptStr = None
    status_code: int | None = None
    response_time_ms: int | None = None


class WebhookPayload(LeapModel):
    """The `payload` of a webhook platform event; every field but the type is optional."""

    webhook_event_type: str
    meter_id: UUID | None = None
    partner_reference: OptStr = None
    transmission_region: OptStr = None
    meter_type: OptStr = None
    global_enrollment_status: OptStr = None
    participation_preference: OptStr = None
    start_time: OptDatetime = None
    end_time: OptDatetime = None
    required_actions: RequiredActions | None = None
    market_group_id: UUID | None = None
    market_group_name: OptStr = None
    start_date_time: OptDatetime = None
    end_date_time: OptDatetime = None
    meter_ids: UUIDList = Field(default_factory=list)
    status: OptStr = None
    utility_name: OptStr = None

    _empty_ids = field_validator("meter_id", "market_group_id", mode="before")(_empty_to_none)


class WebhookEvent(RawModel):
    """A webhook platform delivery: `{webhook_event_id, payload}` (DIGEST §5.2)."""

    webhook_event_id: UUID
    payload: WebhookPayload


# --- request bodies (what we send; also used to check Leap's request examples) -------------------


class MeterFilter(LeapModel):
    """The filters of the meters and enrollments searches (DIGEST §2.2); all optional.

    Paging (`page_token`, `page_size`) is the client's business and not part of the filter.
    Lists are sent as given; the client splits `meter_ids` and `partner_references` longer than
    Leap's limit of 1000 into several searches.
    """

    # Only what the caller sets is sent: Leap's defaults apply to the rest.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    transmission_region: OptStr = None
    customer_classification: OptStr = None
    meter_ids: UUIDList | None = None
    partner_references: list[str] | None = None
    global_enrollment_statuses: list[str] | None = None
    meter_types: list[str] | None = None
    load_types: list[str] | None = None
    customer_groups: list[str] | None = None
    tags: list[str] | None = None
    last_modified_date_time: OptDatetime = None
    created_after_date_time: OptDatetime = None
    created_before_date_time: OptDatetime = None
    partner_action_required: bool | None = None
    exclude_archived: bool | None = None
    connection_reference_ids: list[str] | None = None
    action_type: list[str] | None = None

    LIST_LIMITS: ClassVar[dict[str, int]] = {
        "meter_ids": 1000,
        "partner_references": 1000,
        "global_enrollment_statuses": 5,
        "meter_types": 20,
        "load_types": 20,
        "customer_groups": 20,
        "tags": 20,
        "connection_reference_ids": 100,
        "action_type": 20,
    }
    # Lists the client may split into several searches (an id list is a union of its parts).
    SPLITTABLE: ClassVar[tuple[str, ...]] = ("meter_ids", "partner_references")

    @field_validator("meter_ids", "partner_references", mode="after")
    @classmethod
    def _dedupe(cls, value: list[Any] | None) -> list[Any] | None:
        """Leap wants unique items; the same id twice means nothing more than once."""
        if value is None:
            return None
        return list(dict.fromkeys(value))

    @field_validator(
        "global_enrollment_statuses",
        "meter_types",
        "load_types",
        "customer_groups",
        "tags",
        "connection_reference_ids",
        "action_type",
        mode="after",
    )
    @classmethod
    def _within_limit(cls, value: list[str] | None, info: Any) -> list[str] | None:
        """Lists Leap caps (and the client does not split) must fit Leap's limit."""
        limit = cls.LIST_LIMITS[info.field_name]
        if value is not None and len(value) > limit:
            raise ValueError(f"Leap accepts at most {limit} {info.field_name}")
        return value

    def to_body(self) -> dict[str, Any]:
        """The JSON body Leap expects: only the fields that were set, datetimes in ISO UTC."""
        return self.model_dump(mode="json", exclude_none=True)


class MeterSearchRequest(MeterFilter):
    """A whole meters/enrollments search body, paging included (Leap's MeterFilterRequest)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    page_token: OptStr = None
    page_size: int | None = None


class DispatchSearchRequest(LeapModel):
    """A dispatch search body (meter or group level, DIGEST §6.5)."""

    start_date: UtcDatetime
    end_date: UtcDatetime
    meter_ids: UUIDList | None = None
    meter_event_ids: UUIDList | None = None
    market_group_ids: UUIDList | None = None
    market_group_event_ids: UUIDList | None = None
    exclude_real_time_events: bool | None = None
    exclude_voluntary_events: bool | None = None
    page_token: UUID | None = None


class WebhookRequest(LeapModel):
    """Body of `POST /v1.1/webhooks` and `PUT /v1.1/webhooks/{id}`."""

    receiver_url: str
    event_types: StrList = Field(default_factory=list)
    headers: list[Header] = Field(default_factory=list)


class MeterIntegrationTestRequest(LeapModel):
    """Body of `POST /v2/dispatch/meter/webhook/integration_test`."""

    meter_dispatches: list[MeterDispatch] = Field(min_length=1)


class GroupIntegrationTestRequest(LeapModel):
    """Body of `POST /v2/dispatch/group/webhook/integration_test`."""

    group_dispatches: list[GroupDispatch] = Field(min_length=1)


class CommunicationTestRequest(LeapModel):
    """Body of `POST /v2/dispatch/meter/communication_test` (approved=true dispatches assets)."""

    start_time: UtcDatetime
    end_time: UtcDatetime
    program: str
    meter_uuids: UUIDList
    test_event: bool | None = None
    dispatch_quantity_kw: float | None = None
    approved: bool | None = None


# --- pages ---------------------------------------------------------------------------------------


class MeterDetailPage(LeapModel):
    """A page of `POST /v2/meters/search` (objects kept raw: each is validated on its own)."""

    meters: list[dict[str, Any]] = Field(default_factory=list)
    next_page_token: OptStr = None

    _none_lists = field_validator("meters", mode="before")(_none_to_list)


class MeterEnrollmentPage(MeterDetailPage):
    """A page of `POST /v2/meters/enrollments/search` (Leap may omit `meters`)."""


class DispatchSearchPage(LeapModel):
    """A page of a dispatch search; the token is a UUID, null on the last page."""

    results: list[dict[str, Any]] = Field(default_factory=list)
    next_page_token: OptStr = None

    _none_lists = field_validator("results", mode="before")(_none_to_list)


class WebhookList(LeapModel):
    """`GET /v1.1/webhooks`."""

    webhooks: list[dict[str, Any]] = Field(default_factory=list)

    _none_lists = field_validator("webhooks", mode="before")(_none_to_list)


class WebhookIdResponse(LeapModel):
    """`{webhook_id}` answered by create and update."""

    webhook_id: UUID


class SuccessMessage(LeapModel):
    """`{message}` answered by delete."""

    message: OptStr = None
