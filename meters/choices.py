"""Filter choices of the meter pages: the values we know of, plus every value the sync stored.

Leap adds statuses, load types, regions and programs without notice; the sync stores them as
they come, so a filter offering only a fixed list would refuse them ("Select a valid choice") and
show an empty list and an empty CSV. The stored values are read with DISTINCT queries that scan
the table, so they are kept in the cache for a few minutes (a new value that arrives meanwhile is
still accepted when typed in a URL: `with_value` adds the asked-for value to the choices).
"""

from __future__ import annotations

import re

from django.core.cache import cache
from django.db import connection

from meters.models import EnrollmentStatus, Meter, ProgramEnrollment

CACHE_KEY = "meters:stored-filter-values"
CACHE_SECONDS = 300
# What a Leap enum value, region or program identifier looks like; anything else is refused.
VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def _stored() -> dict[str, list[str]]:
    values = {
        "region": Meter.objects.order_by()
        .exclude(transmission_region__isnull=True)
        .exclude(transmission_region="")
        .values_list("transmission_region", flat=True)
        .distinct(),
        "status": Meter.objects.order_by()
        .exclude(global_enrollment_status__isnull=True)
        .exclude(global_enrollment_status="")
        .values_list("global_enrollment_status", flat=True)
        .distinct(),
        "program": ProgramEnrollment.objects.order_by()
        .exclude(program_identifier="")
        .values_list("program_identifier", flat=True)
        .distinct(),
    }
    found = {name: sorted(str(v) for v in qs) for name, qs in values.items()}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT t FROM "  # noqa: S608 - our own table name, no input
            f"(SELECT load_types FROM {Meter._meta.db_table} "
            " WHERE jsonb_typeof(load_types) = 'array') AS m, "
            "jsonb_array_elements_text(m.load_types) AS t WHERE t <> ''"
        )
        found["load_type"] = sorted(row[0] for row in cursor.fetchall())
    return found


def stored_values() -> dict[str, list[str]]:
    """{filter name: the values the sync stored}, from the cache when it has them."""
    found = cache.get(CACHE_KEY)
    if found is None:
        found = _stored()
        cache.set(CACHE_KEY, found, CACHE_SECONDS)
    return found


def forget() -> None:
    """Read the stored values afresh next time (after a sync, and in tests)."""
    cache.delete(CACHE_KEY)


def merged(known: list[str], stored: list[str]) -> list[str]:
    """The known values in their order, then the new ones Leap sent, sorted."""
    seen = set(known)
    return [*known, *[v for v in stored if v not in seen]]


def with_value(values: list[str], asked: str | None) -> list[str]:
    """The choices, plus a well-formed value the URL asks for that they do not list (yet)."""
    if asked and asked not in values and VALUE.match(asked):
        return [*values, asked]
    return values


KNOWN_STATUSES = list(EnrollmentStatus.values)
