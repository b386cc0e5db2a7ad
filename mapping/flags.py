"""What looks wrong about a meter's mapping, for lists, the meter page and the API.

- mismatch: Leap's partner_reference (the Connect refId) is set and differs from our customer id,
  where our convention is that they match (most mapped meters agree): a partner whose refIds
  are their own scheme would otherwise see this warning on every single mapping;
- shared_site: another meter is mapped to the same site while only one is allowed;
- unmapped: a Leap meter with no mapping;
- missing / archived: a mapping whose meter Leap no longer has, or has archived.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from mapping import portfolio
from mapping.models import MappingChange, MeterMapping, SharedSite
from meters.models import Meter

# Whether refId = customer id is our convention: one aggregate, remembered for a short while
# (and forgotten at once by every mapping write), so lists do not pay for it on every request.
CONVENTION_TTL_SECONDS = 60.0
CONVENTION_SAMPLE = 1000
_convention: dict[str, Any] = {}


def reference_convention() -> bool:
    """Whether most mapped meters carry our customer id as Leap's partner_reference."""
    now = time.monotonic()
    if _convention and now - _convention["at"] < CONVENTION_TTL_SECONDS:
        return bool(_convention["value"])
    # A sample decides it (a convention is either kept or not): 1,000 rows cost a millisecond or
    # two, where counting every mapped meter of a 100,000-meter portfolio costs 100-300 ms.
    pairs = list(
        Meter.objects.filter(mapping__isnull=False, partner_reference__gt="")
        .order_by()
        .values_list("partner_reference", "mapping__customer_id")[:CONVENTION_SAMPLE]
    )
    agree = sum(1 for reference, customer in pairs if reference == customer)
    value = bool(pairs) and agree * 2 >= len(pairs)
    _convention.update(value=value, at=now)
    return value


def forget_convention() -> None:
    """Mappings changed: decide the convention afresh on the next look (and count afresh)."""
    _convention.clear()
    _counts.clear()


@dataclass(frozen=True)
class Flag:
    """One finding: a code for filters and the API, words for people, a badge level."""

    code: str
    text: str
    level: str = "warn"


FILTERS = {
    "unmapped": "No mapping",
    "mismatch": "partner_reference ≠ customer id",
    "shared_site": "Several meters on one site",
    "archived": "Meter archived in Leap",
    "missing": "Meter gone from Leap",
}


def annotate_meters(meters: QuerySet[Meter]) -> QuerySet[Meter]:
    """Add what `flags_for` needs (mapping, site occupancy) so a list costs no extra queries."""
    on_site = (
        MeterMapping.objects.filter(site_id=OuterRef("mapping__site_id"))
        .exclude(site_id="")
        .order_by()
        .values("site_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return meters.select_related("mapping").annotate(
        mapping_site_count=Coalesce(Subquery(on_site), Value(0)),
        mapping_site_shared=Exists(SharedSite.objects.filter(site_id=OuterRef("mapping__site_id"))),
    )


def filter_meters(meters: QuerySet[Meter], code: str) -> QuerySet[Meter]:
    """Meters (annotated by annotate_meters) with the given flag; 'missing' is listed elsewhere."""
    mapped = Q(mapping__isnull=False)
    if code == "unmapped":
        return meters.filter(mapping__isnull=True, missing_since__isnull=True)
    if code == "mismatch":
        if not reference_convention():
            return meters.none()
        return meters.filter(mapped, partner_reference__gt="").exclude(
            partner_reference=F("mapping__customer_id")
        )
    if code == "shared_site":
        if not portfolio.one_meter_per_site():
            return meters.none()
        # The two columns annotate_meters added (Q: the type checker knows only the model's).
        return meters.filter(mapped, Q(mapping_site_count__gt=1), Q(mapping_site_shared=False))
    if code == "archived":
        return meters.filter(mapped & portfolio.archived_q())
    return meters


def missing_mappings() -> QuerySet[MeterMapping]:
    """Mappings whose meter Leap no longer has (no Meter row, or the sync marked it missing)."""
    present = Meter.objects.filter(pk=OuterRef("meter_id")).exclude(portfolio.missing_q())
    return MeterMapping.objects.filter(~Exists(present))


def flags_for(
    meter: Meter | None,
    mapping: MeterMapping | None,
    *,
    site_count: int | None = None,
    site_shared: bool = False,
) -> list[Flag]:
    """Every flag of one meter/mapping pair (meter None: Leap no longer has it)."""
    flags = []
    facts = portfolio.facts_of(meter)
    if facts is None or facts.missing:
        if mapping is not None:
            flags.append(Flag("missing", "Leap no longer has this meter", "bad"))
    elif facts.archived and mapping is not None:
        flags.append(Flag("archived", "Leap archived this meter", "info"))
    if mapping is None:
        if facts is not None and not facts.missing:
            flags.append(Flag("unmapped", "not mapped", "warn"))
        return flags
    reference = facts.partner_reference if facts else None
    if reference and reference != mapping.customer_id and reference_convention():
        flags.append(
            Flag("mismatch", f"Leap's partner_reference {reference} ≠ customer id", "warn")
        )
    if (
        mapping.site_id
        and site_count is not None
        and site_count > 1
        and not site_shared
        and portfolio.one_meter_per_site()
    ):
        flags.append(Flag("shared_site", f"{site_count} meters on site {mapping.site_id}", "bad"))
    return flags


def flags_of_meter(meter: Meter) -> list[Flag]:
    """Flags of a Meter, using annotate_meters' values when present (else one query each)."""
    mapping = getattr(meter, "mapping", None) if has_mapping(meter) else None
    count = getattr(meter, "mapping_site_count", None)
    shared = getattr(meter, "mapping_site_shared", False)
    if mapping is not None and mapping.site_id and count is None:
        count = MeterMapping.objects.filter(site_id=mapping.site_id).count()
        shared = SharedSite.objects.filter(site_id=mapping.site_id).exists()
    return flags_for(meter, mapping, site_count=count, site_shared=shared)


def has_mapping(meter: Any) -> bool:
    """Whether the Meter has a MeterMapping (the reverse one-to-one raises when it has none)."""
    try:
        meter.mapping  # noqa: B018 - the reverse one-to-one raises when there is none
    except MeterMapping.DoesNotExist:
        return False
    return True


# The overview's cards: how many meters carry each flag. Counting is a pass over every meter
# (100-300 ms at 100,000 meters), so the counts are remembered, keyed by what mapping writes
# change (every mapping write leaves a MappingChange row; shared sites; the rules), so a mapping
# change made by any process shows at once; what the sync changes on meters (archived, gone,
# partner_reference) shows within COUNTS_TTL_SECONDS, as the refId convention above does.
COUNTS_TTL_SECONDS = 60.0
_counts: dict[str, Any] = {}


def counts() -> dict[str, int]:
    """Meters and mappings, and how many carry each flag of FILTERS (remembered, see above)."""
    now = time.monotonic()
    key = (_mapping_writes(), reference_convention(), portfolio.one_meter_per_site())
    if _counts and _counts["key"] == key and now - _counts["at"] < COUNTS_TTL_SECONDS:
        return dict(_counts["value"])
    value = count_flags()
    _counts.update(key=key, value=value, at=now)
    return dict(value)


def _mapping_writes() -> tuple[Any, ...]:
    """Changes whenever a mapping or a shared site is written (one cheap query)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT max(id) FROM {MappingChange._meta.db_table}),"  # noqa: S608
            f" (SELECT md5(string_agg(site_id, ',' ORDER BY site_id))"
            f" FROM {SharedSite._meta.db_table})"
        )
        return tuple(cursor.fetchone())


def count_flags() -> dict[str, int]:
    """Meters, mappings and each flag's count, in one pass over the meters (three queries).

    Each count equals filter_meters(annotate_meters(...), code).count() (and missing_mappings()
    for "missing"): tests/mapping/test_views.py checks them against each other.
    """
    mapped = Q(mapping__isnull=False)
    wanted: dict[str, Any] = {
        "meters": Count("pk"),
        "present": Count("pk", filter=~portfolio.missing_q()),
        "mapped_present": Count("pk", filter=mapped & ~portfolio.missing_q()),
        "archived": Count("pk", filter=mapped & portfolio.archived_q()),
    }
    if reference_convention():
        wanted["mismatch"] = Count(
            "pk",
            filter=mapped
            & Q(partner_reference__gt="")
            & ~Q(partner_reference=F("mapping__customer_id")),
        )
    found = Meter.objects.aggregate(**wanted)
    mappings = MeterMapping.objects.count()
    shared_site = 0
    if portfolio.one_meter_per_site():
        crowded = (
            MeterMapping.objects.exclude(site_id="")
            .order_by()
            .values("site_id")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .values("site_id")
        )
        shared_site = (
            Meter.objects.filter(mapping__site_id__in=crowded)
            .exclude(mapping__site_id__in=SharedSite.objects.values("site_id"))
            .count()
        )
    return {
        "unmapped": found["present"] - found["mapped_present"],
        "mismatch": found.get("mismatch", 0),
        "shared_site": shared_site,
        "archived": found["archived"],
        # A mapping whose meter is not present: no Meter row, or one the sync marked missing.
        "missing": mappings - found["mapped_present"],
        "meters": found["meters"],
        "mappings": mappings,
    }
