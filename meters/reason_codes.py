"""The ReasonCode catalogue we start from: Leap's known action codes and its 14 action types.

Leap publishes no status-code table (nor email templates): the meanings below come from the
descriptions Leap sends with each code and from the action types' names; admins refine them in the
Django admin. Seeding only creates missing rows, so an edited row is never overwritten. Codes the
sync meets that are not here get a row of their own, marked as lacking guidance.
"""

from __future__ import annotations

from typing import Any

LEAP_DOCS = "https://developer.leap.energy/docs/"

_SIGNOFF = "\n\nThank you,\nYour energy programs team"

ACTION_CODES: list[dict[str, Any]] = [
    {
        "code": "AUTH_0001",
        "title": "Customer must re-authorize utility data access",
        "who_acts": "customer",
        "guidance": "The end customer's utility data authorization is missing or expired. Send the "
        "customer a fresh Leap Connect link (with our refId) and ask them to authorize again.",
        "email_subject": "Action needed: please re-connect your utility account",
        "email_body": "Dear {end_customer_name},\n\nTo keep your site at {street_1}, {city} "
        "enrolled in our energy program, we need you to re-authorize access to your "
        "{utility_name} account data. It takes a couple of minutes using the link we will "
        "send you." + _SIGNOFF,
        "link": LEAP_DOCS + "collect-data-authorization",
    },
    {
        "code": "SERV_0002",
        "title": "Missing meter fields",
        "who_acts": "partner",
        "guidance": "Leap lists fields it still needs in the action description. Fill them in "
        "through the create-meters API or the Partner Portal.",
        "link": LEAP_DOCS + "meter-configuration",
    },
    {
        "code": "SERV_0005",
        "title": "Partner must configure meter fields",
        "who_acts": "partner",
        "guidance": "The description names the fields to configure (for example Voltage Group, "
        "CBL Method, Load Zone, End Customer Company Name). Ask the customer where we do not "
        "know them, then update the meter.",
        "email_subject": "A few details needed for your site {street_1}",
        "email_body": "Dear {end_customer_name},\n\nTo finish enrolling your site we need a few "
        "more details: {action_description}\nPlease reply to this email with them." + _SIGNOFF,
        "link": LEAP_DOCS + "meter-configuration",
    },
    {
        "code": "MRKT_0002",
        "title": "Meter must leave another program",
        "who_acts": "customer",
        "guidance": "The meter is enrolled in a conflicting program (the description names it, "
        "e.g. SEP). The customer must dis-enroll from it before Leap can enroll the meter.",
        "email_subject": "Action needed: your account is enrolled in another program",
        "email_body": "Dear {end_customer_name},\n\nYour {utility_name} account "
        "{electric_service_account_number} is enrolled in another demand response program, "
        "which prevents enrolling it with us. Details: {action_description}\nPlease contact "
        "your utility to leave that program, then let us know." + _SIGNOFF,
    },
    {
        "code": "LEAP_0001",
        "title": "Leap is enrolling the meter",
        "who_acts": "leap",
        "guidance": "Leap-side work (enrollment in the program, nominations). Nothing to do; "
        "escalate to Leap only if the deadline is near.",
    },
]

ACTION_TYPES: list[dict[str, Any]] = [
    {
        "code": "IS_AUTHORIZED",
        "title": "Customer authorization",
        "who_acts": "customer",
        "guidance": "The customer must (re)authorize utility data sharing via Leap Connect.",
        "link": LEAP_DOCS + "collect-data-authorization",
    },
    {
        "code": "DOCUMENTS_SIGNED",
        "title": "Documents to sign",
        "who_acts": "customer",
        "guidance": "A customer agreement or program form is not signed yet.",
        "email_subject": "Please sign your program documents",
        "email_body": "Dear {end_customer_name},\n\nA program document for your site at "
        "{street_1}, {city} still needs your signature. We will send it separately." + _SIGNOFF,
    },
    {
        "code": "HAS_AMI",
        "title": "Smart meter needed",
        "who_acts": "customer",
        "guidance": "The site needs an interval (AMI) meter; the customer asks the utility.",
    },
    {
        "code": "NOT_ENROLLED_IN_CONFLICTING_PROGRAM",
        "title": "Conflicting program",
        "who_acts": "customer",
        "guidance": "The customer must leave a conflicting demand response program.",
    },
    {
        "code": "PARTICIPATING",
        "title": "Meter idled or disenrolled",
        "who_acts": "partner",
        "guidance": "Our participation preference idles or disenrolls the meter; set it to "
        "PARTICIPATE if that is not intended.",
    },
    {
        "code": "HAS_MARKET_REGISTRATION",
        "title": "Market registration",
        "who_acts": "leap",
        "guidance": "The ISO/utility registration is missing or pending. For CAISO utility "
        "meters a market-registration refresh can be requested after a fix.",
    },
    {
        "code": "NO_MISSING_FIELDS",
        "title": "Missing fields",
        "who_acts": "partner",
        "guidance": "Supply the meter fields the description lists.",
        "link": LEAP_DOCS + "meter-configuration",
    },
    {
        "code": "GENERATOR",
        "title": "Generator information",
        "who_acts": "partner",
        "guidance": "Generator information or eligibility needs attention.",
    },
    {
        "code": "ADDRESS",
        "title": "Address problem",
        "who_acts": "partner",
        "guidance": "The service address is incomplete or does not match the utility's.",
    },
    {
        "code": "HAS_NOMINATIONS",
        "title": "Nominations",
        "who_acts": "leap",
        "guidance": "Nominations are not set yet (usually Leap's work).",
    },
    {
        "code": "HAS_BIDDING_STRATEGY",
        "title": "Bidding strategy",
        "who_acts": "leap",
        "guidance": "No bidding strategy yet (usually Leap's work).",
    },
    {
        "code": "IS_ELIGIBLE",
        "title": "Eligibility",
        "who_acts": "unknown",
        "guidance": "A general eligibility failure; read Leap's description.",
    },
    {
        "code": "IS_ASSIGNED_TO_A_RESOURCE",
        "title": "Resource assignment",
        "who_acts": "leap",
        "guidance": "Not yet assigned to a market resource (group); Leap assigns it.",
    },
    {
        "code": "MEETS_EXTRA_PROGRAM_REQUIREMENTS",
        "title": "Extra program requirements",
        "who_acts": "partner",
        "guidance": "Program-specific requirements; read Leap's description.",
    },
]


def seed_rows() -> list[dict[str, Any]]:
    """Every seeded row, with its kind."""
    return [{**row, "kind": "action_code"} for row in ACTION_CODES] + [
        {**row, "kind": "action_type"} for row in ACTION_TYPES
    ]


def seed(model: Any) -> int:
    """Create the catalogue rows that do not exist yet; return how many were created."""
    existing = set(model.objects.values_list("code", flat=True))
    rows = [model(**row) for row in seed_rows() if row["code"] not in existing]
    model.objects.bulk_create(rows)
    return len(rows)
