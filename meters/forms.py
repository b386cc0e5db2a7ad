"""GET filter forms of the meter pages; each knows how to apply itself to a queryset."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar, cast

from django import forms
from django.apps import apps
from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, TextField

from leapportal.apps import mapping_installed
from meters import choices
from meters.models import (
    EnrollmentStatus,
    GroupAssignment,
    MarketGroup,
    Meter,
    MeterQuerySet,
    ProgramEnrollment,
)

# A queryset of meters, kept as the same class (a MeterQuerySet stays one) by the helpers below.
_Meters = TypeVar("_Meters", bound=QuerySet[Meter])

REGIONS = ["CAISO", "ERCOT", "NYISO", "ISONE", "PJM", "SERC", "WECC_SW", "WECC_PC"]
METER_TYPES = ["UTILITY_METER", "SUBMETER", "DEVICE"]
LOAD_TYPES = [
    "HVAC", "EV_CHARGING", "BATTERY_STORAGE", "COLD_STORAGE", "PUMPING", "WATER_HEATING",
    "BUILDING_AUTOMATION", "GENERATION", "MANUFACTURING", "LIGHTING", "OTHER",
]  # fmt: skip
# Leap's PublicProgram list (31 programs); a constant, because a DISTINCT over every enrollment
# row would cost more than the page it serves. Unknown programs still match when typed in the URL.
PROGRAMS = [
    "CAISO-CCA-SC_ONLY", "CCA", "CEC-DSGS-OPTION4", "CEC-DSGS", "CONED-CSRP", "CONED-DLRP", "DRAM",
    "ELRP", "ENERGY-ONLY", "ERCOT-ERS", "EVERSOURCE-CS", "MA_DOER-CPS", "NATGRID-CS",
    "NRG-REALTIME", "NRG-RED", "NYISO-SCR", "ONCOR-CLM", "PGE-ART", "PGE-CBP", "PJM-CAPACITY",
    "PSEGLI-CSRP", "PSEGLI-DLRP", "RIE-CS", "UNITIL-CS", "PSE-RPO", "SRP-RPO", "TVA-RPO",
    "CAISO-ELRP-A4", "CEC-DSGS-OPTION2", "ENERGYHUB-CS", "CT_GB-ESS",
]  # fmt: skip


def _choices(values: list[str], blank: str = "Any") -> list[tuple[str, str]]:
    return [("", blank), *[(v, v) for v in values]]


YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]
PRESENCE = [
    ("live", "Present, not archived"),
    ("archived", "Archived"),
    ("missing", "Missing (Leap no longer lists)"),
    ("all", "All"),
]


class MeterFilterForm(forms.Form):
    """Every filter of the meter list; the same form drives the CSV export."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    region = forms.ChoiceField(required=False, choices=_choices(REGIONS))
    status = forms.ChoiceField(required=False, choices=_choices(list(EnrollmentStatus.values)))
    program = forms.ChoiceField(required=False, choices=_choices(PROGRAMS))
    group = forms.TypedChoiceField(required=False, coerce=uuid.UUID, empty_value=None)
    meter_type = forms.ChoiceField(required=False, choices=_choices(METER_TYPES), label="Type")
    load_type = forms.ChoiceField(required=False, choices=_choices(LOAD_TYPES), label="Load")
    action = forms.ChoiceField(required=False, choices=YES_NO, label="Action required")
    mapped = forms.ChoiceField(required=False, choices=YES_NO)
    presence = forms.ChoiceField(required=False, choices=PRESENCE, label="Showing")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not mapping_installed():
            del self.fields["mapped"]
        # Known values plus what the sync stored (Leap adds values without notice).
        stored = choices.stored_values()
        known = {"region": REGIONS, "status": choices.KNOWN_STATUSES, "program": PROGRAMS,
                 "load_type": LOAD_TYPES}  # fmt: skip
        for name, values in known.items():
            offered = choices.merged(values, stored.get(name, []))
            asked = self.data.get(name) if self.is_bound else None
            cast(forms.ChoiceField, self.fields[name]).choices = _choices(
                choices.with_value(offered, asked)
            )
        # A few hundred groups at most: one small query; the select lets people pick by name.
        groups = MarketGroup.objects.order_by("region", "name").values_list("pk", "name", "region")
        cast(forms.ChoiceField, self.fields["group"]).choices = [("", "Any")] + [
            (str(pk), f"{name or pk} ({region or '?'})") for pk, name, region in groups
        ]

    def apply(self, queryset: QuerySet[Meter]) -> QuerySet[Meter]:
        """Narrow `queryset` by the cleaned filters (call after is_valid())."""
        # Meter's querysets are MeterQuerySets (Meter.objects): the named filters are its methods.
        meters = cast(MeterQuerySet, queryset)
        data = self.cleaned_data
        presence = data.get("presence") or "live"
        if presence == "live":
            meters = meters.live()
        elif presence == "archived":
            meters = meters.archived()
        elif presence == "missing":
            meters = meters.missing()
        if data.get("q"):
            meters = search(meters, data["q"])
        if data.get("region"):
            meters = meters.in_region(data["region"])
        if data.get("status"):
            meters = meters.with_status(data["status"])
        if data.get("program"):
            meters = meters.filter(
                Exists(
                    ProgramEnrollment.objects.filter(
                        meter=OuterRef("pk"), program_identifier=data["program"]
                    )
                )
            )
        if data.get("group"):
            # The group's meters (assigned on any day, or enrolled through it) as one set the
            # planner joins to: two EXISTS joined by OR were checked on every meter of the table,
            # for the page and again for its count (~100 ms at 100,000 meters).
            members = (
                GroupAssignment.objects.filter(market_group_id=data["group"])
                .values("meter_id")
                .union(
                    ProgramEnrollment.objects.filter(market_group_id=data["group"]).values(
                        "meter_id"
                    )
                )
            )
            meters = meters.filter(pk__in=members)
        if data.get("meter_type"):
            meters = meters.filter(meter_type=data["meter_type"])
        if data.get("load_type"):
            meters = meters.filter(load_types__contains=[data["load_type"]])
        if data.get("action"):
            meters = meters.filter(action_required=data["action"] == "yes")
        if data.get("mapped"):
            meters = filter_mapped(meters, data["mapped"] == "yes")
        return meters


# Leap's identifiers and the customer's name, company and address, as people type them.
SEARCH_FIELDS = (
    "partner_reference",
    "end_customer_name",
    "end_customer_company_name",
    "street_1",
    "city",
    "postal_code",
    "end_customer_email",
    "electric_service_account_number",  # the utility account number on the customer's bill
)


# The searched fields as one text, a line each: what the trigram index meter_search_trgm
# (meters migration 0011) holds, upper-cased, so that a search is one index lookup instead of eight
# substring tests on every meter (a term that matches nothing read the whole table).
SEARCH_SEPARATOR = "\n"


class SearchDocument(Func):
    """COALESCE(field, '') of each SEARCH_FIELDS, joined by a newline (the index's expression)."""

    arg_joiner = " || E'\\n' || "
    template = "(%(expressions)s)"
    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(
            *(Func(F(name), template="COALESCE(%(expressions)s, '')") for name in SEARCH_FIELDS)
        )


def search(meters: _Meters, text: str) -> _Meters:
    """Meter id, partner_reference, our customer or site id, customer name or address."""
    text = text.strip()
    if not text:
        return meters
    try:
        return meters.filter(meter_id=uuid.UUID(text))  # a meter id is exact: no scan needed
    except ValueError:
        pass
    if SEARCH_SEPARATOR in text:
        # Could match across two fields of the joined text: test each field on its own.
        match = Q()
        for field in SEARCH_FIELDS:
            match |= Q(**{f"{field}__icontains": text})
    else:
        # A field contains the text exactly when the joined fields do (the text has no newline).
        meters = meters.alias(search_document=SearchDocument())
        match = Q(search_document__icontains=text)
    if mapping_installed():
        # Our ids match exactly, through their own index; read first, so that the OR is of two
        # index lookups (a sub-select in the OR would make PostgreSQL test every meter).
        mapping = apps.get_model("mapping", "MeterMapping")
        ours = list(
            mapping.objects.filter(Q(customer_id=text) | Q(site_id=text)).values_list(
                "meter_id", flat=True
            )
        )
        if ours:
            match |= Q(meter_id__in=ours)
    return meters.filter(match)


def filter_mapped(meters: _Meters, mapped: bool) -> _Meters:
    """Meters with (or without) our customer/site mapping."""
    return meters.filter(mapping__isnull=not mapped)
