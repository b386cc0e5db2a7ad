"""Parsing Leap payloads at the edge: drift, unknown fields, odd values, raw kept."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from leap.errors import LeapBadPayload
from leap.schemas import (
    Device,
    DispatchNotification,
    DispatchTimeslot,
    GroupDispatch,
    MeterDetail,
    MeterEnrollment,
    MeterFilter,
    SiteDevice,
    WebhookEvent,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "leap"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_meter_detail_keeps_unknown_fields_and_the_exact_raw_dict():
    raw = load("meter_detail_lf.json")
    before = copy.deepcopy(raw)
    meter = MeterDetail.parse(raw)

    assert meter.meter_id == UUID("5b0c3f2e-8f7a-4d61-9c1e-2a7d3e9b4f10")
    assert meter.raw is raw and raw == before  # parsing never mutates what Leap sent
    assert meter.extra_fields == {"sustainability_score": 0.82}
    assert meter.customer.extra_fields == {"loyalty_tier": "gold"}
    assert meter.site.site_devices[0].extra_fields == {"firmware": "2.1.0"}
    # Enumerations are free strings: a utility Leap added yesterday does not fail the meter.
    assert meter.utility.utility_name == "NEW_UTILITY_2026"
    # Duplicate connection references (Leap's own example does this) are kept as sent.
    assert meter.connection_references == ["conn-1", "conn-1"]


def test_empty_strings_of_optional_strings_become_none():
    meter = MeterDetail.parse(load("meter_detail_lf.json"))
    assert meter.customer_group is None
    assert meter.customer.partner_customer_reference is None
    assert meter.site.load_zone is None
    assert meter.site.generator_fuel_type is None  # "" is not in Leap's enum, must still parse


def test_datetimes_are_aware_utc_with_nine_digit_fractions():
    meter = MeterDetail.parse(load("meter_detail_lf.json"))
    assert meter.audit.created_at == datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert meter.audit.updated_at == datetime(2026, 11, 20, 7, 15, tzinfo=UTC)
    assert meter.audit.updated_at.tzinfo is UTC


@pytest.mark.parametrize(
    "spelling",
    [
        {
            "max_energy_production_rate_kw": 4.6,
            "max_energy_consumption_rate_kw": 3.8,
            "pv_connected": True,
        },
        {
            "battery_max_discharge_rate_kw": 4.6,
            "battery_max_charge_rate_kw": 3.8,
            "is_connected_to_solar": True,
        },
    ],
    ids=["S-MET names", "LF names"],
)
@pytest.mark.parametrize("model", [Device, SiteDevice])
def test_device_field_drift_is_normalised_to_the_newer_names(model, spelling):
    device = model.model_validate({"device_type": "BATTERY", **spelling})
    assert device.battery_max_discharge_rate_kw == 4.6
    assert device.battery_max_charge_rate_kw == 3.8
    assert device.is_connected_to_solar is True
    assert device.extra_fields == {}  # the old spelling is read, not kept twice


def test_enrollment_with_sentinels_unknown_codes_and_missing_lists():
    raw = load("meter_enrollment_drift.json")
    enrollment = MeterEnrollment.parse(raw)

    forever = enrollment.participation_preferences[0].end_time
    assert forever == datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert enrollment.participation_preferences[1].reason is None
    program = enrollment.program_enrollment[0]
    assert program.market_group_id is None and program.market_group_name is None
    assert program.extra_fields == {"bid_curve": "flat"}
    codes = [a.action_code for a in enrollment.required_actions.partner]
    assert codes == ["SERV_0005", "MRKT_0002"]
    assert enrollment.required_actions.partner[1].action_type == "BRAND_NEW_ACTION_TYPE"
    assert enrollment.required_actions.leap == []  # absent list -> []
    assert enrollment.extra_fields == {"enrollment_score": {"value": 3}}
    assert enrollment.raw is raw


def test_a_meter_without_an_id_is_a_bad_payload_carrying_the_raw_object():
    raw = load("meter_enrollment_drift.json")
    raw["meter_id"] = "not-a-uuid"
    raw["participation_preferences"][0]["start_time"] = "yesterday"
    with pytest.raises(LeapBadPayload) as caught:
        MeterEnrollment.parse(raw)
    error = caught.value
    assert error.raw is raw
    assert error.model == "MeterEnrollment"
    locations = [tuple(e["loc"]) for e in error.errors]
    assert ("meter_id",) in locations
    assert ("participation_preferences", 0, "start_time") in locations
    assert "meter_id" in error.message


def test_dispatch_notification_reads_both_communication_test_spellings():
    raw = load("dispatch_notification_meter.json")
    notification = DispatchNotification.parse(raw)
    assert notification.communication_test is True
    slot = notification.meter_dispatches[0].timeslots[0]
    assert slot.communication_test is True
    assert slot.energy_kw is None  # null means: deliver the maximum
    assert slot.event_id == UUID("1acfced0-16f4-4fb7-b72e-5ff939ae541e")
    assert slot.dispatch_event_types == ["standard", "15m"]  # an unknown type is kept
    assert slot.extra_fields == {"baseline_kw": 12.5}
    assert notification.meter_dispatches[0].raw is raw["meter_dispatches"][0]

    plain = {**raw["meter_dispatches"][0]["timeslots"][0]}
    plain.pop("is_communication_test")
    plain["communication_test"] = True
    assert DispatchTimeslot.model_validate(plain).communication_test is True
    plain.pop("communication_test")
    assert DispatchTimeslot.model_validate(plain).communication_test is False


def test_a_timeslot_needs_an_event_id_at_either_level():
    slot = load("dispatch_notification_meter.json")["meter_dispatches"][0]["timeslots"][0]
    group_slot = {**slot, "market_group_event_id": slot["meter_event_id"]}
    del group_slot["meter_event_id"]
    group = GroupDispatch.parse(
        {
            "market_group_id": "9d1a7aae-24e5-455f-91e9-e0f5f145f2ae",
            "meter_ids": None,
            "timeslots": [group_slot],
        }
    )
    assert group.timeslots[0].event_id == UUID(slot["meter_event_id"])
    assert group.meter_ids == [] and group.partner_references == []

    del group_slot["market_group_event_id"]
    with pytest.raises(LeapBadPayload, match="meter_event_id or market_group_event_id"):
        GroupDispatch.parse({"market_group_id": group.market_group_id, "timeslots": [group_slot]})


def test_webhook_event_with_empty_required_actions_and_unknown_types():
    event = WebhookEvent.parse(load("webhook_event_required_actions.json"))
    assert event.payload.webhook_event_type == "meter.enrollment.required-actions.updated"
    assert event.payload.required_actions.partner == []  # {} means every action resolved

    unknown = WebhookEvent.parse(
        {
            "webhook_event_id": "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
            "payload": {"webhook_event_type": "meter.teleported", "galaxy": "far away"},
        }
    )
    assert unknown.payload.webhook_event_type == "meter.teleported"
    assert unknown.payload.extra_fields == {"galaxy": "far away"}


def test_meter_filter_body_sends_only_what_was_set_in_utc():
    filters = MeterFilter(
        meter_ids=["11111111-1111-1111-1111-111111111111"] * 2,
        last_modified_date_time=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        partner_action_required=True,
        exclude_archived=True,
    )
    assert filters.to_body() == {
        "meter_ids": ["11111111-1111-1111-1111-111111111111"],
        "last_modified_date_time": "2026-11-24T09:30:00Z",
        "partner_action_required": True,
        "exclude_archived": True,
    }
    with pytest.raises(ValueError, match="at most 20 tags"):
        MeterFilter(tags=[f"t{i}" for i in range(21)])
    with pytest.raises(ValueError):
        MeterFilter(no_such_filter=True)  # a typo in a filter must not silently widen a search
