"""Ops staff use the dashboard in headless Chromium: meters, CSV, a meter, the action queue, groups.

Each test saves a screenshot of its page into test-artifacts/screenshots/.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from leapportal.timezones import trade_date
from meters.models import GroupAssignment, MeterEvent
from ops.models import ActionWorkItem
from tests.dashboard.factories import make_action, make_group, make_meter, make_timeslot

LA = ZoneInfo("America/Los_Angeles")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_filter_meters_and_export_exactly_that_view(
    live_server, page, make_user, login, screenshot
):
    make_user("viewer", username="vera")
    for i in range(6):
        make_meter(partner_reference=f"ca-{i}", end_customer_name=f"Orchard {i}")
    make_meter(partner_reference="tx-1", transmission_region="ERCOT", end_customer_name="Ranch")
    make_meter(
        partner_reference="tx-2", transmission_region="ERCOT", global_enrollment_status="PENDING"
    )
    login(page, "vera")

    page.click("nav.mainnav >> text=Meters")
    page.wait_for_selector("#meter-table")
    page.select_option("select[name=region]", "ERCOT")
    page.wait_for_url("**/meters/?*region=ERCOT*")  # hx-push-url: the filter is in the URL
    rows = page.locator("#meter-table tbody tr")
    assert rows.count() == 2
    page.select_option("select[name=status]", "ACTIVE")
    page.wait_for_function("document.querySelectorAll('#meter-table tbody tr').length === 1")
    assert "tx-1" in page.locator("#meter-table tbody").inner_text()
    screenshot(page, "dashboard-meters-filtered")

    with page.expect_download() as download_info:
        page.click("#meter-export")
    path = download_info.value.path()
    with open(path, newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [row["partner_reference"] for row in exported] == ["tx-1"]

    page.go_back()  # the back button restores the previous filter
    page.wait_for_function("document.querySelectorAll('#meter-table tbody tr').length === 2")


def test_open_a_meter_then_work_its_action(live_server, page, make_user, login, screenshot):
    call_command("seed_reason_codes")  # transactional tests start without migrations' data
    make_user("operator", username="olga")
    meter = make_meter(partner_reference="pump-7", end_customer_name="Alice Farm",
                       street_1="1 Orchard Rd", city="Fresno")  # fmt: skip
    action = make_action(meter, deadline=datetime.now(UTC) + timedelta(hours=30))
    make_timeslot(meter=meter, start_time=datetime.now(UTC) + timedelta(hours=5), energy_kw=80)
    login(page, "olga")

    page.goto(f"{live_server.url}/meters/?q=pump")
    page.click("#meter-table >> text=pump-7")
    page.wait_for_url(f"**/meters/{meter.pk}/")
    body = page.locator("main").inner_text()
    assert "Alice Farm" in body and "AUTH_0001" in body and "America/Los_Angeles" in body
    screenshot(page, "dashboard-meter-detail")

    page.click("nav.mainnav >> text=Action required")
    row = page.locator(f"#action-{action.pk}")
    row.locator("text=Work").click()
    page.wait_for_selector(f"#action-{action.pk} .work-panel")
    assert "Dear Alice Farm" in row.inner_text()
    row.locator("button:has-text('Assign to me')").click()
    page.wait_for_selector(f"#action-{action.pk} .work-cell:has-text('olga')")
    row.locator("button:has-text('Contacted')").click()
    page.wait_for_selector(f"#action-{action.pk} .work-cell:has-text('Contacted')")
    screenshot(page, "dashboard-action-worked")
    item = ActionWorkItem.objects.get(action=action)
    assert item.assignee.username == "olga" and item.state == "contacted"
    assert item.history.count() == 2


def test_see_a_group_change(live_server, page, make_user, login, screenshot):
    make_user("viewer", username="vera")
    today = trade_date("CAISO", datetime.now(UTC))
    group = make_group("PGSB_1_PDRP68")
    staying = [make_meter(partner_reference=f"stay-{i}") for i in range(3)]
    mover = make_meter(partner_reference="mover-1")
    for day in range(3):
        for meter in staying:
            GroupAssignment.objects.create(meter=meter, market_group=group,
                                           trade_date=today + timedelta(days=day), source="enrollment")  # fmt: skip
    GroupAssignment.objects.create(
        meter=mover, market_group=group, trade_date=today, source="webhook"
    )
    # What the sync records when it derives this change (the overview reads these events).
    MeterEvent.objects.create(
        meter=mover, kind="group_changing", source="webhook",
        deadline=datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=LA),
        details={"trade_date": str(today + timedelta(days=1)), "from": [str(group.pk)], "to": []},
    )  # fmt: skip
    login(page, "vera")

    assert "PGSB_1_PDRP68" in page.locator("#overview-groups").inner_text()
    page.click("nav.mainnav >> text=Groups")
    row = page.locator(f"#group-{group.pk}")
    assert "is-highlight" in row.get_attribute("class")
    assert "−1" in row.inner_text()
    screenshot(page, "dashboard-groups")
    row.locator("a", has_text="PGSB_1_PDRP68").click()
    page.click("nav.tabs >> text=Next trade day")
    leaving = page.locator("#group-leaving")
    assert "mover-1" in leaving.inner_text()
    screenshot(page, "dashboard-group-change")
