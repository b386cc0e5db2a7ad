"""The test suite's own helpers (tests/conftest.py)."""

from __future__ import annotations

import os
import time

from tests.conftest import CeleryWorkers


def test_worker_logs_older_than_a_day_are_deleted_and_recent_ones_kept(tmp_path):
    old = tmp_path / "worker-111-1.log"
    recent = tmp_path / "worker-222-1.log"  # another session's, running now
    other = tmp_path / "notes.txt"
    for path in (old, recent, other):
        path.write_text("log")
    now = time.time()  # the files' times from Python's clock too (LEAPPORTAL_TEST_CLOCK moves it)
    two_days_ago = now - 2 * 24 * 3600
    os.utime(recent, (now, now))
    os.utime(old, (two_days_ago, two_days_ago))
    os.utime(other, (two_days_ago, two_days_ago))

    CeleryWorkers({}, "q", tmp_path)

    assert not old.exists()
    assert recent.exists() and other.exists()
