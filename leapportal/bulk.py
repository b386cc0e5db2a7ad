"""The bulk layer: many rows in one statement, by PostgreSQL COPY, for every app.

Measured (bench/sync.py, bench/dispatch_cpu.py, bench/mapping_import.py): Django 5.2's
bulk_create on PostgreSQL sends each column as an array (UNNEST) and bulk_update builds a CASE
per field and row; psycopg's client-side binding then quotes every value into the SQL text in
Python. That was most of a sync page's write time and a fifth of a dispatch notification's CPU.
COPY sends the rows as data instead, and the server does the rest.

The primitives (PostgreSQL only; names of models and columns come from model metadata, never
from input):

- `copy_rows` / `copy_objects`: COPY straight into a model's table; every row is inserted.
- `stage_rows`: COPY into a temporary staging table shaped like the model's table, for a
  statement that reads it.
- `write_rows`: insert dict records through the staging table; upsert (ON CONFLICT .. DO UPDATE)
  or skip conflicting rows (ON CONFLICT DO NOTHING).
- `insert_new_objects`: insert unsaved instances, leaving out those whose unique key is already
  stored; the inserted ones get their pks.
- `update_rows` / `update_objects`: UPDATE .. FROM the staging table, matched on a key. (An
  UPDATE .. FROM (VALUES ..) cost more CPU in psycopg's parameter binding than COPY, a new query
  text for every row count, so there is no VALUES variant.)
- `select_binary` / `rows_for`: a read with binary-bound parameters (one uuid[] instead of 500
  quoted literals); `in_bulk`: model instances by primary key, read that way.
- `dumps` / `JsonText`: JSON text by orjson, and a marker for text already serialised.

Values are written as psycopg adapts them in COPY's text format (tabs, newlines and backslashes
escaped by psycopg); a JSON column takes `JsonText` as it is and anything else through `dumps`,
and None stays SQL NULL, as Model.save() stores it. The writes run in the caller's transaction
(or one of their own): the staging tables empty themselves at commit.

Named SQL (a particular query of an app's tables) stays in the app, next to its models; this
module imports nothing from the apps.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import orjson
import psycopg
from django.db import connection, models, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models.fields import AutoFieldMixin

# A row of a read: the values as psycopg loads them (UUIDs, aware datetimes, parsed JSON, lists
# for arrays), typed by the query, not by this module.
Row = tuple[Any, ...]
# Values in column order (a row to write), or a record: values by attribute name.
Values = Sequence[object]
Record = Mapping[str, object]

M = TypeVar("M", bound=models.Model)


class JsonText(str):
    """A JSON value already serialised (e.g. for its content hash): COPY sends the text as is."""

    __slots__ = ()


_SORTED = orjson.OPT_SORT_KEYS
_EMPTY: dict[type, JsonText] = {list: JsonText("[]"), dict: JsonText("{}")}


def dumps(value: object, *, sort_keys: bool = False) -> JsonText:
    """JSON text of a value, by orjson (about 8x the standard library's speed on Leap payloads).

    The many empty lists and dicts of JSON columns need no call at all. orjson refuses what JSON
    from Leap can still hold after json.loads (an integer beyond 64 bits); the standard library
    writes those.
    """
    if type(value) in _EMPTY and not value:
        return _EMPTY[type(value)]
    try:
        return JsonText(
            orjson.dumps(value, default=str, option=_SORTED if sort_keys else 0).decode()
        )
    except (TypeError, orjson.JSONEncodeError):
        return JsonText(json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), default=str))


# --- model metadata ------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model: type[models.Model]) -> str:
    return _quote(model._meta.db_table)


@functools.cache
def _concrete_fields(model: type[models.Model]) -> dict[str, models.Field[Any, Any]]:
    """The model's concrete fields by name and by attname ("meter" and "meter_id")."""
    by_name: dict[str, models.Field[Any, Any]] = {}
    for field in model._meta.concrete_fields:
        by_name[field.name] = by_name[field.attname] = field
    return by_name


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The concrete field `name` (its name or attname) of the model."""
    try:
        return _concrete_fields(model)[name]
    except KeyError:
        raise LookupError(f"{model.__name__} has no concrete field {name!r}") from None


def _pk(model: type[models.Model]) -> models.Field[Any, Any]:
    pk = model._meta.pk
    if pk is None:  # only abstract models have none
        raise LookupError(f"{model.__name__} has no primary key")
    return pk


def _column_name(field: models.Field[Any, Any]) -> str:
    """The column of a concrete field."""
    if field.column is None:  # a field without a column is never concrete
        raise LookupError(f"{field} has no column")
    return field.column


def _column(field: models.Field[Any, Any]) -> str:
    """The quoted column of a concrete field."""
    return _quote(_column_name(field))


def _json_positions(fields: Sequence[models.Field[Any, Any]]) -> list[int]:
    return [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]


def _encoded(rows: Iterable[Values], json_at: Sequence[int]) -> Iterator[Values]:
    """The rows with their JSON cells as JSON text (JsonText as is, None left NULL)."""
    if not json_at:
        yield from rows
        return
    for row in rows:
        values = list(row)
        for i in json_at:
            value = values[i]
            if value is not None and not isinstance(value, JsonText):
                values[i] = dumps(value)
        yield values


def _psycopg(cursor: CursorWrapper) -> psycopg.Cursor[Row]:
    """psycopg's own cursor under Django's wrapper: COPY is psycopg's API, not the DB-API's."""
    raw: psycopg.Cursor[Row] = cursor.cursor
    return raw


# --- COPY ----------------------------------------------------------------------------------------


def copy_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Values]) -> int:
    """COPY rows (values in `fields` order, by field name or attname) into the model's table.

    Every row is inserted (no conflict handling); columns not named take their database default
    (or NULL). Returns the rows written.
    """
    concrete = [_field(model, name) for name in fields]
    column_list = ", ".join(_column(f) for f in concrete)
    count = 0
    with (
        transaction.atomic(savepoint=False),
        connection.cursor() as cursor,
        _psycopg(cursor).copy(f"COPY {_table(model)} ({column_list}) FROM STDIN") as copy,
    ):
        for values in _encoded(rows, _json_positions(concrete)):
            copy.write_row(values)
            count += 1
    return count


def _insert_columns(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """The columns an insert of whole objects writes: every concrete one but an auto primary key
    (the database numbers the rows)."""
    return [f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin)]


def _values_of(
    objs: Iterable[object], fields: Sequence[models.Field[Any, Any]]
) -> Iterator[Values]:
    attnames = [f.attname for f in fields]
    for obj in objs:
        yield [getattr(obj, name) for name in attnames]


def copy_objects(objs: Sequence[object], *, model: type[models.Model]) -> int:
    """COPY these unsaved rows of `model` into its table, every column but an auto primary key.

    `objs` are instances or stand-ins with the model's attribute names (every column's). Their
    pks are left unset. Returns the rows written.
    """
    if not objs:
        return 0
    fields = _insert_columns(model)
    return copy_rows(model, [f.attname for f in fields], _values_of(objs, fields))


def stage_rows(
    cursor: CursorWrapper,
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Values],
) -> str:
    """COPY `rows` (values in `columns` order, by attname) into a staging table; its quoted name.

    One temporary table per (table, column list) and session, shaped like the model's table:
    its rows go at every commit (ON COMMIT DELETE ROWS empties it in place; a TRUNCATE per page
    made a new file each time), and it is emptied here before use within a transaction. It is
    not remembered in Python: a table created in a transaction that rolled back is gone again,
    so `IF NOT EXISTS` asks the session each time (a catalogue lookup). The caller holds the
    transaction and runs the INSERT or UPDATE that reads the table.
    """
    fields = [_field(model, c) for c in columns]
    db_columns = [_column_name(f) for f in fields]
    table = model._meta.db_table
    digest = hashlib.blake2b(",".join(db_columns).encode(), digest_size=4).hexdigest()
    staging = _quote(f"_stage_{table}_{digest}")
    column_list = ", ".join(_quote(c) for c in db_columns)
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "  # noqa: S608
        f"SELECT {column_list} FROM {_quote(table)} WITH NO DATA"
    )
    cursor.execute(f"DELETE FROM {staging}")  # noqa: S608 - rows of an earlier use in this transaction
    with _psycopg(cursor).copy(f"COPY {staging} ({column_list}) FROM STDIN") as copy:
        for values in _encoded(rows, _json_positions(fields)):
            copy.write_row(values)
    return staging


# --- insert and upsert through the staging table -------------------------------------------------


def write_rows(
    model: type[models.Model],
    rows: Sequence[Record],
    *,
    conflict: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
    ignore_conflicts: bool = False,
) -> int:
    """Insert records (attname -> value, all with the same keys); upsert on `conflict`.

    With `update`, a conflicting row gets those columns from the new row (whether or not they
    differ: the callers send only rows that changed); with `ignore_conflicts`, it is left alone;
    with neither, a conflict fails the statement. Returns the rows written.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    column_list = ", ".join(_column(_field(model, c)) for c in columns)
    if update:
        assignments = ", ".join(
            f"{_column(f)} = EXCLUDED.{_column(f)}" for f in (_field(model, c) for c in update)
        )
        target = ", ".join(_column(_field(model, c)) for c in conflict or [])
        on_conflict = f"ON CONFLICT ({target}) DO UPDATE SET {assignments}"
    elif ignore_conflicts:
        on_conflict = "ON CONFLICT DO NOTHING"
    else:
        on_conflict = ""
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        staging = stage_rows(cursor, model, columns, ([row[c] for c in columns] for row in rows))
        cursor.execute(
            f"INSERT INTO {_table(model)} ({column_list}) "  # noqa: S608
            f"SELECT {column_list} FROM {staging} {on_conflict}"
        )
        return int(cursor.rowcount)


def insert_new_objects(objs: Sequence[M], *, conflict_key: str) -> list[M]:
    """Insert these unsaved instances of one model but those whose `conflict_key` is stored.

    COPY into the staging table, then one INSERT .. SELECT .. ON CONFLICT (conflict_key) DO
    NOTHING RETURNING the pk: a row another transaction inserted meanwhile is left out instead
    of failing the statement. Returns the instances inserted, their pks set and marked saved.
    """
    if not objs:
        return []
    model = type(objs[0])
    fields = _insert_columns(model)
    key, pk = _field(model, conflict_key), _pk(model)
    column_list = ", ".join(_column(f) for f in fields)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        staging = stage_rows(cursor, model, [f.attname for f in fields], _values_of(objs, fields))
        cursor.execute(
            f"INSERT INTO {_table(model)} ({column_list}) "  # noqa: S608
            f"SELECT {column_list} FROM {staging} "
            f"ON CONFLICT ({_column(key)}) DO NOTHING RETURNING {_column(pk)}, {_column(key)}"
        )
        ids = {key.to_python(k): i for i, k in cursor.fetchall()}
    inserted = []
    for obj in objs:
        obj_key = getattr(obj, key.attname)
        if obj_key in ids:
            obj.pk = ids[obj_key]
            obj._state.adding, obj._state.db = False, connection.alias
            inserted.append(obj)
    return inserted


# --- update from the staging table ---------------------------------------------------------------


def _update_from(
    cursor: CursorWrapper,
    model: type[models.Model],
    staging: str,
    key: models.Field[Any, Any],
    targets: Sequence[models.Field[Any, Any]],
) -> int:
    assignments = ", ".join(f"{_column(f)} = s.{_column(f)}" for f in targets)
    cursor.execute(
        f"UPDATE {_table(model)} AS t SET {assignments} "  # noqa: S608
        f"FROM {staging} AS s WHERE t.{_column(key)} = s.{_column(key)}"
    )
    return int(cursor.rowcount)


def update_rows(model: type[models.Model], rows: Sequence[Record], *, key: str) -> int:
    """Update existing rows found by `key` with the other columns of `rows` (same keys each).

    Narrower than an upsert: only the columns given travel and are set, so a page that changes
    one stream's columns of existing meters sends those, not every column of the table.
    Returns the rows updated.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    targets = [_field(model, c) for c in columns if c != key]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        staging = stage_rows(cursor, model, columns, ([row[c] for c in columns] for row in rows))
        return _update_from(cursor, model, staging, _field(model, key), targets)


def update_objects(
    objs: Sequence[object], fields: Sequence[str], *, model: type[models.Model]
) -> int:
    """Save these fields (names or attnames) of these saved rows of `model` in one UPDATE.

    `objs` are instances or stand-ins with the model's attribute names (the pk's too). COPY into
    the staging table and one UPDATE .. FROM it, matched on the primary key. Returns the rows
    updated.
    """
    if not objs:
        return 0
    pk = _pk(model)
    targets = [_field(model, name) for name in fields]
    columns = [pk, *targets]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        staging = stage_rows(cursor, model, [f.attname for f in columns], _values_of(objs, columns))
        return _update_from(cursor, model, staging, pk, targets)


# --- unsaved instances ---------------------------------------------------------------------------


@functools.cache
def _blank(model: type[models.Model]) -> tuple[list[Any], list[tuple[int, Any]], dict[str, int]]:
    """Per model: each concrete field's default (None where it is computed per instance), the
    fields whose default is computed (a callable: a new list, the time now), and the position of
    each field by attname."""
    constants: list[Any] = []
    computed: list[tuple[int, Any]] = []
    at: dict[str, int] = {}
    for i, f in enumerate(model._meta.concrete_fields):
        at[f.attname] = i
        if f.has_default() and callable(f.default):
            computed.append((i, f.default))
            constants.append(None)
        else:
            constants.append(f.get_default())
    return constants, computed, at


def unsaved(model: type[M], **values: Any) -> M:
    """`model(**values)`, for code that builds thousands of rows to insert.

    Django's keyword __init__ pops each field from the keywords and computes the default of every
    field not given (ForeignKey.get_default included): for a burst's 100,000 new timeslots
    (bench/mixed_load.py --burst-only) it was 18 % of the dispatch drain's CPU (py-spy). Given
    every field in order, as Model.from_db gives them, __init__ only sets attributes. Values are by
    attname (`meter_id`) or, for a relation, by name with an instance or None (`meter=...`), set
    through the relation as the keyword __init__ sets it; defaults are the fields' own, a callable
    one called per instance as Django calls it.
    """
    constants, computed, at = _blank(model)
    row = list(constants)
    given: set[int] = set()
    related: list[tuple[str, Any]] = []
    for name, value in values.items():
        i = at.get(name)
        if i is None:  # a relation by its name, with an instance or None
            field = cast(models.ForeignKey[Any, Any], _field(model, name))
            i = at[field.attname]
            related.append((name, value))
            value = None if value is None else getattr(value, field.target_field.attname)
        row[i] = value
        given.add(i)
    for i, default in computed:
        if i not in given:
            row[i] = default()
    obj = model(*row)
    for name, value in related:
        setattr(obj, name, value)  # as the keyword __init__ sets it: the id and the cache
    return obj


# --- binary reads --------------------------------------------------------------------------------


def select_binary(sql: str, params: Sequence[object] = ()) -> list[Row]:
    """Rows of one read through a binary-bound psycopg cursor. Use `%b` placeholders.

    Django's psycopg cursors bind client-side: a page's `meter_id__in` of 500 UUIDs is prepared
    per value by the ORM and quoted into the SQL text in Python (about 9 ms a query, measured in
    bench/sync.py's profile). Bound as one binary uuid[] parameter the same read takes about
    1 ms. Values come back as psycopg loads them: UUIDs, aware datetimes, JSON parsed, lists.
    Not in Django's query log.
    """
    connection.ensure_connection()
    cursor: psycopg.Cursor[Row] = psycopg.Cursor(connection.connection)
    with cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


def rows_for(
    model: type[models.Model], fields: Sequence[str], key: str, values: Iterable[object]
) -> list[Row]:
    """`fields` of the rows whose `key` column is one of `values`, as tuples in pk order.

    Read through `select_binary` (one binary array parameter).
    """
    wanted = list(values)
    if not wanted:
        return []
    columns = ", ".join(_column(_field(model, f)) for f in fields)
    sql = (
        f"SELECT {columns} FROM {_table(model)} "  # noqa: S608
        f"WHERE {_column(_field(model, key))} = ANY(%b) ORDER BY {_column(_pk(model))}"
    )
    return select_binary(sql, [wanted])


def in_bulk(
    model: type[M], pks: Iterable[object], fields: Sequence[str] | None = None
) -> dict[Any, M]:
    """`model.objects.only(*fields).in_bulk(pks)` (every field without `fields`), read through
    `select_binary`: {pk: instance}.

    The ORM prepares each key of an `__in` on its own and quotes it into the SQL text: for the
    100,000 meters of a burst's batches (bench/mixed_load.py --burst-only) the dispatch drain
    spent about 8 % of its CPU on that alone (py-spy). Instances are built by Model.from_db, as
    the ORM builds them; fields left out are deferred (read on access, one query each).
    """
    wanted = list(pks)
    if not wanted:
        return {}
    pk = _pk(model)
    chosen = None if fields is None else {pk.attname, *(_field(model, f).attname for f in fields)}
    # In the model's field order: from_db fills the left-out fields in between as deferred.
    names = [
        f.attname for f in model._meta.concrete_fields if chosen is None or f.attname in chosen
    ]
    alias = connection.alias
    found = (model.from_db(alias, names, row) for row in rows_for(model, names, pk.attname, wanted))
    return {obj.pk: obj for obj in found}
