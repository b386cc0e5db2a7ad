"""Typed views of what Leap sends, parsed at the edge (pydantic v2).

Rules every model follows, because Leap changes payloads without a version bump (and calls
added fields non-breaking; field spellings drift between copies of the same spec version):
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
        private = self.__pydantic_private__
        assert private is not None  # always a dict: _raw has a default factory
        raw: dict[str, Any] = private["_raw"]
        return raw

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
    """The end customer of a meter, with address and billing address (meters.yml)."""

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


# The older (meters.yml DeviceInfo) and the newer spelling of the same device fields: Leap sends
# both under the same API version.
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

# Leap's dispatch enumerations (S-DSP; programs: the dispatch enum plus CT_GB-ESS, which only the
# enrollment and nomination enums carry). Parsing keeps them plain strings so a
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
# which only MarketType spells "15m": DispatchEventType lacks it.
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
    """One dispatch event; updates and cancellations reuse its event id (`cancelled: true`)."""

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
    """The body Leap POSTs to a dispatch webhook: two flags and the meter or group list."""

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
    """A webhook platform delivery, in Leap's envelope: `{webhook_event_id, payload}`."""

    webhook_event_id: UUID
    payload: WebhookPayload


# --- request bodies (what we send; also used to check Leap's request examples) -------------------


class MeterFilter(LeapModel):
    """The filters of the meters and enrollments searches (MeterFilterRequest); all optional.

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
    """A dispatch search body (meter or group level; start inclusive, end exclusive, <= 31 days)."""

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


# --- revenue & analytics v1.1 (settlement.yml) ---------------------------------------------------
#
# Leap's settlement spec declares `additionalProperties: false` everywhere, yet Leap adds fields
# without a version bump: these models keep unknown fields like every other one.
# Months are `YYYY-MM` strings; enumerations (revenue types, programs, load types, regions) are
# plain strings. Every figure is optional unless the spec requires it.

YearMonth = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")]
OptFloat = Annotated[float | None, BeforeValidator(_empty_to_none)]
# Leap's page token of the revenue searches is `page_token` in the response (the spec's own
# wording says `next_page_token`): both are read.
_REVENUE_TOKEN = AliasChoices("page_token", "next_page_token")


def _month_or_none(value: Any) -> Any:
    """The deprecated `delivery_date` is "" in Leap's examples: read as absent."""
    return _empty_to_none(value)


OptMonth = Annotated[
    Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")] | None, BeforeValidator(_month_or_none)
]


class RevenueFigures(LeapModel):
    """The money and performance figures every revenue aggregation row shares."""

    nomination_w: OptFloat = None
    capacity_revenue: OptFloat = None
    energy_revenue: OptFloat = None
    delivery_date: OptMonth = None
    delivery_start_date: YearMonth
    delivery_end_date: YearMonth
    monetized_w: OptFloat = None
    total_revenue: float
    capacity_performance_percentage: OptFloat = None
    energy_performance_percentage: OptFloat = None
    data_coverage_percentage: OptFloat = None
    energy_earned_wh: OptFloat = None
    potential_revenue: OptFloat = None
    capacity_earned_w: OptFloat = None
    payment_adjustment: OptFloat = None
    penalty: OptFloat = None
    performance_adjustment: OptFloat = None
    missed_revenue: OptFloat = None
    version: OptStr = None
    capacity_price: OptFloat = None
    energy_price_kwh: OptFloat = None


class MeterRevenue(RevenueFigures, RawModel):
    """One meter × period of `POST /v1.1/revenue/periodic/aggregation/meter/search`."""

    meter_id: UUID
    partner_reference: OptStr = None
    service_agreement_number: OptStr = None
    customer_group: OptStr = None
    revenue_type: str
    program: OptStr = None
    utility: OptStr = None
    load_types: StrList = Field(default_factory=list)
    customer: OptStr = None
    market_group: OptStr = None
    performance_factor: OptFloat = None
    dispatch_event_response_percentage: OptFloat = None
    total_number_of_events: int | None = None
    diagnosis: OptStr = None
    historical_responsiveness: OptStr = None


class CustomerRevenue(RevenueFigures, RawModel):
    """One row of the customer aggregation (Leap's customer name, not our customer)."""

    customer_name: str
    customer_group: OptStr = None
    meter_count: int


class MarketGroupRevenue(RevenueFigures, RawModel):
    """One row of the market-group aggregation."""

    market_group: str
    meter_count: int
    performance_factor: OptFloat = None


class LoadTypeRevenue(RevenueFigures, RawModel):
    """One row of the load-type aggregation."""

    load_type: str
    meter_count: int


class UtilityMetric(LeapModel):
    """One line of a utility's capacity or energy breakdown."""

    quantity: OptFloat = None
    price: OptFloat = None
    performance: OptFloat = None
    revenue: float
    potential_revenue: OptFloat = None
    avg_price_kw: OptFloat = None


class UtilityRevenue(RawModel):
    """One row of the utility aggregation (its own shape: capacity_w and energy_wh blocks)."""

    utility: str
    capacity_w: dict[str, UtilityMetric] = Field(default_factory=dict)
    energy_wh: dict[str, UtilityMetric] = Field(default_factory=dict)
    delivery_period: OptStr = None
    delivery_start_date: YearMonth
    delivery_end_date: YearMonth
    total_revenue: float
    potential_revenue: float
    meter_count: int
    meters_dispatched_count: int
    nomination_w: OptFloat = None
    data_coverage_percentage: OptFloat = None
    monetized_w: OptFloat = None
    capacity_earned_w: OptFloat = None
    version: OptStr = None
    missed_revenue: OptFloat = None
    payment_adjustment: OptFloat = None
    penalty: OptFloat = None
    performance_adjustment: OptFloat = None
    capacity_revenue: OptFloat = None
    energy_revenue: OptFloat = None
    capacity_price: OptFloat = None
    energy_price_kwh: OptFloat = None


class RevenueSearchPage(LeapModel):
    """A page of a revenue aggregation search: the list under its own key, and the token."""

    meters: list[dict[str, Any]] | None = None
    customers: list[dict[str, Any]] | None = None
    market_groups: list[dict[str, Any]] | None = None
    load_types: list[dict[str, Any]] | None = None
    utilities: list[dict[str, Any]] | None = None
    page_token: OptStr = Field(default=None, validation_alias=_REVENUE_TOKEN)


class SettlementPeriod(LeapModel):
    """`{period_start, period_end}`, both `YYYY-MM`, the end inclusive."""

    period_start: YearMonth
    period_end: YearMonth


class ReportStatus(LeapModel):
    """The status of one report (a set of programs over a period) and its version."""

    programs: StrList = Field(default_factory=list)
    status: str
    updated_at: OptDatetime = None
    delivery_date: OptMonth = None
    delivery_start_date: YearMonth
    delivery_end_date: YearMonth
    version: OptStr = None


class CapacityMetrics(LeapModel):
    """The capacity block of a periodic report."""

    revenue: float
    earned_w: OptFloat = None
    delivered_w: OptFloat = None
    performance_percentage: OptFloat = None
    nomination_w: float
    monetized_w: OptFloat = None


class EnergyMetrics(LeapModel):
    """The energy block of a periodic report."""

    revenue: float
    earned_wh: OptFloat = None
    performance_percentage: OptFloat = None
    awarded_wh: OptFloat = None


class PeriodicReport(RawModel):
    """`GET /v1.1/revenue/periodic/reports`: the portfolio's figures over a period."""

    actual_revenue: float
    potential_revenue: OptFloat = None
    payment_adjustment: OptFloat = None
    penalty: OptFloat = None
    performance_adjustment: OptFloat = None
    data_coverage_percentage: OptFloat = None
    meters_dispatched_count: int
    total_meters_count: int
    dispatch_days_count: int
    dispatch_quantity_wh: OptFloat = None
    average_meter_revenue: float
    capacity: CapacityMetrics
    energy: EnergyMetrics
    settlement_period: SettlementPeriod
    programs: StrList = Field(default_factory=list)
    report_status: list[ReportStatus] = Field(default_factory=list)
    previous_adjusted_revenue: OptFloat = None
    performance_factor_percentage: OptFloat = None
    missed_revenue: OptFloat = None
    capacity_performance_period: dict[str, Any] | None = None

    _none_lists = field_validator("report_status", mode="before")(_none_to_list)


class ReportVersion(RawModel):
    """One item of `GET /v1.1/revenue/periodic/versions`."""

    version: Annotated[str, Field(pattern=r"^V.+")]
    updated_at: UtcDatetime
    settlement_period: SettlementPeriod


class YearlyOverview(RawModel):
    """`GET /v1.1/revenue/yearly/{year}`: kept mostly raw (the page shows a few figures)."""

    yearly_summary: dict[str, Any]
    revenue_sources: dict[str, Any]
    regional_economics: dict[str, Any]
    unit_economics: dict[str, Any]
    reports: list[dict[str, Any]] = Field(default_factory=list)


class UnresponsiveMeter(RawModel):
    """One meter × program of the monthly unresponsive-meters diagnosis."""

    meter_id: UUID
    partner_reference: OptStr = None
    customer_name: OptStr = None
    customer_group: OptStr = None
    transmission_region: str
    program: str
    missed_revenue: OptFloat = None
    nomination_w: OptFloat = None
    response_percentage: float
    number_of_events: int
    historical_responsiveness: str


class UnresponsivePage(LeapModel):
    """A page of the unresponsive-meters diagnosis (meters kept raw, validated one by one)."""

    summary: dict[str, Any] | None = None
    meters: list[dict[str, Any]] = Field(default_factory=list)
    year_month: OptMonth = None
    page_token: OptStr = Field(default=None, validation_alias=_REVENUE_TOKEN)

    _none_lists = field_validator("meters", mode="before")(_none_to_list)


# --- create meters v1.1 (jobs, provisional assets) ------------------------------------------------


def _str_map(value: Any) -> Any:
    """`failed_fields` as {field: message}; null becomes {}, non-string messages become text."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
    return value


class StatusDetail(LeapModel):
    """Why an asset ended as it did: `name` (METER_CREATED, ADDRESS_NOT_FOUND...) and text."""

    name: OptStr = None
    description: OptStr = None
    failed_fields: dict[str, str] = Field(default_factory=dict)

    _maps = field_validator("failed_fields", mode="before")(_str_map)


class AssetUploadStatus(RawModel):
    """One asset of a create-meters job (`AssetUploadStatus`)."""

    partner_reference: OptStr = None
    status: str
    status_detail: StatusDetail = Field(default_factory=StatusDetail)
    created_at: OptDatetime = None
    meter_id: UUID | None = None

    _empty_ids = field_validator("meter_id", mode="before")(_empty_to_none)
    _empty_detail = field_validator("status_detail", mode="before")(
        lambda v: {} if v is None else v
    )


class MeterJob(RawModel):
    """A create-meters job as listed (`Job`)."""

    job_id: UUID
    status: str
    file_name: OptStr = None
    assets_count: int | None = None
    assets_created_count: int | None = None
    assets_updated_count: int | None = None
    assets_failed_count: int | None = None
    transmission_regions: StrList = Field(default_factory=list)
    created_at: OptDatetime = None
    updated_at: OptDatetime = None


class MeterJobDetail(MeterJob):
    """`GET /v1.1/jobs/meters/{job_id}`: the job and each asset's outcome (`JobAndAssets`)."""

    assets: list[AssetUploadStatus] = Field(default_factory=list)

    _none_lists = field_validator("assets", mode="before")(_none_to_list)


class ProvisionalAsset(AssetUploadStatus):
    """An asset of any job, with the data it was sent with (`ProvisionalAsset`)."""

    job_id: UUID | None = None
    data: dict[str, Any] | None = None


class MeterJobPage(LeapModel):
    """A page of `GET /v1.1/jobs/meters`."""

    jobs: list[dict[str, Any]] = Field(default_factory=list)
    next_page_token: OptStr = None

    _none_lists = field_validator("jobs", mode="before")(_none_to_list)


class ProvisionalAssetPage(LeapModel):
    """A page of `GET /v1.1/provisional-assets`."""

    provisional_assets: list[dict[str, Any]] = Field(default_factory=list)
    next_page_token: OptStr = None

    _none_lists = field_validator("provisional_assets", mode="before")(_none_to_list)


class FilterOption(LeapModel):
    """One filter key and its values (`KeyValueFilter`)."""

    key: str
    values: StrList = Field(default_factory=list)


class FilterOptions(LeapModel):
    """`GET /v1.1/jobs/meter-job-filters` and `/v1.1/provisional-assets-filters`."""

    filter_options: list[FilterOption] = Field(default_factory=list)

    _none_lists = field_validator("filter_options", mode="before")(_none_to_list)


class CreateMeterJobResponse(LeapModel):
    """`{job_id}` answered by `POST /v1.1/jobs/meters` (201)."""

    job_id: UUID
