"""Helpers for the revenue tests: run a revenue sync the way the worker does, eagerly."""

from __future__ import annotations

import pytest

from revenue import tasks
from revenue.models import RevenueSyncRun


@pytest.fixture
def run_revenue_sync(db):
    """run_revenue_sync() -> the finished RevenueSyncRun, executed through the task."""

    def run(**fields) -> RevenueSyncRun:
        sync_run = RevenueSyncRun.objects.create(trigger="test", **fields)
        tasks.run_revenue_sync.apply(args=[sync_run.pk])
        sync_run.refresh_from_db()
        return sync_run

    return run
