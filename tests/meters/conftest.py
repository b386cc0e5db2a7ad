"""Helpers for the meter sync tests: run a sync the way the worker does, eagerly."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meters import tasks
from meters.models import SyncRun


@pytest.fixture
def run_sync(db):
    """run_sync("full") -> the finished SyncRun, executed through the task like the worker does."""

    def run(kind: str = "full", **fields) -> SyncRun:
        sync_run = SyncRun.objects.create(kind=kind, **fields)
        tasks.run_sync.apply(args=[sync_run.pk])
        sync_run.refresh_from_db()
        return sync_run

    return run


_WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', re.IGNORECASE)


@pytest.fixture
def portfolio_writes():
    """Context manager collecting the tables written, besides the run's own bookkeeping."""

    class Capture(CaptureQueriesContext):
        @property
        def tables(self) -> list[str]:
            written = []
            for query in self.captured_queries:
                match = _WRITE.match(query["sql"])
                if not match:
                    continue
                table = match.group(2)
                # The run records itself (status, counts, heartbeat) and its temporary seen-set.
                if table == "meters_syncrun" or table.startswith("meters_seen_"):
                    continue
                written.append(table)
            return written

    return lambda: Capture(connection)
