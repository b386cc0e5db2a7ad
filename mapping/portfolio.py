"""What the mapping needs to know about Leap's meters (as last synced) and about sites."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Q

from mapping.models import SharedSite
from meters.models import Meter


def archived_q(prefix: str = "") -> Q:
    """Meters Leap archived."""
    return Q(**{f"{prefix}is_archived": True})


def missing_q(prefix: str = "") -> Q:
    """Meter rows the sync marked as no longer returned by Leap (a deleted row is missing too)."""
    return Q(**{f"{prefix}missing_since__isnull": False})


@dataclass(frozen=True)
class MeterFacts:
    """The few facts about one Leap meter the mapping rules use."""

    meter_id: uuid.UUID
    partner_reference: str | None
    archived: bool
    missing: bool


def facts_of(meter: Meter | None) -> MeterFacts | None:
    """MeterFacts of a Meter row (None for no row)."""
    if meter is None:
        return None
    return MeterFacts(
        meter_id=meter.meter_id,
        partner_reference=meter.partner_reference,
        archived=meter.is_archived,
        missing=meter.missing_since is not None,
    )


def load_meter(meter_id: uuid.UUID) -> MeterFacts | None:
    """Facts of one meter, or None if the sync never saw it (or it was deleted)."""
    return facts_of(Meter.objects.filter(pk=meter_id).first())


def load_all_meters() -> dict[uuid.UUID, MeterFacts]:
    """Facts of every meter, in one query (the import checks whole files against them)."""
    rows = Meter.objects.values_list(
        "meter_id", "partner_reference", "is_archived", "missing_since"
    )
    return {
        meter_id: MeterFacts(meter_id, reference, archived, missing_since is not None)
        for meter_id, reference, archived, missing_since in rows.iterator(chunk_size=5000)
    }


def one_meter_per_site() -> bool:
    """The global rule (settings.MAPPING_ONE_METER_PER_SITE)."""
    return bool(settings.MAPPING_ONE_METER_PER_SITE)


def shared_sites() -> set[str]:
    """Sites allowed several meters."""
    return set(SharedSite.objects.values_list("site_id", flat=True))


def site_is_exclusive(site_id: str) -> bool:
    """True when at most one meter may be mapped to this site."""
    if not site_id or not one_meter_per_site():
        return False
    return not SharedSite.objects.filter(site_id=site_id).exists()


def lock_mappings() -> None:
    """Serialise mapping writes for the rest of the transaction.

    The one-meter-per-site rule spans rows, so two concurrent writers could each see the site free.
    Mapping writes are rare, so one transaction-scoped advisory lock is simpler than row locks.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [MAPPING_LOCK_KEY])


MAPPING_LOCK_KEY = 7_000_007  # arbitrary, unique to the mapping app
