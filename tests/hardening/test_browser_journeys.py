"""The pages issue 15 added or changed, in Chromium, at desktop and phone width (390 px)."""

from __future__ import annotations

import uuid

import pytest

from dispatch import inbox
from dispatch.models import DispatchDelivery
from leapportal.models import CalendarToken
from tests.dashboard.factories import make_meter
from tests.dispatch import helpers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [pytest.param(1500, id="desktop"), pytest.param(390, id="phone")]


def fits(page, width: int) -> None:
    """Nothing on the page is wider than the window (tables scroll inside their own box)."""
    overflow = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """(w) => [...document.querySelectorAll('body *')].filter(e => {
            if (e.getBoundingClientRect().right <= w + 1) return false;
            for (let a = e.parentElement; a; a = a.parentElement) {
                if (getComputedStyle(a).overflowX !== 'visible') return false;
            }
            return true;
        }).slice(0, 6).map(e => e.tagName + '#' + e.id + '.' + e.className + ' '
                          + Math.round(e.getBoundingClientRect().right))""",
        width,
    )
    assert overflow <= width + 1, f"page is {overflow}px wide at {width}px: {wide}"


def login(page, live_server, username: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_viewer_creates_and_revokes_their_calendar_feed(
    live_server, page, make_user, screenshot, width
):
    user = make_user("viewer", username="vic")
    login(page, live_server, "vic", width)
    page.goto(f"{live_server.url}/me/")
    page.click("#calendar-feed button[type=submit]")
    feed = page.locator("#calendar-feed-url").inner_text()
    assert page.request.get(feed).status == 200
    fits(page, width)

    page.click("#revoke-calendar-token")
    page.wait_for_url(f"{live_server.url}/me/#calendar-feed")
    assert "was revoked" in page.locator("#calendar-feed-state").inner_text()
    assert page.request.get(feed).status == 404
    page.reload()  # the URL in the address bar reloads
    assert "was revoked" in page.locator("#calendar-feed-state").inner_text()
    fits(page, width)
    screenshot(page, f"calendar-feed-revoked-{width}")
    assert CalendarToken.objects.get(user=user).revoked_at is not None


@pytest.mark.parametrize("width", WIDTHS)
def test_an_operator_processes_a_failed_delivery_again_from_sync_health(
    live_server, page, make_user, screenshot, width, client
):
    make_user("operator", username="ola")
    meter = make_meter()
    event_id = uuid.uuid4()
    body = helpers.meter_notification((meter.pk, [helpers.slot(event_id)]))
    # Stored, then failed (as after its retries); its task never ran.
    delivery_id = DispatchDelivery.objects.create(
        level="meter", body=__import__("json").dumps(body).encode(),
        body_sha256=DispatchDelivery.hash_body(b"x" + str(event_id).encode()),
    ).pk  # fmt: skip
    inbox.mark_failed(delivery_id, "OperationalError: server closed the connection")

    login(page, live_server, "ola", width)
    page.click("nav.mainnav >> text=Sync health")
    row = page.locator(f"#failed-dispatch-{delivery_id}")
    row.wait_for()
    assert "server closed the connection" in row.inner_text()
    fits(page, width)
    screenshot(page, f"sync-health-failed-delivery-{width}")
    row.locator("button", has_text="Process again").click()
    page.wait_for_url(f"{live_server.url}/meters/sync/#failed-deliveries")
    assert "queued to be processed again" in page.locator("#messages").inner_text()
    assert page.locator(f"#failed-dispatch-{delivery_id}").count() == 0
    assert DispatchDelivery.objects.get(pk=delivery_id).status == "processed"
    page.reload()
    assert page.locator(f"#failed-dispatch-{delivery_id}").count() == 0
    fits(page, width)
