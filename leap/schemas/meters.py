"""Meters v2: meter details (customer, sites, devices, utility)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import AliasChoices, Field, field_validator

from leap.schemas.base import (
    LeapModel,
    OptDate,
    OptDatetime,
    OptStr,
    RawModel,
    StrList,
    none_to_list,
)


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

    _none_lists = field_validator("site_devices", mode="before")(none_to_list)


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


class MeterIdentity(RawModel):
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


class MeterDetail(MeterIdentity):
    """`GET /v2/meters/{id}` and each item of `POST /v2/meters/search`."""

    customer: Customer = Field(default_factory=Customer)
    device: Device | None = None
    site: Site | None = None
    utility: Utility | None = None
    caiso: dict[str, Any] | None = None
    isone: dict[str, Any] | None = None
    nyiso: dict[str, Any] | None = None

    _none_customer = field_validator("customer", mode="before")(lambda v: {} if v is None else v)
