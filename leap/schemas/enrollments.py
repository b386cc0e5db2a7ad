"""Enrollments v2: program enrollments, participation, required actions."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field, field_validator

from leap.schemas.base import (
    LeapModel,
    OptDatetime,
    OptStr,
    UtcDatetime,
    empty_to_none,
    none_to_list,
)
from leap.schemas.meters import MeterIdentity


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

    _none_lists = field_validator("enrollment_deadlines", mode="before")(none_to_list)
    _empty_group = field_validator("market_group_id", mode="before")(empty_to_none)


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

    _none_lists = field_validator("partner", "leap", mode="before")(none_to_list)


class MeterEnrollment(MeterIdentity):
    """`GET /v2/meters/{id}/enrollments` and each item of the enrollments search."""

    global_enrollment_status: str
    participation_preferences: list[ParticipationPreference] = Field(default_factory=list)
    program_enrollment: list[ProgramEnrollment] = Field(default_factory=list)
    required_actions: RequiredActions = Field(default_factory=RequiredActions)

    _none_lists = field_validator("participation_preferences", "program_enrollment", mode="before")(
        none_to_list
    )
    _none_actions = field_validator("required_actions", mode="before")(
        lambda v: {} if v is None else v
    )
