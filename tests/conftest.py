"""Fixtures shared by the whole suite, in plugin modules under tests/fixtures/ (listed below).

- Roles: `make_user`, `viewer_client`, `operator_client`, `admin_client_role`.
- Browser (Playwright, headless Debian Chromium): `page` and `live_server` come from the plugins;
  `screenshot(page, name)` saves a PNG into test-artifacts/screenshots/.
- A real Celery worker: `celery_worker` (tests/fixtures/workers.py tells the whole story).
- Leap: `leap_sim` and `resyncs` (tests/fixtures/simulator.py); `embedded_pgdata`
  (tests/fixtures/embedded.py).
"""

from __future__ import annotations

import os

import pytest

# Assertions in the fixture modules get pytest's rewriting, though this module imports them first.
pytest.register_assert_rewrite("tests.fixtures")

# The classes and helpers tests import from here (tests.conftest) live in the plugin modules.
from tests.fixtures.browser import save_screenshot  # noqa: E402
from tests.fixtures.common import IN_CI, REPO, skip_or_fail  # noqa: E402
from tests.fixtures.workers import CeleryWorker, CeleryWorkers, _database_url  # noqa: E402

__all__ = [
    "IN_CI",
    "REPO",
    "CeleryWorker",
    "CeleryWorkers",
    "_database_url",
    "save_screenshot",
    "skip_or_fail",
]

pytest_plugins = [
    "tests.fixtures.browser",
    "tests.fixtures.users",
    "tests.fixtures.workers",
    "tests.fixtures.embedded",
    "tests.fixtures.simulator",
    "tests.fixtures.clock",
]

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
# thread with a running loop unless told otherwise. Tests only, never in settings.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _fresh_mapping_convention():
    """Each test decides the refId = customer id convention from its own data (mapping.flags)."""
    from mapping.flags import forget_convention
    from meters import choices

    forget_convention()
    choices.forget()  # and the filters' stored values from its own meters
    yield
    forget_convention()
    choices.forget()
