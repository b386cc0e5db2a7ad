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

from tests.pgbackend.copies import copy_rows, restore_sql

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
                copy_rows(connection, COPY_SCHEMA)
                _copied.add(name)
            return
        sql = sql_flush(
            no_style(),
            connection,
            reset_sequences=False,
            allow_cascade=options.get("allow_cascade", False),
        )
        connection.ops.execute_sql_flush(sql + restore_sql(connection, COPY_SCHEMA))
