"""Which fields an asset needs, beyond the spec's global ones, for a program, region, meter type.

create-meters.yml marks only the global fields required (partner_reference,
transmission_region, customer_classification, load_types, meter_type and the customer address) and
says programs add their own. It states those additions in field descriptions, which this table
follows, quoting them:

- `site.number_of_devices`: "For CA DSGS Option 3, this field is required" (CEC-DSGS programs);
- `device.*` battery capacities and `permission_to_operate_date`: what Leap's DSGS battery
  description asks for ("Total battery energy capacity according to battery specification
  sheet", the PTO letter);
- `nyiso.company_type`: "Required for customers enrolling in PSEGLI CSRP/DLRP";
- `utility.voltage`: "required for customers enrolling in NYISO SCR"; `nyiso.cbl_method`: the CBL
  methodology "that will be used to calculate load reduction" (SCR, CSRP, DLRP);
- `utility.electric_service_account_number`: "ESIID in ERCOT" (ERCOT programs identify a site by
  it) and the account number of CAISO/ISONE/NYISO utility meters;
- `isone.in_connected_solutions`: "used for CPS"; `customer.dispatch_option`: "Dispatch strategy
  used in ConnectedSolutions" (the *-CS programs);
- `caiso.is_receiving_sgip_funding`: "Only needed if the battery is installed after June 30,
  2023" (a condition on `device.install_date`, checked per row).

Meter types: a DEVICE or SUBMETER meter is identified by its device (type and serial number); a
UTILITY_METER by its utility. Programs are listed per region as the simulator's catalogue and
Leap's program list place them.
"""

from __future__ import annotations

from datetime import date

PROGRAMS_BY_REGION: dict[str, tuple[str, ...]] = {
    "CAISO": (
        "CCA",
        "CAISO-CCA-SC_ONLY",
        "ELRP",
        "CAISO-ELRP-A4",
        "CEC-DSGS",
        "CEC-DSGS-OPTION2",
        "CEC-DSGS-OPTION4",
        "DRAM",
        "PGE-ART",
        "PGE-CBP",
        "ENERGY-ONLY",
    ),
    "ERCOT": ("ERCOT-ERS", "ONCOR-CLM", "NRG-REALTIME", "NRG-RED", "ENERGY-ONLY"),
    "NYISO": ("NYISO-SCR", "CONED-CSRP", "CONED-DLRP", "PSEGLI-CSRP", "PSEGLI-DLRP"),
    "ISONE": (
        "NATGRID-CS",
        "EVERSOURCE-CS",
        "MA_DOER-CPS",
        "RIE-CS",
        "UNITIL-CS",
        "ENERGYHUB-CS",
        "CT_GB-ESS",
    ),
    "PJM": ("PJM-CAPACITY",),
    "SERC": ("TVA-RPO",),
    "WECC_SW": ("SRP-RPO",),
    "WECC_PC": ("PSE-RPO",),
}
ALL_PROGRAMS = tuple(sorted({p for ps in PROGRAMS_BY_REGION.values() for p in ps}))

DSGS_BATTERY = (
    "device.device_type",
    "device.battery_power_capacity_kw",
    "device.battery_energy_capacity_kwh",
    "device.permission_to_operate_date",
    "site.number_of_devices",
)
CONNECTED_SOLUTIONS = ("customer.dispatch_option",)
PROGRAM_FIELDS: dict[str, tuple[str, ...]] = {
    "CEC-DSGS": DSGS_BATTERY,
    "CEC-DSGS-OPTION2": DSGS_BATTERY,
    "CEC-DSGS-OPTION4": DSGS_BATTERY,
    "NYISO-SCR": ("utility.voltage", "nyiso.cbl_method", "utility.electric_service_account_number"),
    "CONED-CSRP": ("nyiso.cbl_method", "utility.electric_service_account_number"),
    "CONED-DLRP": ("nyiso.cbl_method", "utility.electric_service_account_number"),
    "PSEGLI-CSRP": ("nyiso.company_type", "nyiso.cbl_method"),
    "PSEGLI-DLRP": ("nyiso.company_type", "nyiso.cbl_method"),
    "ERCOT-ERS": ("utility.electric_service_account_number",),
    "ONCOR-CLM": ("utility.electric_service_account_number",),
    "MA_DOER-CPS": ("isone.in_connected_solutions",),
    "NATGRID-CS": CONNECTED_SOLUTIONS,
    "EVERSOURCE-CS": CONNECTED_SOLUTIONS,
    "RIE-CS": CONNECTED_SOLUTIONS,
    "UNITIL-CS": CONNECTED_SOLUTIONS,
    "ENERGYHUB-CS": CONNECTED_SOLUTIONS,
}
METER_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "DEVICE": ("device.device_type", "device.device_serial_number"),
    "SUBMETER": ("device.device_serial_number",),
    "UTILITY_METER": ("utility.utility_name",),
}
# Filled from the onboarding form when a file leaves them out.
FROM_FORM = ("transmission_region", "meter_type", "customer.country_code")
SGIP_CUTOFF = date(2023, 6, 30)


def required_fields(region: str, meter_type: str, programs: list[str]) -> list[str]:
    """Fields every asset of this onboarding needs beyond the spec's global ones (ordered)."""
    out: list[str] = list(METER_TYPE_FIELDS.get(meter_type, ()))
    for program in programs:
        out.extend(PROGRAM_FIELDS.get(program, ()))
    return list(dict.fromkeys(out))


def conditional_problems(asset: dict, region: str) -> list[tuple[str, str]]:
    """Requirements that depend on the asset's own values."""
    problems = []
    if region == "CAISO":
        install = (asset.get("device") or {}).get("install_date")
        caiso = asset.get("caiso") or {}
        if (
            isinstance(install, str)
            and install[:10] > SGIP_CUTOFF.isoformat()
            and "is_receiving_sgip_funding" not in caiso
        ):
            problems.append(
                (
                    "caiso.is_receiving_sgip_funding",
                    "required: the battery was installed after 2023-06-30",
                )
            )
    return problems
