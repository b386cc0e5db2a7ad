"""Writes of many rows in one statement, cheaper in CPU than Django's bulk_create / bulk_update.

Django 5.2's bulk_create on PostgreSQL sends each column as an array (UNNEST), and psycopg's
client-side binding escapes every element of those arrays in Python: for the timeslots, their
versions and allocations (JSON columns) that was a fifth of a notification's processing CPU.
COPY streams the rows instead, through the staging tables of meters.bulk.stage_rows (one
implementation for both apps; mapping/bulk.py keeps its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Model
from psycopg import sql

from meters.bulk import JsonText, dumps, stage_rows


def _columns(model: type[Model]) -> list[models.Field]:
    """The concrete columns a COPY writes: all but the auto primary key."""
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _row(obj: Any, fields: list[models.Field], is_json: list[bool]) -> list[Any]:
    """The attribute values as COPY takes them: JSON columns as JSON text, the rest as they are."""
    return [
        _json(getattr(obj, f.attname)) if j else getattr(obj, f.attname)
        for f, j in zip(fields, is_json, strict=True)
    ]


_EMPTY: dict[type, JsonText] = {list: JsonText("[]"), dict: JsonText("{}")}


def _json(value: Any) -> JsonText:
    """A JSON column's value as JSON text (jsonb: spacing and key order are not kept anyway).

    By orjson (meters.bulk.dumps), and the many empty lists and dicts without a call at all:
    the standard library's json.dumps of every JSON cell was a tenth of processing.
    """
    if not value and type(value) in _EMPTY:
        return _EMPTY[type(value)]
    return dumps(value)


def insert_rows(
    objs: Sequence[Any], *, conflict_key: str | None = None, model: type[Model] | None = None
) -> list[Any]:
    """Insert these unsaved rows of one model; returns the rows inserted, with their pks set.

    `objs` may be stand-ins with the model's attribute names (every column's) when `model` is
    given and there is no `conflict_key`.

    Without `conflict_key`: COPY straight into the table, every row inserted (pks left unset:
    the callers never need them). With it (a unique column): COPY into a temporary table, then
    one INSERT .. SELECT .. ON CONFLICT (conflict_key) DO NOTHING RETURNING the pk, so a row that
    another transaction inserted meanwhile is left out instead of failing the statement; the
    caller treats those as existing.
    """
    if not objs:
        return []
    model = model or type(objs[0])
    fields = _columns(model)
    is_json = [isinstance(f, models.JSONField) for f in fields]
    cols = sql.SQL(", ").join(sql.Identifier(f.column) for f in fields)
    table = sql.Identifier(model._meta.db_table)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY is not in the DB-API
        if conflict_key is None:
            with raw.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, cols)) as copy:
                for obj in objs:
                    copy.write_row(_row(obj, fields, is_json))
            return list(objs)
        # The meters sync's staging tables (one per column list and session, emptied at commit).
        staging = sql.SQL(
            stage_rows(
                cursor,
                model,
                [f.attname for f in fields],
                (_row(obj, fields, is_json) for obj in objs),
            )
        )
        key = model._meta.get_field(conflict_key)
        pk = model._meta.pk
        raw.execute(
            sql.SQL(
                "INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging} "
                "ON CONFLICT ({key}) DO NOTHING RETURNING {pk}, {key}"
            ).format(
                table=table,
                cols=cols,
                staging=staging,
                key=sql.Identifier(key.column),
                pk=sql.Identifier(pk.column),
            )
        )
        ids = {key.to_python(k): i for i, k in raw.fetchall()}
    inserted = []
    for obj in objs:
        obj_key = getattr(obj, key.attname)
        if obj_key in ids:
            obj.pk = ids[obj_key]
            obj._state.adding, obj._state.db = False, connection.alias
            inserted.append(obj)
    return inserted


def update_rows(
    objs: Sequence[Any], fields: Sequence[str], *, model: type[Model] | None = None
) -> None:
    """Save these fields of these (saved) rows of one model in a single UPDATE.

    `objs` may be stand-ins with the model's attribute names when `model` is given.

    COPY into a temporary staging table and one UPDATE .. FROM it: bulk_update builds a CASE
    expression per field and row, and even an UPDATE .. FROM (VALUES ..) spent more CPU
    converting its parameters (psycopg's client-side binding, a new query text for every row
    count) than the rest of planning.
    """
    if not objs:
        return
    model = model or type(objs[0])
    pk = model._meta.pk
    targets = [model._meta.get_field(name) for name in fields]
    cols = [pk, *targets]
    is_json = [isinstance(f, models.JSONField) for f in cols]
    table = sql.Identifier(model._meta.db_table)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for the composed UPDATE
        # The meters sync's staging tables (one per column list and session, emptied at commit).
        staging = sql.SQL(
            stage_rows(
                cursor, model, [f.attname for f in cols], (_row(obj, cols, is_json) for obj in objs)
            )
        )
        raw.execute(
            sql.SQL("UPDATE {} AS t SET {} FROM {} AS v WHERE t.{} = v.{}").format(
                table,
                sql.SQL(", ").join(
                    sql.SQL("{} = v.{}").format(sql.Identifier(f.column), sql.Identifier(f.column))
                    for f in targets
                ),
                staging,
                sql.Identifier(pk.column),
                sql.Identifier(pk.column),
            )
        )
