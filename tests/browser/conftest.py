"""Helpers for the dashboard's browser tests: logging in through the form."""

from __future__ import annotations

import pytest


@pytest.fixture
def login(live_server):
    """login(page, username) logs in through the login form (password "pw")."""

    def do(page, username: str) -> None:
        page.set_viewport_size({"width": 1500, "height": 900})
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "pw")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

    return do
