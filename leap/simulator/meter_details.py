"""The detail blocks of a generated meter: customer, devices, site, utility and ISO-specific ones.

Each meter draws them from its own random stream, in a fixed order (customer, devices, site,
utility, ISO), so a meter's details are a pure function of (seed, index).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from . import catalog

if TYPE_CHECKING:
    from .meter_state import Core, MeterState

T = TypeVar("T")


class Draws:
    """One meter's random stream. random.randint/choice are slow in bulk; these draw from the
    same stream, faster."""

    __slots__ = ("random",)

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed).random

    def between(self, low: int, high: int) -> int:
        """An integer from low to high, both included."""
        return low + int(self.random() * (high - low + 1))

    def pick(self, options: Sequence[T]) -> T:
        """One of `options`."""
        return options[int(self.random() * len(options))]


def meter_details(seed: int, state: MeterState, core: Core) -> dict[str, Any]:
    """Customer, device, site, utility and ISO blocks of a meter (its own random stream)."""
    draws = Draws((seed << 40) ^ (state.index * 7919) ^ 0xD57A11)
    commercial = state.customer_classification == "COMMERCIAL"
    customer = _customer(draws, seed, state.index, core, commercial)
    device, site_devices = _devices(draws, state.load_types, core, commercial)
    site = _site(draws, core.utility, site_devices)
    details: dict[str, Any] = {
        "customer": customer,
        "device": device,
        "site": site,
        "utility": _utility(draws, core.utility, commercial),
    }
    details.update(_iso_blocks(draws, core.region))
    return details


def _customer(draws: Draws, seed: int, index: int, core: Core, commercial: bool) -> dict[str, Any]:
    pick, between = draws.pick, draws.between
    city, province, postal = pick(core.utility.cities)
    if draws.random() < 0.2:
        postal = f"{postal}-{between(1000, 9999)}"
    first, last = pick(catalog.FIRST_NAMES), pick(catalog.LAST_NAMES)
    ascii_last = last.replace("'", "").replace("ü", "u").replace("á", "a").replace("é", "e").lower()
    company = (
        f"{pick(catalog.COMPANY_WORDS[0])} {pick(catalog.COMPANY_WORDS[1])}" if commercial else None
    )
    customer: dict[str, Any] = {
        "street_1": f"{between(1, 9899)} {pick(catalog.STREET_NAMES)}",
        "city": city,
        "postal_code": postal,
        "state_or_province_code": province,
        "country_code": "US",
        "end_customer_name": f"{first} {last}",
        "end_customer_email": f"{first.lower()}.{ascii_last}{index}@{pick(catalog.EMAIL_DOMAINS)}",
        "end_customer_phone_number": f"+1-{between(201, 989)}-555-01{between(0, 99):02d}",
    }
    if draws.random() < 0.25:
        customer["street_2"] = pick(["Suite 200", "Unit 4B", "Bldg 3", "Apt 12"])
    if commercial:
        customer["end_customer_company_name"] = company
        customer["end_customer_title"] = pick(catalog.TITLES)
    if draws.random() < 0.6:
        customer["partner_offering_name"] = pick(
            ["Home Battery Rewards", "Smart Thermostat Savings", "Business Demand Response"]
        )
        customer["partner_offering_date"] = (core.created_at - timedelta(days=between(1, 60))).strftime("%Y-%m-%d")  # fmt: skip
    if core.region.code == "ISONE":
        customer["is_in_wholesale_capacity_market"] = draws.random() < 0.3
        customer["dispatch_option"] = pick(["DAILY", "TARGETED"])
    if draws.random() < 0.15:
        customer["billing"] = {
            "street_1": f"PO Box {between(100, 9999)}",
            "postal_code": postal[:5],
            "city": city,
            "state_or_province_code": province,
            "country_code": "US",
        }
    if core.has_reference:
        if draws.random() < 0.3:
            customer["partner_customer_reference"] = f"cust-{seed}-{index:07d}"
    return customer


def _devices(
    draws: Draws, load_types: Sequence[str], core: Core, commercial: bool
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the meter's main device, every device of its site)."""
    pick, between = draws.pick, draws.between
    device = None
    site_devices: list[dict[str, Any]] = []
    for load in load_types:
        if load not in catalog.DEVICES:
            continue
        device_type, models = catalog.DEVICES[load]
        maker, model = pick(models)
        item: dict[str, Any] = {
            "device_type": device_type,
            "model": model,
            "manufacturer": maker,
            "serial_number": f"{maker[:3].upper()}{between(10**8, 10**9 - 1)}",
        }
        if device_type == "BATTERY":
            power = round(pick([5.0, 11.5, 13.5, 250.0 if commercial else 10.0]), 1)
            item.update(
                power_capacity_kw=power,
                energy_capacity_kwh=round(power * 2, 1),
                energy_capacity_duration_hours=2,
                battery_max_discharge_rate_kw=power,
                battery_max_charge_rate_kw=power,
                battery_max_state_of_charge_percentage=100,
                battery_min_state_of_charge_percentage=pick([0, 10, 20]),
                installer=pick(catalog.INSTALLERS),
                is_connected_to_solar=draws.random() < 0.6,
            )
        elif device_type == "EV_CHARGER":
            item.update(power_capacity_kw=pick([7.2, 11.5, 19.2]), voltage_level="EVSE_LEVEL_2")
        elif device_type == "GENERATOR":
            item.update(
                power_capacity_kw=float(pick([150, 500, 800])),
                model_year=between(2005, 2024),
                fuel_type=pick(["DIESEL", "NATURAL_GAS", "DUAL_FUEL"]),
            )
        site_devices.append(item)
        if device is None:
            device = _main_device(draws, core, item)
    return device, site_devices


def _main_device(draws: Draws, core: Core, item: dict[str, Any]) -> dict[str, Any]:
    """The meter's `device` block, from the first device of its site."""
    installed = core.created_at - timedelta(days=draws.between(30, 900))
    device: dict[str, Any] = {
        "device_type": item["device_type"],
        "device_serial_number": item["serial_number"],
        "device_model": item["model"],
        "device_manufacturer": item["manufacturer"],
        "install_date": installed.strftime("%Y-%m-%d"),
    }
    if item["device_type"] == "BATTERY":
        device.update(
            battery_power_capacity_kw=item["power_capacity_kw"],
            battery_energy_capacity_kwh=item["energy_capacity_kwh"],
            battery_duration_hours=2,
            battery_max_discharge_rate_kw=item["power_capacity_kw"],
            battery_max_charge_rate_kw=item["power_capacity_kw"],
            permission_to_operate_date=device["install_date"],
        )
    return device


def _site(
    draws: Draws, utility: catalog.Utility, site_devices: list[dict[str, Any]]
) -> dict[str, Any] | None:
    if draws.random() >= 0.9:
        return None
    return {
        "load_zone": draws.pick(utility.load_zones),
        "number_of_devices": len(site_devices),
        "on_site_fossil_generator": any(d["device_type"] == "GENERATOR" for d in site_devices),
        "renewable_generator": any(d.get("is_connected_to_solar") for d in site_devices),
        "site_devices": site_devices,
    }


def _utility(draws: Draws, utility: catalog.Utility, commercial: bool) -> dict[str, Any]:
    pick, between = draws.pick, draws.between
    return {
        "utility_name": utility.code,
        "load_serving_entity": pick(utility.load_serving_entities),
        "electric_service_account_number": f"{between(10**9, 10**10 - 1)}",
        "tariff": pick(["E-19", "B-10", "TOU-GS-3", "SC9", "E-TOU-C", "GS-2", "R-1"]),
        "voltage": pick(["Secondary", "Primary", "Transmission"]) if commercial else "Secondary",
        "utility_meter_serial_number": f"{utility.code[:2]}{between(10**7, 10**8 - 1)}",
        "bill_service_agreement_number": f"{between(10**9, 10**10 - 1)}",
        "bill_customer_account_number": f"{between(10**9, 10**10 - 1)}",
    }


def _iso_blocks(draws: Draws, region: catalog.Region) -> dict[str, Any]:
    """The block of the meter's ISO, for the three ISOs that have one."""
    pick, between = draws.pick, draws.between
    if region.code == "CAISO":
        return {
            "caiso": {
                "is_receiving_sgip_funding": draws.random() < 0.2,
                "nem_type": pick(["NEM2", "NEM3"]),
            }
        }
    if region.code == "ISONE":
        return {"isone": {"in_connected_solutions": draws.random() < 0.5}}
    if region.code == "NYISO":
        nyiso: dict[str, Any] = {
            "cbl_method": pick(["AVERAGE_DAY", "WEATHER_ADJUSTED"]),
            "company_type": pick(["CORPORATION", "LIMITED_LIABILITY_COMPANY", "OTHER"]),
        }
        if draws.random() < 0.5:
            nyiso["existing_nyiso_resource_id"] = f"NY{between(100000, 999999)}"
            nyiso["partner_nyiso_resource_name"] = f"VPP_{region.code}_{between(1, 40)}"
        return {"nyiso": nyiso}
    return {}
