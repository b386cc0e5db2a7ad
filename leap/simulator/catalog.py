"""Static reference data the simulator draws a realistic portfolio from.

Regions, utilities, load zones, cities with real postal codes, programs with their delivery-period
calendars, required-action codes and per-program dispatch values (from Leap's spec examples).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Utility:
    """A utility Leap knows, with where its customers live."""

    code: str
    name: str
    load_zones: tuple[str, ...]
    cities: tuple[tuple[str, str, str], ...]  # (city, state, postal code)
    load_serving_entities: tuple[str, ...]


@dataclass(frozen=True)
class Program:
    """A program: which utilities it needs, and its delivery-period calendar."""

    identifier: str
    period_prefix: str
    # (start month, length in months) of each delivery period in a year, e.g. [(5, 6)] = MAY_OCT.
    periods: tuple[tuple[int, int], ...]
    group_prefix: str
    utilities: tuple[str, ...] = ()  # empty: every utility of the region


@dataclass(frozen=True)
class Region:
    """A transmission region (ISO/RTO) and what lives in it."""

    code: str
    weight: int
    timezone: str
    utilities: tuple[Utility, ...]
    programs: tuple[Program, ...]


MONTHLY = tuple((m, 1) for m in range(1, 13))

REGIONS: tuple[Region, ...] = (
    Region(
        "CAISO",
        34,
        "America/Los_Angeles",
        (
            Utility(
                "PGE",
                "Pacific Gas and Electric",
                ("PGAE", "DLAP_PGAE-APND"),
                (
                    ("San Francisco", "CA", "94103"),
                    ("Oakland", "CA", "94607"),
                    ("San Jose", "CA", "95112"),
                    ("Fresno", "CA", "93721"),
                    ("Santa Rosa", "CA", "95404"),
                    ("Bakersfield", "CA", "93301"),
                ),
                (
                    "PG&E",
                    "Marin Clean Energy",
                    "Peninsula Clean Energy",
                    "East Bay Community Energy",
                ),
            ),
            Utility(
                "SCE",
                "Southern California Edison",
                ("SCE", "DLAP_SCE-APND"),
                (
                    ("Long Beach", "CA", "90802"),
                    ("Irvine", "CA", "92614"),
                    ("Santa Ana", "CA", "92701"),
                    ("Pasadena", "CA", "91101"),
                    ("Ontario", "CA", "91764"),
                ),
                ("SCE", "Clean Power Alliance", "Orange County Power Authority"),
            ),
            Utility(
                "SDGE",
                "San Diego Gas & Electric",
                ("SDGE", "DLAP_SDGE-APND"),
                (
                    ("San Diego", "CA", "92101"),
                    ("Chula Vista", "CA", "91910"),
                    ("Escondido", "CA", "92025"),
                ),
                ("SDG&E", "San Diego Community Power"),
            ),
        ),
        (
            Program("CCA", "CAISO-CCA", MONTHLY, "PGSB"),
            Program("ELRP", "ELRP", ((5, 6),), "ELRP"),
            Program("CEC-DSGS", "CEC-DSGS", ((5, 6),), "DSGS"),
            Program("DRAM", "DRAM", MONTHLY, "DRAM"),
            Program("PGE-CBP", "PGE-CBP", ((5, 6),), "CBP", ("PGE",)),
        ),
    ),
    Region(
        "ERCOT",
        20,
        "America/Chicago",
        (
            Utility(
                "ONCOR",
                "Oncor Electric Delivery",
                ("LZ_NORTH",),
                (
                    ("Dallas", "TX", "75201"),
                    ("Fort Worth", "TX", "76102"),
                    ("Plano", "TX", "75074"),
                ),
                ("TXU Energy", "Reliant Energy", "Green Mountain Energy"),
            ),
            Utility(
                "CENTERPOINT",
                "CenterPoint Energy",
                ("LZ_HOUSTON",),
                (
                    ("Houston", "TX", "77002"),
                    ("Sugar Land", "TX", "77478"),
                    ("Katy", "TX", "77494"),
                ),
                ("Reliant Energy", "Direct Energy", "Gexa Energy"),
            ),
            Utility(
                "AEP_CENTRAL",
                "AEP Texas Central",
                ("LZ_SOUTH",),
                (("Corpus Christi", "TX", "78401"), ("Laredo", "TX", "78040")),
                ("TXU Energy", "Just Energy"),
            ),
            Utility(
                "AEP_NORTH",
                "AEP Texas North",
                ("LZ_WEST",),
                (("Abilene", "TX", "79601"), ("San Angelo", "TX", "76903")),
                ("TXU Energy", "Champion Energy"),
            ),
            Utility(
                "TNMP",
                "Texas-New Mexico Power",
                ("LZ_NORTH", "LZ_HOUSTON"),
                (("League City", "TX", "77573"), ("Lewisville", "TX", "75057")),
                ("Reliant Energy", "Gexa Energy"),
            ),
        ),
        (
            Program("ERCOT-ERS", "ERCOT-ERS", ((2, 4), (6, 4), (10, 4)), "ERS"),
            Program("ONCOR-CLM", "ONCOR-CLM", ((6, 4),), "CLM", ("ONCOR",)),
        ),
    ),
    Region(
        "NYISO",
        14,
        "America/New_York",
        (
            Utility(
                "CECONY",
                "Consolidated Edison",
                ("ZONE_J",),
                (
                    ("New York", "NY", "10001"),
                    ("Brooklyn", "NY", "11201"),
                    ("Bronx", "NY", "10451"),
                ),
                ("Con Edison",),
            ),
            Utility(
                "ORU",
                "Orange and Rockland",
                ("ZONE_G",),
                (("Middletown", "NY", "10940"), ("Nanuet", "NY", "10954")),
                ("Orange and Rockland",),
            ),
            Utility(
                "PSEGLI",
                "PSEG Long Island",
                ("ZONE_K",),
                (("Hempstead", "NY", "11550"), ("Huntington", "NY", "11743")),
                ("PSEG Long Island",),
            ),
            Utility(
                "NYS",
                "NYSEG",
                ("ZONE_C",),
                (("Binghamton", "NY", "13901"), ("Ithaca", "NY", "14850")),
                ("NYSEG",),
            ),
        ),
        (
            Program("NYISO-SCR", "NYISO-SCR", ((5, 6), (11, 6)), "SCR"),
            Program("CONED-CSRP", "CONED-CSRP", ((5, 5),), "CSRP", ("CECONY",)),
            Program("CONED-DLRP", "CONED-DLRP", ((5, 5),), "DLRP", ("CECONY",)),
            Program("PSEGLI-CSRP", "PSEGLI-CSRP", ((5, 5),), "LICSRP", ("PSEGLI",)),
        ),
    ),
    Region(
        "ISONE",
        12,
        "America/New_York",
        (
            Utility(
                "NATGRID",
                "National Grid",
                ("WCMA", "SEMA", "NEMA"),
                (
                    ("Worcester", "MA", "01608"),
                    ("Lowell", "MA", "01852"),
                    ("Brockton", "MA", "02301"),
                ),
                ("National Grid",),
            ),
            Utility(
                "EVERSOURCE",
                "Eversource Energy",
                ("NEMA", "CT"),
                (
                    ("Boston", "MA", "02108"),
                    ("Hartford", "CT", "06103"),
                    ("New Haven", "CT", "06510"),
                ),
                ("Eversource",),
            ),
            Utility(
                "UNITIL",
                "Unitil",
                ("NH", "WCMA"),
                (("Concord", "NH", "03301"), ("Fitchburg", "MA", "01420")),
                ("Unitil",),
            ),
            Utility(
                "RIE",
                "Rhode Island Energy",
                ("RI",),
                (("Providence", "RI", "02903"), ("Warwick", "RI", "02886")),
                ("Rhode Island Energy",),
            ),
        ),
        (
            Program("NATGRID-CS", "NATGRID-CS", ((6, 4),), "NGCS", ("NATGRID",)),
            Program("EVERSOURCE-CS", "EVERSOURCE-CS", ((6, 4),), "EVCS", ("EVERSOURCE",)),
            Program("MA_DOER-CPS", "MA_DOER-CPS", ((1, 12),), "CPS", ("NATGRID", "EVERSOURCE")),
            Program("RIE-CS", "RIE-CS", ((6, 4),), "RICS", ("RIE",)),
            Program("UNITIL-CS", "UNITIL-CS", ((6, 4),), "UNCS", ("UNITIL",)),
        ),
    ),
    Region(
        "PJM",
        12,
        "America/New_York",
        (
            Utility(
                "COMED",
                "Commonwealth Edison",
                ("COMED",),
                (("Chicago", "IL", "60601"), ("Naperville", "IL", "60540")),
                ("ComEd", "Constellation"),
            ),
            Utility(
                "BGE",
                "Baltimore Gas and Electric",
                ("BGE",),
                (("Baltimore", "MD", "21201"), ("Towson", "MD", "21204")),
                ("BGE", "Constellation"),
            ),
            Utility(
                "PECO",
                "PECO Energy",
                ("PECO",),
                (("Philadelphia", "PA", "19103"), ("Norristown", "PA", "19401")),
                ("PECO",),
            ),
            Utility(
                "PSEG",
                "Public Service Electric and Gas",
                ("PSEG",),
                (("Newark", "NJ", "07102"), ("Trenton", "NJ", "08608")),
                ("PSE&G",),
            ),
            Utility(
                "PEPCO",
                "Pepco",
                ("PEPCO",),
                (("Washington", "DC", "20001"), ("Bethesda", "MD", "20814")),
                ("Pepco",),
            ),
            Utility(
                "DOMINION",
                "Dominion Energy",
                ("DOM",),
                (("Richmond", "VA", "23219"), ("Norfolk", "VA", "23510")),
                ("Dominion Energy",),
            ),
        ),
        (Program("PJM-CAPACITY", "PJM-CAPACITY", ((6, 12),), "PJMC"),),
    ),
    Region(
        "SERC",
        4,
        "America/Chicago",
        (
            Utility(
                "NES",
                "Nashville Electric Service",
                ("TVA",),
                (("Nashville", "TN", "37203"),),
                ("NES",),
            ),
            Utility(
                "MLGW",
                "Memphis Light, Gas and Water",
                ("TVA",),
                (("Memphis", "TN", "38103"),),
                ("MLGW",),
            ),
            Utility(
                "KUB",
                "Knoxville Utilities Board",
                ("TVA",),
                (("Knoxville", "TN", "37902"),),
                ("KUB",),
            ),
        ),
        (Program("TVA-RPO", "TVA-RPO", ((1, 12),), "TVA"),),
    ),
    Region(
        "WECC_SW",
        2,
        "America/Phoenix",
        (
            Utility(
                "SRP",
                "Salt River Project",
                ("SRP",),
                (("Phoenix", "AZ", "85004"), ("Tempe", "AZ", "85281"), ("Mesa", "AZ", "85201")),
                ("SRP",),
            ),
        ),
        (Program("SRP-RPO", "SRP-RPO", ((1, 12),), "SRP"),),
    ),
    Region(
        "WECC_PC",
        2,
        "America/Los_Angeles",
        (
            Utility(
                "PSE",
                "Puget Sound Energy",
                ("PSE",),
                (
                    ("Bellevue", "WA", "98004"),
                    ("Olympia", "WA", "98501"),
                    ("Bellingham", "WA", "98225"),
                ),
                ("Puget Sound Energy",),
            ),
        ),
        (Program("PSE-RPO", "PSE-RPO", ((1, 12),), "PSE"),),
    ),
)

REGION_BY_CODE = {region.code: region for region in REGIONS}

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

FIRST_NAMES = (
    "Maria", "James", "Wei", "Aisha", "Carlos", "Priya", "John", "Fatima", "Liam", "Sofia",
    "Noah", "Hana", "Diego", "Olivia", "Mateo", "Grace", "Kenji", "Amara", "Lucas", "Elena",
    "Ethan", "Zoe", "Omar", "Chloe", "Ravi", "Isabel", "Jamal", "Nora", "Andre", "Mei",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Smith", "Chen", "Khan", "Rodriguez", "Patel", "Johnson", "Nguyen", "Williams",
    "Brown", "Kim", "Martinez", "Davis", "Lopez", "Wilson", "Anderson", "Thomas", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "O'Brien",
    "Müller", "Hernández", "Walker",
)  # fmt: skip
COMPANY_WORDS = (
    ("Pacific", "Lone Star", "Empire", "Harbor", "Summit", "Granite", "Prairie", "Bayview",
     "Cascade", "Liberty", "Keystone", "Evergreen", "Sunrise", "Riverside", "Capital"),
    ("Cold Storage", "Logistics", "Foods", "Manufacturing", "Water District", "Realty",
     "Hospitality", "Medical Center", "Data Centers", "Plastics", "Brewing Co.", "Schools",
     "Distribution", "Steel", "Farms"),
)  # fmt: skip
STREET_NAMES = (
    "Main St", "Oak Ave", "Maple Dr", "Market St", "Mission Blvd", "Elm St", "Park Ave",
    "Washington Blvd", "Industrial Pkwy", "Commerce Dr", "Lake Rd", "Cedar Ln", "Hillcrest Rd",
    "Broadway", "Harbor Way", "Sunset Blvd", "Pine St", "River Rd", "Airport Rd", "Center St",
)  # fmt: skip
TITLES = ("Owner", "Facilities Mgr", "Energy Manager", "COO", "Plant Manager", "CFO")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")

# Device kinds, keyed by the load type that usually goes with them.
DEVICES = {
    "BATTERY_STORAGE": ("BATTERY", (("Tesla", "Powerwall 3"), ("Enphase", "IQ Battery 10T"),
                                    ("Franklin", "aPower 2"), ("Fluence", "Gridstack"))),
    "EV_CHARGING": ("EV_CHARGER", (("ChargePoint", "CPF50"), ("Wallbox", "Pulsar Plus"),
                                   ("Enel X", "JuiceBox 48"))),
    "HVAC": ("SMART_THERMOSTAT", (("ecobee", "Smart Thermostat Premium"), ("Google", "Nest Learning"),
                                  ("Honeywell", "T10 Pro"))),
    "GENERATION": ("GENERATOR", (("Generac", "Protector QS"), ("Cummins", "C150D6"),
                                 ("Kohler", "KD800"))),
}  # fmt: skip
INSTALLERS = ("SunPower Services", "Bay Solar Installers", "Lone Star Electric", "Empire Energy")

# Partner required actions: (code, action_type, description). The last two are codes nobody has
# seen before, which the dashboard must still show with Leap's own description.
PARTNER_ACTIONS = (
    ("AUTH_0001", "IS_AUTHORIZED",
     "End customer must re-authorize meter. Learn more in the partner guide."),
    ("SERV_0002", "NO_MISSING_FIELDS", "There are missing fields: Electric Service Account Number"),
    ("SERV_0005", "NO_MISSING_FIELDS",
     "Partner needs configuration for fields: Voltage Group, CBL Method, Load Zone"),
    ("MRKT_0002", "NOT_ENROLLED_IN_CONFLICTING_PROGRAM",
     "Meter is enrolled in a conflicting program: SEP."),
    ("XYZ_0042", "MEETS_EXTRA_PROGRAM_REQUIREMENTS",
     "Program requires a signed site-specific curtailment plan."),
    ("DOCS_0107", "DOCUMENTS_SIGNED", "Customer has not signed the program participation agreement."),
)  # fmt: skip
LEAP_ACTIONS = (
    ("LEAP_0001", "IS_ASSIGNED_TO_A_RESOURCE", "The meter is not enrolled in the program"),
    ("LEAP_0001", "HAS_NOMINATIONS", "This meter does not have nominations set"),
)

# Far-future end-of-participation sentinels Leap really sends for "forever" (its examples).
FOREVER = ("9000-12-31T23:59:59.999999999Z", "9000-01-01T00:00:00Z", "2099-12-31T00:00:00Z")

# Per-program dispatch values (dispatching.yml's integration-test examples): priority,
# is_voluntary, cap, event types, energy as a fraction of nomination (None: energy_kw null,
# "deliver the maximum").
DISPATCH_TEMPLATES: dict[str, tuple[int, bool, str, tuple[str, ...], float | None]] = {
    "CCA": (2, False, "up-to-site-load", ("day-ahead",), 0.8),
    "ELRP": (3, True, "grid-exports-allowed", ("standard",), None),
    "CEC-DSGS": (4, True, "grid-exports-allowed", ("standard",), 1.0),
    "CEC-DSGS-OPTION4": (4, False, "grid-exports-allowed", ("standard",), 1.0),
    "DRAM": (2, False, "up-to-site-load", ("day-ahead",), 0.8),
    "PGE-CBP": (2, False, "up-to-nomination", ("day-ahead",), 1.0),
    "ERCOT-ERS": (1, False, "up-to-nomination", ("standard",), 1.0),
    "ONCOR-CLM": (2, True, "grid-exports-allowed", ("standard",), 1.0),
    "NYISO-SCR": (1, False, "up-to-nomination", ("standard",), 1.0),
    "CONED-CSRP": (3, False, "up-to-nomination", ("standard",), 1.0),
    "CONED-DLRP": (5, False, "up-to-nomination", ("standard",), 1.0),
    "PSEGLI-CSRP": (3, False, "up-to-nomination", ("standard",), 1.0),
    "MA_DOER-CPS": (2, True, "grid-exports-allowed", ("standard",), 1.0),
    "NATGRID-CS": (1, True, "grid-exports-allowed", ("standard",), 1.0),
    "EVERSOURCE-CS": (1, True, "grid-exports-allowed", ("standard",), 1.0),
    "RIE-CS": (1, True, "grid-exports-allowed", ("standard",), 1.0),
    "UNITIL-CS": (1, True, "grid-exports-allowed", ("standard",), 1.0),
    "PJM-CAPACITY": (1, False, "up-to-nomination", ("standard",), 1.0),
    "TVA-RPO": (2, True, "grid-exports-allowed", ("standard",), 1.0),
    "SRP-RPO": (2, True, "grid-exports-allowed", ("standard",), 1.0),
    "PSE-RPO": (2, True, "grid-exports-allowed", ("standard",), 1.0),
}

TAGS = ("pilot", "priority-site", "fleet-2025", "solar+storage", "multi-site", "municipal")
CUSTOMER_GROUPS = (
    "",
    "Residential Fleet A",
    "C&I West",
    "C&I East",
    "Schools Cohort",
    "Agriculture",
)
