"""The webhook platform v1.1: subscriptions and the events Leap delivers."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field, field_validator

from leap.schemas.base import (
    LeapModel,
    OptDatetime,
    OptStr,
    RawModel,
    StrList,
    UUIDList,
    empty_to_none,
    none_to_list,
)
from leap.schemas.dispatch import Header
from leap.schemas.enrollments import RequiredActions


class Webhook(RawModel):
    """A webhook platform subscription."""

    webhook_id: UUID
    receiver_url: str
    event_types: StrList = Field(default_factory=list)
    headers: list[Header] = Field(default_factory=list)

    _none_lists = field_validator("headers", mode="before")(none_to_list)


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

    _empty_ids = field_validator("meter_id", "market_group_id", mode="before")(empty_to_none)


class WebhookEvent(RawModel):
    """A webhook platform delivery, in Leap's envelope: `{webhook_event_id, payload}`."""

    webhook_event_id: UUID
    payload: WebhookPayload
