"""The tables every dispatch notification writes carry no index that another one covers.

Each index is one more write per row (a notification writes a delivery and, per timeslot, a
timeslot, a version and an allocation); an index whose columns lead another btree index of the
same table serves no lookup the other cannot (dispatch 0011 dropped five).
"""

from __future__ import annotations

from django.db import connection

from dispatch.models import (
    DispatchAllocation,
    DispatchDelivery,
    DispatchTimeslot,
    DispatchTimeslotVersion,
)

HOT = [DispatchDelivery, DispatchTimeslot, DispatchTimeslotVersion, DispatchAllocation]

# Per index: (name, key columns with their operator classes, unique, partial, access method).
INDEXES = """
SELECT c.relname, i.indkey::int2[], i.indclass::oid[], i.indnkeyatts, i.indisunique,
       i.indpred IS NOT NULL, am.amname
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am am ON am.oid = c.relam
 WHERE i.indrelid = %s::regclass
"""


def _covered(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(INDEXES, [table])
        rows = cursor.fetchall()
    indexes = [
        (name, list(zip(keys[:n], classes[:n], strict=True)), unique, partial, method)
        for name, keys, classes, n, unique, partial, method in rows
    ]
    found = []
    for name, keys, unique, partial, method in indexes:
        if unique or partial or method != "btree":
            continue  # a unique index enforces something; a partial one serves its own rows
        for other, other_keys, _, other_partial, other_method in indexes:
            if other == name or other_partial or other_method != "btree":
                continue
            if len(other_keys) >= len(keys) and other_keys[: len(keys)] == keys:
                found.append(f"{name} (covered by {other})")
    return found


def test_no_index_of_the_notification_path_is_covered_by_another(db):
    covered = {model._meta.db_table: _covered(model._meta.db_table) for model in HOT}
    assert covered == {model._meta.db_table: [] for model in HOT}


def test_the_covering_indexes_serve_the_lookups_the_dropped_ones_did(db):
    lookups = [
        "SELECT id FROM dispatch_dispatchtimeslot WHERE meter_id = %s",
        "SELECT id FROM dispatch_dispatchtimeslot WHERE end_time > now()",
        "SELECT id FROM dispatch_dispatchtimeslotversion WHERE timeslot_id = 1",
        "SELECT id FROM dispatch_dispatchallocation WHERE timeslot_id = 1",
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table: force the choice
        for sql in lookups:
            cursor.execute("EXPLAIN " + sql.replace("%s", "'00000000-0000-0000-0000-000000000000'"))
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "Index" in plan, f"{sql}: {plan}"
