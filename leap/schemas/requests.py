"""Request bodies: what we send (also used to check Leap's request examples)."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator

from leap.schemas.base import LeapModel, OptDatetime, OptStr, StrList, UtcDatetime, UUIDList
from leap.schemas.dispatch import GroupDispatch, Header, MeterDispatch


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
