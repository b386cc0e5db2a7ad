"""The CSV import's bulk writes, by the shared layer (leapportal/bulk.py).

A 100,000-line file stores 100,000 preview rows and, when applied, upserts up to 100,000 mappings
and writes as many audit rows. Django's bulk_create spends most of that time building and quoting
parameters in Python; COPY streams the rows (measured in bench/mapping_import.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from leapportal import bulk
from mapping.models import MeterMapping

# COPY rows (values in field order) straight into a model's table: the import's preview rows
# (mapping.imports.ROW_FIELDS) and audit rows (mapping.actions.AUDIT_FIELDS).
copy_rows = bulk.copy_rows

# What an applied import sets of a mapping; the rest of a conflicting row is kept (created_at).
MAPPING_VALUES = ("customer_id", "site_id", "label")
MAPPING_UPDATE = (*MAPPING_VALUES, "updated_at", "updated_by")


def upsert_mappings(
    changes: Iterable[tuple[uuid.UUID, Mapping[str, str]]], *, now: datetime, updated_by: str
) -> int:
    """Create or update MeterMappings from (meter_id, {customer_id, site_id, label}) pairs.

    Runs in the caller's transaction. Returns the pairs written.
    """
    rows = [
        {
            "meter_id": meter_id,
            **{name: values[name] for name in MAPPING_VALUES},
            "created_at": now,
            "updated_at": now,
            "updated_by": updated_by,
        }
        for meter_id, values in changes
    ]
    bulk.write_rows(MeterMapping, rows, conflict=["meter_id"], update=MAPPING_UPDATE)
    return len(rows)
