"""Ops staff read a dispatch plan in headless Chromium, on a desktop and on a phone (390 px):
the unknown-meter alert on the overview and its dismissal, the timeline's capacity-test flag, and
an event page with its per-meter plan and step chart."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import apply, incoming
from dispatch.models import UnknownMeterAlert
from leap.schemas import LenientNotification
from tests.dashboard.factories import make_meter
from tests.dispatch.helpers import T0, meter_notification, slot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _apply(payload):
    """Process a notification the way the worker does."""
    notification = LenientNotification.model_validate(payload)
    apply.apply_all(
        incoming.incoming_from_notification(notification),
        source="webhook",
        received_at=timezone.now(),
    )


def _fits(page) -> bool:
    """Nothing wider than the viewport: the page does not scroll sideways."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("width", [1500, 390])
def test_follow_an_alert_and_read_a_plan_with_its_chart(
    live_server, page, make_user, login, screenshot, width, resyncs
):
    make_user("operator", username="olga")
    meter = make_meter(partner_reference="battery-7", battery_max_discharge_rate_kw=6.0)
    long, test, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    _apply(
        meter_notification(
            (meter.pk, [slot(long, priority=3, hours=4, energy_kw=None,
                             performance_compensation_cap="grid-exports-allowed", programs=["ELRP"])]),
            (meter.pk, [slot(test, priority=1, start=T0 + timedelta(hours=1), energy_kw=5.0,
                             dispatch_event_types=["capacity-test"], performance_compensation_cap="up-to-nomination")]),
            (stranger, [slot()]),
        )
    )  # fmt: skip
    login(page, "olga")
    page.set_viewport_size({"width": width, "height": 900})
    page.reload()

    alert = page.locator("#unknown-meter-alerts")
    assert str(stranger) in alert.inner_text()
    assert _fits(page)
    screenshot(page, f"dispatch-overview-alert-{width}")
    alert.locator("button", has_text="Dismiss").click()
    page.wait_for_url(f"{live_server.url}/")
    assert (
        "Every dispatched meter is in our portfolio"
        in page.locator("#unknown-meter-alerts").inner_text()
    )
    assert UnknownMeterAlert.objects.get(meter_uuid=stranger).resolution == "dismissed"

    page.goto(f"{live_server.url}/dispatch/?view=day&date={T0.date().isoformat()}")
    row = page.locator(f"#timeslot-{test}")
    assert "capacity test" in row.inner_text()
    page.locator(f"#timeslot-{long} a").first.click()
    page.wait_for_url(f"{live_server.url}/dispatch/events/{long}/")

    plan = page.locator("#plan")
    text = plan.inner_text()
    assert "6.0" in text and "discharge rate" in text and "may export to the grid" in text
    assert "overruled in part by" in text
    chart = plan.locator("figure.plan-chart svg")
    assert chart.is_visible()
    assert chart.locator("rect").count() == 3  # two intervals of this event, one capacity test
    assert chart.bounding_box()["width"] <= width
    assert _fits(page)
    screenshot(page, f"dispatch-event-plan-{width}")
    page.reload()  # the URL in the address bar reloads
    assert page.locator("figure.plan-chart svg rect").count() == 3
