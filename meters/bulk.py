"""Bulk writes for the sync: PostgreSQL COPY into a temporary table, then one INSERT .. SELECT.

Measured (bench/sync.py): Django's bulk_create on PostgreSQL spends most of a page quoting values
into the SQL text (client-side binding, arrays for UNNEST). COPY sends the rows as data, and the
INSERT .. ON CONFLICT from the staging table does the upsert in the server. On other databases
(the SQLite demo) the same call falls back to bulk_create.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import connection, models
from psycopg.types.json import Jsonb


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def write_rows(
    model: type[models.Model],
    rows: list[dict[str, Any]],
    *,
    conflict: list[str] | None = None,
    update: list[str] | None = None,
    ignore_conflicts: bool = False,
) -> int:
    """Insert rows (dicts keyed by attname, all with the same keys); upsert on `conflict`.

    With `update`, a conflicting row gets those columns from the new row; with
    `ignore_conflicts`, it is left alone. Returns the rows written.
    """
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        kwargs: dict[str, Any] = {}
        if update:
            fields = {f.attname: f.name for f in model._meta.concrete_fields}
            kwargs = {
                "update_conflicts": True,
                "unique_fields": [fields.get(c, c) for c in conflict or []],
                "update_fields": [fields.get(c, c) for c in update],
            }
        elif ignore_conflicts:
            kwargs = {"ignore_conflicts": True}
        model.objects.bulk_create([model(**row) for row in rows], batch_size=500, **kwargs)
        return len(rows)

    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    columns = list(rows[0])
    db_columns = [by_attname[c].column for c in columns]
    json_columns = [i for i, c in enumerate(columns) if isinstance(by_attname[c], models.JSONField)]
    table = model._meta.db_table
    digest = hashlib.blake2b(",".join(db_columns).encode(), digest_size=4).hexdigest()
    staging = _quote(f"_stage_{table}_{digest}")
    column_list = ", ".join(_quote(c) for c in db_columns)
    if update:
        assignments = ", ".join(
            f"{_quote(by_attname[c].column)} = EXCLUDED.{_quote(by_attname[c].column)}"
            for c in update
        )
        target = ", ".join(_quote(by_attname[c].column) for c in conflict or [])
        on_conflict = f"ON CONFLICT ({target}) DO UPDATE SET {assignments}"
    elif ignore_conflicts:
        on_conflict = "ON CONFLICT DO NOTHING"
    else:
        on_conflict = ""
    # Names are ours (model metadata), never input.
    create = (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} AS "  # noqa: S608
        f"SELECT {column_list} FROM {_quote(table)} WITH NO DATA"
    )
    insert = (
        f"INSERT INTO {_quote(table)} ({column_list}) "  # noqa: S608
        f"SELECT {column_list} FROM {staging} {on_conflict}"
    )
    with connection.cursor() as cursor:
        cursor.execute(create)
        cursor.execute(f"TRUNCATE {staging}")
        with cursor.copy(f"COPY {staging} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                values = [row[c] for c in columns]
                for i in json_columns:
                    if values[i] is not None:
                        values[i] = Jsonb(values[i])
                copy.write_row(values)
        cursor.execute(insert)
        return cursor.rowcount
