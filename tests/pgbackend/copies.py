"""Copies of the rows of a test database, kept in a schema of that database, and put back."""

from __future__ import annotations

from typing import Any

from django.core.management.color import no_style


def _tables(connection: Any) -> list[str]:
    return connection.introspection.django_table_names(only_existing=True, include_views=False)


def copy_rows(connection: Any, schema: str) -> None:
    """Copy every table that holds rows into `schema` (made anew)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}")
        for table in connection.ops.tables_with_rows(_tables(connection)):
            cursor.execute(f"CREATE TABLE {schema}.{quote(table)} AS TABLE {quote(table)}")


def restore_sql(connection: Any, schema: str) -> list[str]:
    """INSERTs that put the copy in `schema` back (into empty tables)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        )
        copied = sorted(table for (table,) in cursor.fetchall())
    # Foreign keys are checked at commit, so the order of the INSERTs does not matter.
    return [
        f"INSERT INTO {quote(table)} SELECT * FROM {schema}.{quote(table)};" for table in copied
    ]


def put_back(connection: Any, schema: str) -> None:
    """Empty every table and put the copy in `schema` back (ids included); drop the copy.

    With copy_rows first, for a fixture that commits data for several tests: Django runs the
    rolled-back (`db`) tests first, on what migrate installed, which a flush would take away.
    """
    sql = connection.ops.sql_flush(no_style(), _tables(connection))
    connection.ops.execute_sql_flush(sql + restore_sql(connection, schema))
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA {schema} CASCADE")
