"""Pages and small answers of the searches and the webhook endpoints."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field, field_validator

from leap.schemas.base import LeapModel, OptStr, none_to_list


class MeterDetailPage(LeapModel):
    """A page of `POST /v2/meters/search` (objects kept raw: each is validated on its own)."""

    meters: list[dict[str, Any]] = Field(default_factory=list)
    next_page_token: OptStr = None

    _none_lists = field_validator("meters", mode="before")(none_to_list)


class MeterEnrollmentPage(MeterDetailPage):
    """A page of `POST /v2/meters/enrollments/search` (Leap may omit `meters`)."""


class DispatchSearchPage(LeapModel):
    """A page of a dispatch search; the token is a UUID, null on the last page."""

    results: list[dict[str, Any]] = Field(default_factory=list)
    next_page_token: OptStr = None

    _none_lists = field_validator("results", mode="before")(none_to_list)


class WebhookList(LeapModel):
    """`GET /v1.1/webhooks`."""

    webhooks: list[dict[str, Any]] = Field(default_factory=list)

    _none_lists = field_validator("webhooks", mode="before")(none_to_list)


class WebhookIdResponse(LeapModel):
    """`{webhook_id}` answered by create and update."""

    webhook_id: UUID


class SuccessMessage(LeapModel):
    """`{message}` answered by delete."""

    message: OptStr = None
