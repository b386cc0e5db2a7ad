"""Meter capability: what Leap says a meter's devices can do, synced into the columns the dispatch
planner reads (meters.sync.snapshot.capability), in both of Leap's device spellings."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from dispatch import apply, incoming
from dispatch.models import DispatchAllocation
from leap.schemas import Device, LenientNotification, Site
from meters.models import Meter, SyncRun
from meters.sync.snapshot import capability
from tests.dispatch.helpers import meter_notification, slot


def _expected(detail_json: dict) -> dict:
    """The figures computed by hand from Leap's JSON (LF spelling)."""
    devices = (detail_json.get("site") or {}).get("site_devices", [])
    batteries = [d for d in devices if d["device_type"] == "BATTERY"]
    others = [d for d in devices if d["device_type"] != "BATTERY"]
    out = {}
    if batteries:
        out["battery_max_discharge_rate_kw"] = round(
            sum(d["battery_max_discharge_rate_kw"] for d in batteries), 3
        )
        out["battery_energy_capacity_kwh"] = round(
            sum(d["energy_capacity_kwh"] for d in batteries), 3
        )
        out["battery_min_soc_percent"] = max(
            d["battery_min_state_of_charge_percentage"] for d in batteries
        )
    powers = [d["power_capacity_kw"] for d in others if "power_capacity_kw" in d]
    if powers:
        out["other_devices_power_kw"] = round(sum(powers), 3)
    return out


@pytest.mark.parametrize("device_names", ["lf", "smet"])
@pytest.mark.leap_sim(meters=60, changes_per_hour=0)
def test_a_sync_stores_what_each_meters_devices_can_do(leap_sim, run_sync, device_names):
    leap_sim.device_names = device_names  # S-MET: max_energy_production_rate_kw, pv_connected
    run = run_sync("full")
    assert run.status == SyncRun.Status.DONE, run.error

    with_battery = 0
    for meter_id in leap_sim.meter_ids():
        detail = leap_sim.meter(meter_id).detail_json()  # LF names, whatever was served
        meter = Meter.objects.get(pk=uuid.UUID(meter_id))
        for column, value in _expected(detail).items():
            assert getattr(meter, column) == pytest.approx(value), (meter_id, column)
        if "battery_max_discharge_rate_kw" in _expected(detail):
            with_battery += 1
            devices = detail["site"]["site_devices"]
            solar = any(d.get("is_connected_to_solar") for d in devices)
            assert meter.is_connected_to_solar is solar
    assert with_battery > 3  # the portfolio has batteries to check


def test_the_primary_device_counts_when_the_site_lists_no_battery():
    device = Device.model_validate(
        {
            "device_type": "BATTERY",
            "battery_power_capacity_kw": 5.0,
            "battery_energy_capacity_kwh": 13.5,
            "max_energy_production_rate_kw": 4.6,  # the older S-MET spelling
            "battery_min_state_of_charge_percentage": 20,
            "pv_connected": True,
        }
    )
    got = capability(
        device, Site.model_validate({"site_devices": [{"device_type": "SMART_THERMOSTAT"}]})
    )
    assert got == {
        "battery_max_discharge_rate_kw": 4.6,
        "battery_max_charge_rate_kw": 5.0,  # no charge rate: the battery's power capacity
        "battery_energy_capacity_kwh": 13.5,
        "battery_min_soc_percent": 20,
        "battery_max_soc_percent": None,
        "other_devices_power_kw": None,
        "is_connected_to_solar": True,
    }
    assert capability(None, None)["battery_max_discharge_rate_kw"] is None


@pytest.mark.leap_sim(meters=20, changes_per_hour=0)
def test_a_changed_capability_re_plans_the_meters_upcoming_dispatches(
    leap_sim, run_sync, django_capture_on_commit_callbacks
):
    assert run_sync("full").status == SyncRun.Status.DONE
    meter_id = next(
        m
        for m in leap_sim.meter_ids()
        if any(
            d["device_type"] == "BATTERY"
            for d in (leap_sim.meter(m).details.get("site") or {}).get("site_devices", [])
        )
    )
    event = uuid.uuid4()
    body = meter_notification(
        (meter_id, [slot(event, energy_kw=None, performance_compensation_cap="grid-exports-allowed", programs=["ELRP"])])
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        apply.apply_all(
            incoming.incoming_from_notification(LenientNotification.model_validate(body)),
            source="test",
            received_at=timezone.now(),
        )
    meter = Meter.objects.get(pk=meter_id)

    def expected(m):  # a one-hour event: the rate, or the usable energy over one hour
        usable = m.battery_energy_capacity_kwh * (100 - (m.battery_min_soc_percent or 0)) / 100
        return min(m.battery_max_discharge_rate_kw + (m.other_devices_power_kw or 0), usable)

    assert DispatchAllocation.objects.get(timeslot__event_id=event).planned_kw == pytest.approx(
        expected(meter), abs=1e-3
    )

    # Leap now reports a smaller battery rate: the incremental sync re-plans the event.
    state = leap_sim.meter(meter_id)
    for device in state.details["site"]["site_devices"]:
        if device["device_type"] == "BATTERY":
            device["battery_max_discharge_rate_kw"] = 1.25
    leap_sim._touch(state)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_sync("full").status == SyncRun.Status.DONE
    meter.refresh_from_db()
    assert meter.battery_max_discharge_rate_kw == 1.25
    alloc = DispatchAllocation.objects.get(timeslot__event_id=event)
    assert alloc.planned_kw == pytest.approx(expected(meter), abs=1e-3)
    assert alloc.planned_kw == pytest.approx(1.25 + (meter.other_devices_power_kw or 0), abs=1e-3)
    assert alloc.bound_by == "capability"
