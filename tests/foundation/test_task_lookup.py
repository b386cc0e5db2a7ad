"""The enqueue modules name their tasks (leapportal/task_lookup.py): every name is a real task."""

from __future__ import annotations

import re

from leapportal.task_lookup import task
from tests.conftest import REPO

NAMED = re.compile(r'\btask\("([\w.]+)"\)')


def test_every_task_an_enqueue_module_names_is_registered_under_that_name():
    names = {name for path in REPO.glob("*/enqueue.py") for name in NAMED.findall(path.read_text())}
    assert {"meters.tasks.run_sync", "revenue.tasks.run_revenue_sync"} <= names
    for name in sorted(names):
        assert task(name).name == name
