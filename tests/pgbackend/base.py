"""PostgreSQL as Django has it, but a flush that empties only the tables that hold rows.

A transactional test (`transactional_db`, `django_db(transaction=True)`, `live_server`) ends with
Django's flush, which on PostgreSQL is one TRUNCATE of every table: each table, its indexes and
its TOAST table get new files, 1 to 1.8 s per test on CI. A test leaves rows in a handful of
tables, and a DELETE of a few rows costs next to nothing, so this flush:

- finds the tables that hold rows (one query of EXISTS probes);
- DELETEs from those with few rows; Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so
  the order does not matter: every referencing row goes in the same transaction;
- TRUNCATEs the tables with many rows (a seeded demo, a large sync), where the DELETE's per-row
  work would cost more, together with every table that references them (TRUNCATE requires it).

What a test sees afterwards is what TRUNCATE left: every table empty, sequences not reset (Django
resets them only for `reset_sequences=True`, which falls back to Django's own TRUNCATE ... RESTART
IDENTITY). There are no DELETE triggers in this schema that TRUNCATE would have skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.backends.postgresql import base, operations

# Above this many rows in a table, TRUNCATE is cheaper than DELETE (a TRUNCATE costs ~10-20 ms
# per table with its indexes; a DELETE with deferred foreign key checks ~10-30 us per row).
TRUNCATE_ABOVE_ROWS = 2000


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(
        self,
        style: Any,
        tables: Iterable[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        tables = list(tables)
        if not tables or reset_sequences:
            return super().sql_flush(
                style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        sizes = self.tables_with_rows(tables)
        big = {table for table, rows in sizes.items() if rows > TRUNCATE_ABOVE_ROWS}
        to_truncate = self._with_referencing(big) & set(tables) if big else set()
        to_delete = [table for table in sizes if table not in to_truncate]
        sql = []
        if to_truncate:
            # First, so no TRUNCATEd table has pending deferred checks from the DELETEs below.
            sql.extend(super().sql_flush(style, sorted(to_truncate), allow_cascade=allow_cascade))
        sql.extend(f"DELETE FROM {self.quote_name(table)};" for table in to_delete)
        return sql

    def tables_with_rows(self, tables: list[str]) -> dict[str, int]:
        """The tables of `tables` that hold rows, each with its row count up to one over the cap."""
        probes = " UNION ALL ".join(
            f"SELECT %s, (SELECT count(*) FROM (SELECT 1 FROM {self.quote_name(table)}"
            f" LIMIT {TRUNCATE_ABOVE_ROWS + 1}) AS capped)"
            for table in tables
        )
        with self.connection.cursor() as cursor:
            cursor.execute(probes, tables)
            return {table: rows for table, rows in cursor.fetchall() if rows}

    def _with_referencing(self, tables: set[str]) -> set[str]:
        """`tables` and every table that references one of them, directly or not."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT referencing.relname, referenced.relname FROM pg_constraint"
                " JOIN pg_class referencing ON referencing.oid = conrelid"
                " JOIN pg_class referenced ON referenced.oid = confrelid"
                " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
            )
            edges = cursor.fetchall()
        found = set(tables)
        while True:
            more = {referencing for referencing, referenced in edges if referenced in found} - found
            if not more:
                return found
            found |= more


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
