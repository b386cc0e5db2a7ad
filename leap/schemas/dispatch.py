"""Dispatch v2: notifications, timeslots, dispatch webhooks and their tests."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import AliasChoices, Field, field_validator, model_validator

from leap.schemas.base import (
    LeapModel,
    OptDatetime,
    OptStr,
    RawModel,
    StrList,
    UtcDatetime,
    UUIDList,
    none_to_list,
)

# Leap's dispatch enumerations (S-DSP; programs: the dispatch enum plus CT_GB-ESS, which only the
# enrollment and nomination enums carry). Parsing keeps them plain strings so a
# payload never fails as a whole; dispatch/incoming.py checks each timeslot against these sets and
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
        none_to_list
    )
    _null_flags = field_validator(
        "integration_test_notification", "communication_test", mode="before"
    )(lambda v: False if v is None else v)


class LenientMeterDispatch(RawModel):
    """A meter's entry of a notification whose timeslots are validated one by one (ingest)."""

    meter_id: UUID
    partner_reference: OptStr = None
    timeslots: list[Any] = Field(default_factory=list)

    _none_lists = field_validator("timeslots", mode="before")(none_to_list)


class LenientGroupDispatch(RawModel):
    """A group's entry of a notification whose timeslots are validated one by one (ingest)."""

    market_group_id: UUID
    meter_ids: UUIDList = Field(default_factory=list)
    partner_references: StrList = Field(default_factory=list)
    timeslots: list[Any] = Field(default_factory=list)

    _none_lists = field_validator("timeslots", mode="before")(none_to_list)


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

    _none_lists = field_validator("headers", mode="before")(none_to_list)


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
