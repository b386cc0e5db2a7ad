from __future__ import annotations

from tests.browser.conftest import login  # noqa: F401 - the browser tests' login fixture
