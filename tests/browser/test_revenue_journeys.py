"""Ops staff follow the revenue pages in headless Chromium, at desktop and at phone width (390 px).

The portfolio and its revenue are synced from the Leap simulator first, as the worker would.
Every journey checks that no response was a 5xx, that pushed URLs reload, and that at 390 px
the page itself never scrolls sideways (wide tables scroll inside their own box).
"""

from __future__ import annotations

import csv

import pytest

from meters import tasks as meter_tasks
from meters.models import SyncRun
from revenue import tasks as revenue_tasks
from revenue.models import RevenueSyncRun, UnresponsiveWorkItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1500, "phone": 390}


@pytest.fixture
def synced(leap_sim):
    """Meters and revenue synced from the simulator; the lane's email in the catalogue."""
    from importlib import import_module

    from django.apps import apps

    run = SyncRun.objects.create(kind="full")
    meter_tasks.run_sync.apply(args=[run.pk])
    revenue_run = RevenueSyncRun.objects.create(trigger="test")
    revenue_tasks.run_revenue_sync.apply(args=[revenue_run.pk])
    revenue_run.refresh_from_db()
    assert revenue_run.status == "done", revenue_run.error
    # Transactional tests start without the migrations' data: add the catalogue entry.
    catalogue = import_module("revenue.migrations.0002_unresponsive_meter_email_in_catalogue")
    catalogue.add(apps, None)
    return leap_sim


@pytest.fixture
def server_errors(page):
    """Responses of 500 and above the browser received during the test."""
    errors: list[str] = []
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}") if response.status >= 500 else None
        ),
    )
    return errors


def fits(page, width: int) -> None:
    """At phone width the document does not scroll sideways."""
    if width > 600:
        return
    overflow = page.evaluate("document.documentElement.scrollWidth")
    culprits = page.evaluate(
        """(width) => Array.from(document.querySelectorAll('main *'))
            .filter(e => e.getBoundingClientRect().right > width + 1
                && !e.closest('.table-wrap, .chart-wrap'))
            .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)""",
        width,
    )
    assert overflow <= width + 1, f"the page is {overflow}px wide at {width}px: {culprits}"


@pytest.mark.leap_sim(meters=80, changes_per_hour=0)
@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_viewer_reads_revenue_by_month_breaks_it_down_and_exports_it(
    synced, live_server, page, make_user, login, screenshot, server_errors, width
):
    make_user("viewer", username="vera")
    login(page, "vera")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/revenue/")
    page.wait_for_selector("svg.chart")
    assert page.locator("svg.chart g.bar").count() >= 1
    assert "preliminary" in page.inner_text("main") or "final" in page.inner_text("main")
    fits(page, width)
    page.click("#breakdown .chips >> text=Market group")
    page.wait_for_url("**/revenue/?*by=market_group*")
    page.wait_for_function(
        "document.querySelector('#breakdown h2').textContent.includes('market group')"
    )
    rows = page.locator("#breakdown tbody tr").count()
    assert rows >= 1
    page.reload()  # the pushed URL is a page of its own
    page.wait_for_selector("#breakdown")
    assert page.locator("#breakdown tbody tr").count() == rows
    fits(page, width)
    screenshot(page, f"revenue-overview-{width}")
    with page.expect_download() as download:
        page.click("#breakdown >> text=CSV")
    with open(download.value.path(), newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == rows and "market_group" in exported[0]
    assert server_errors == []


@pytest.mark.leap_sim(meters=80, changes_per_hour=0)
@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_viewer_follows_revenue_at_risk_to_the_meter(
    synced, live_server, page, make_user, login, screenshot, server_errors, width
):
    make_user("viewer", username="vera")
    login(page, "vera")
    page.set_viewport_size({"width": width, "height": 900})
    page.click("nav.mainnav >> text=Revenue")
    page.click("nav.tabs >> text=Revenue at risk")
    page.wait_for_selector("#risk-table")
    shares = page.locator("#risk-table tbody tr td:nth-child(8)").all_inner_texts()
    values = [float(s.rstrip("%")) for s in shares]
    assert values and values == sorted(values, reverse=True)
    fits(page, width)
    screenshot(page, f"revenue-at-risk-{width}")
    page.fill("#risk-table ~ * input[name=q], form.filters input[name=q]", "")
    page.locator("#risk-table tbody tr").first.locator("td:nth-child(2) a").click()
    page.wait_for_selector("#meter-revenue")
    assert "Revenue and responsiveness by month" in page.inner_text("#meter-revenue")
    # The meter page is not ours (its "All fields" grid is wider than a phone): our section fits.
    right = page.evaluate("document.querySelector('#meter-revenue').getBoundingClientRect().right")
    assert width > 600 or right <= width + 1
    assert server_errors == []


@pytest.mark.leap_sim(meters=150, changes_per_hour=0)
@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_an_operator_works_an_unresponsive_meter_from_the_queue_and_records_the_idle(
    synced, live_server, page, make_user, login, screenshot, server_errors, width
):
    make_user("operator", username="otto")
    login(page, "otto")
    page.set_viewport_size({"width": width, "height": 900})
    page.click("nav.mainnav >> text=Action required")
    page.click("nav.tabs >> text=Unresponsive meters")
    page.wait_for_selector("#lane-table")
    assert page.locator("#lane-table tbody tr a.btn").count() >= 1
    fits(page, width)
    screenshot(page, f"revenue-lane-{width}")
    page.select_option("select[name=kind]", "RARELY_RESPONDS")
    page.wait_for_url("**/revenue/unresponsive/?*kind=RARELY_RESPONDS*")
    page.reload()
    page.wait_for_selector("#lane-table")
    page.locator("#lane-table tbody tr a.btn").first.click()
    page.wait_for_selector("#idle-guide")
    assert page.locator("ol.steps li").count() >= 4
    page.click("text=Assign to me")
    page.wait_for_selector("text=Saved.")
    page.check("#idle-guide input[name=confirm]")
    with page.expect_navigation():
        page.click("#idle-guide button[type=submit]")
    page.wait_for_selector("#idle-guide .badge--ok")
    fits(page, width)
    screenshot(page, f"revenue-lane-item-{width}")
    item = UnresponsiveWorkItem.objects.get()
    assert item.state == "idled" and item.idled_by.username == "otto"
    assert item.assignee.username == "otto"
    assert server_errors == []
