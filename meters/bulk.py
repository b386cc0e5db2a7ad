"""Bulk writes for the sync: PostgreSQL COPY into a temporary table, then one INSERT .. SELECT.

Measured (bench/sync.py): Django's bulk_create on PostgreSQL spends most of a page quoting values
into the SQL text (client-side binding, arrays for UNNEST). COPY sends the rows as data, and the
INSERT .. ON CONFLICT from the staging table does the upsert in the server.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import psycopg
from django.db import connection, models, transaction


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


class JsonText(str):
    """A JSON value already serialised (e.g. for its content hash): COPY sends the text as is."""

    __slots__ = ()


def dumps(value: Any, *, sort_keys: bool = False) -> JsonText:
    """JSON text of a value, by orjson (about 8x the standard library's speed on Leap payloads).

    orjson refuses what JSON from Leap can still hold after json.loads (an integer beyond 64
    bits); the standard library writes those.
    """
    try:
        return JsonText(
            orjson.dumps(value, default=str, option=_SORTED if sort_keys else 0).decode()
        )
    except (TypeError, orjson.JSONEncodeError):
        return JsonText(json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), default=str))


_SORTED = orjson.OPT_SORT_KEYS


def select(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Rows of one read through a server-side, binary-bound cursor (PostgreSQL only).

    Django's psycopg cursors bind client-side: a page's `meter_id__in` of 500 UUIDs is prepared
    per value by the ORM and quoted into the SQL text in Python (about 9 ms a query, measured in
    bench/sync.py's profile). Bound as one binary uuid[] parameter the same read takes about
    1 ms. Values come back as psycopg loads them: UUIDs, aware datetimes, JSON parsed. Use `%b`
    placeholders.
    """
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


def rows_for(
    model: type[models.Model], fields: Sequence[str], key: str, values: Iterable[Any]
) -> list[tuple]:
    """`fields` (attnames) of the rows whose `key` column is one of `values`, as tuples.

    Read through `select` (one binary array parameter).
    """
    values = list(values)
    if not values:
        return []
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    columns = ", ".join(_quote(by_attname[f].column) for f in fields)
    # Names are ours (model metadata), never input.
    sql = (
        f"SELECT {columns} FROM {_quote(model._meta.db_table)} "  # noqa: S608
        f"WHERE {_quote(by_attname[key].column)} = ANY(%b) ORDER BY {_quote(model._meta.pk.column)}"
    )
    return select(sql, [values])


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
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    columns = list(rows[0])
    column_list = ", ".join(_quote(by_attname[c].column) for c in columns)
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
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        staging = _stage(cursor, model, columns, rows)
        # Names are ours (model metadata), never input.
        cursor.execute(
            f"INSERT INTO {_quote(model._meta.db_table)} ({column_list}) "  # noqa: S608
            f"SELECT {column_list} FROM {staging} {on_conflict}"
        )
        return cursor.rowcount


def update_rows(model: type[models.Model], rows: list[dict[str, Any]], *, key: str) -> int:
    """Update existing rows found by `key` with the other columns of `rows` (same keys each).

    Narrower than an upsert: only the columns given travel and are set, so a page that changes
    one stream's columns of existing meters sends those, not every column of the table.
    Returns the rows updated.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    table = _quote(model._meta.db_table)
    assignments = ", ".join(
        f"{_quote(by_attname[c].column)} = s.{_quote(by_attname[c].column)}"
        for c in columns
        if c != key
    )
    match = f"t.{_quote(by_attname[key].column)} = s.{_quote(by_attname[key].column)}"
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        staging = _stage(cursor, model, columns, rows)
        # Names are ours (model metadata), never input.
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} FROM {staging} AS s WHERE {match}"  # noqa: S608
        )
        return cursor.rowcount


def _stage(cursor: Any, model: type[models.Model], columns: list[str], rows: list[dict]) -> str:
    """COPY dict `rows` into this connection's staging table for these columns; its name."""
    return stage_rows(cursor, model, columns, ([row[c] for c in columns] for row in rows))


def stage_rows(
    cursor: Any, model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> str:
    """COPY `rows` (values in `columns` order, by attname) into a staging table; its quoted name.

    One temporary table per (table, column list) and session, shaped like the model's table:
    its rows go at every commit (ON COMMIT DELETE ROWS empties it in place; a TRUNCATE per page
    made a new file each time), and it is emptied here before use within a transaction. It is
    not remembered in Python: a table created in a transaction that rolled back is gone again,
    so `IF NOT EXISTS` asks the session each time (a catalogue lookup). JSON columns take
    JsonText as it is and anything else through `dumps`. The caller holds the transaction and
    runs the INSERT or UPDATE from the table (meters/writer.py, dispatch/bulk.py).
    """
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    db_columns = [by_attname[c].column for c in columns]
    json_columns = [i for i, c in enumerate(columns) if isinstance(by_attname[c], models.JSONField)]
    table = model._meta.db_table
    digest = hashlib.blake2b(",".join(db_columns).encode(), digest_size=4).hexdigest()
    staging = _quote(f"_stage_{table}_{digest}")
    column_list = ", ".join(_quote(c) for c in db_columns)
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "  # noqa: S608
        f"SELECT {column_list} FROM {_quote(table)} WITH NO DATA"
    )
    cursor.execute(f"DELETE FROM {staging}")  # noqa: S608 - rows of an earlier use in this transaction
    with cursor.copy(f"COPY {staging} ({column_list}) FROM STDIN") as copy:
        for values in rows:
            if json_columns:
                values = list(values)
                for i in json_columns:
                    if values[i] is not None and not isinstance(values[i], JsonText):
                        values[i] = dumps(values[i])
            copy.write_row(values)
    return staging
