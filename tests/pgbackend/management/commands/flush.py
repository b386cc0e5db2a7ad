"""Django's flush, with what post_migrate writes put back from a copy instead of re-created.

After a flush, Django sends post_migrate so that its receivers re-create what migrate had made:
the content types, the permissions, our role groups (leapportal.roles) and the beat schedule
(leapportal.schedules). That is ~0.5 s of ORM work after every transactional test. The first flush
of a test database in a process runs as Django's and then copies every table that holds rows
(only what post_migrate wrote is left) into the schema COPY_SCHEMA of the test database; every
later flush DELETEs (tests/pgbackend/base.py) and INSERTs the copy back in one transaction and
sends no signal. The tables end as post_migrate leaves them, with the same ids every time.

Any flush Django's tests would run differently (interactive, reset_sequences=True,
inhibit_post_migrate=True for available_apps) is Django's own.
"""

from __future__ import annotations

from typing import Any

from django.core.management.color import no_style
from django.core.management.commands import flush
from django.core.management.sql import sql_flush
from django.db import connections

COPY_SCHEMA = "pgbackend_post_migrate"
# The test databases (by name) whose copy this process made; a new process makes its own.
_copied: set[str] = set()


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        own = not (
            options["interactive"]
            or options.get("reset_sequences", True)
            or options.get("inhibit_post_migrate", False)
        )
        name = connection.settings_dict["NAME"]
        if not own or name not in _copied:
            super().handle(**options)
            if own:
                _copy_post_migrate_rows(connection)
                _copied.add(name)
            return
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                [COPY_SCHEMA],
            )
            copied = sorted(table for (table,) in cursor.fetchall())
        sql = sql_flush(
            no_style(),
            connection,
            reset_sequences=False,
            allow_cascade=options.get("allow_cascade", False),
        )
        # Foreign keys are checked at commit, so the order of the INSERTs does not matter.
        sql.extend(
            f"INSERT INTO {quote(table)} SELECT * FROM {COPY_SCHEMA}.{quote(table)};"
            for table in copied
        )
        connection.ops.execute_sql_flush(sql)


def _copy_post_migrate_rows(connection: Any) -> None:
    """Copy each table that holds rows right after a flush and post_migrate into COPY_SCHEMA."""
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {COPY_SCHEMA} CASCADE")
        cursor.execute(f"CREATE SCHEMA {COPY_SCHEMA}")
        for table in connection.ops.tables_with_rows(tables):
            cursor.execute(f"CREATE TABLE {COPY_SCHEMA}.{quote(table)} AS TABLE {quote(table)}")
