"""A person logs in through the form in headless Chromium and lands on the overview."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_viewer_logs_in_through_the_form_and_sees_the_overview(
    live_server, page, make_user, screenshot
):
    make_user("viewer", username="vera")

    page.goto(f"{live_server.url}/")
    # Anonymous: sent to the login page, which keeps where we wanted to go.
    assert "/accounts/login/" in page.url
    screenshot(page, "foundation-login")
    page.fill("#id_username", "vera")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")

    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator(".userbox .who").inner_text() == "vera"
    # htmx and the stylesheet come from our own static files, not a CDN.
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).position") == "sticky"
    path = screenshot(page, "foundation-home")
    assert path.stat().st_size > 1000


@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_is_refused_with_a_message(live_server, page, make_user):
    make_user("viewer", username="vera")

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "vera")
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")

    assert "/accounts/login/" in page.url
    assert "didn't match" in page.locator(".login").inner_text()
