"""Dispatch's bulk writes of model instances, by the shared layer (leapportal/bulk.py).

The ingest inserts timeslots (skipping an event id another transaction stored meanwhile) and
their versions; the planner inserts allocations and saves their plan fields. COPY streams the
rows: Django 5.2's bulk_create (UNNEST arrays, escaped by psycopg in Python) and bulk_update
(a CASE per field and row) were a fifth of a notification's processing CPU
(bench/dispatch_cpu.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, cast

from django.db.models import Model

from leapportal import bulk

T = TypeVar("T")


def insert_rows(
    objs: Sequence[T], *, conflict_key: str | None = None, model: type[Model] | None = None
) -> list[T]:
    """Insert these unsaved rows of one model; returns the rows inserted.

    Without `conflict_key`: COPY straight into the table, every row inserted, pks left unset (the
    callers never need them); `objs` may then be stand-ins with the model's attribute names
    (every column's) when `model` is given. With it (a unique column): instances only; those
    whose key is stored are left out (the caller treats them as existing), the others get their
    pks (`bulk.insert_new_objects`).
    """
    if not objs:
        return []
    if conflict_key is None:
        bulk.copy_objects(objs, model=model or _model_of(objs[0]))
        return list(objs)
    # Instances of one model (the shared layer sets their pks): `objs` are what it returns.
    inserted = bulk.insert_new_objects(cast("Sequence[Model]", objs), conflict_key=conflict_key)
    return cast("list[T]", inserted)


def update_rows(
    objs: Sequence[object], fields: Sequence[str], *, model: type[Model] | None = None
) -> None:
    """Save these fields of these (saved) rows of one model in a single UPDATE.

    `objs` may be stand-ins with the model's attribute names when `model` is given.
    """
    if not objs:
        return
    bulk.update_objects(objs, fields, model=model or _model_of(objs[0]))


def _model_of(obj: object) -> type[Model]:
    """The model of an instance (stand-ins need `model=`)."""
    if not isinstance(obj, Model):
        raise TypeError(f"pass model= for rows that are not model instances ({type(obj).__name__})")
    return type(obj)
