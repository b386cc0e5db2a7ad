"""An operator onboards a file in Chromium: dry run, send, follow live, fix and resubmit,
the funnel; and the same pages at phone width (390 px). The page's own polling shows Leap's
progress, which the beat (run here by the test) reads from the simulator."""

from __future__ import annotations

import re

import pytest

from onboarding import jobs
from onboarding.models import Batch, Job
from tests.onboarding.helpers import csv_bytes, row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fits(page) -> bool:
    """Nothing wider than the viewport (tables scroll inside their own box)."""
    page.wait_for_load_state("load")  # the stylesheets applied
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
    )


def beat_tick():
    Batch.objects.filter(next_poll_at__isnull=False).update(next_poll_at="2000-01-01T00:00:00Z")
    jobs.poll_due()


@pytest.mark.parametrize("width", [1400, 390])
@pytest.mark.leap_sim(changes_per_hour=0)
def test_an_operator_onboards_a_file_and_fixes_the_failed_asset(
    live_server, page, make_user, login, leap_sim, screenshot, width
):
    make_user("operator", username="olga")
    login(page, "olga")
    page.set_viewport_size({"width": width, "height": 900})
    page.get_by_role("link", name="Onboarding").first.click()
    page.wait_for_selector("#upload-form")
    assert fits(page)
    content = csv_bytes([row(1), row(2, **{"customer.postal_code": "00501"}),
                         row(3, customer_classification="HOUSE")])  # fmt: skip
    page.select_option("#upload-form select[name=region]", "CAISO")
    page.select_option("#upload-form select[name=meter_type]", "DEVICE")
    page.set_input_files(
        "#upload-form input[type=file]",
        files=[{"name": "week-49.csv", "mimeType": "text/csv", "buffer": content}],
    )
    page.click("#upload-form button[type=submit]:not([formaction])")

    # The dry run: one error line, two ready; nothing sent yet.
    page.wait_for_selector("#draft-summary")
    assert page.locator("[data-count=error]").inner_text() == "1"
    assert "HOUSE" in page.locator("tr.verdict-error").inner_text()
    assert leap_sim.requests == []
    assert fits(page)
    screenshot(page, f"onboarding-dry-run-{width}")
    page.reload()  # the pushed URL reloads
    page.select_option("select[name=verdict]", "error")
    page.wait_for_url(re.compile(r"verdict=error"))
    assert page.locator("#draft-rows tbody tr").count() == 1

    page.get_by_role("button", name=re.compile(r"Send 2 assets to Leap")).click()
    page.wait_for_selector("#job-live[hx-trigger]")
    assert "Leap is processing" in page.locator("#job-status").inner_text()
    job = Job.objects.get()
    leap_sim.advance(minutes=1)
    beat_tick()  # the beat reads the job; the open page picks it up by itself
    page.wait_for_selector("#job-live:not([hx-trigger])", timeout=15_000)
    assert "done, some assets failed" in page.locator("#job-status").inner_text()
    failed_row = page.locator("#assets tr[data-status=FAILED]")
    assert "Leap could not find this address" in failed_row.inner_text()
    assert failed_row.locator("mark").inner_text() == "customer.postal_code"
    assert fits(page)
    screenshot(page, f"onboarding-job-done-{width}")

    page.select_option("#job-live select[name=status]", "failed")
    page.wait_for_url(re.compile(r"status=failed"))
    page.reload()  # the pushed URL reloads, filtered
    assert page.locator("#assets tbody tr").count() == 1

    page.click("#fix-link")
    assert fits(page)
    page.fill("input[name$='-customer.postal_code']", "94107")
    page.get_by_role("button", name="Check the fixes").click()
    page.wait_for_selector("#draft-summary")
    assert page.locator("[data-count=ok]").inner_text() == "1"
    page.get_by_role("button", name=re.compile(r"Send 1 asset to Leap")).click()
    page.wait_for_selector("#job-live[hx-trigger]")
    second = Job.objects.exclude(pk=job.pk).get()
    assert second.parent_id == job.pk and second.assets.count() == 1
    leap_sim.advance(minutes=1)
    beat_tick()
    page.wait_for_selector("#job-live[data-status=done]", timeout=15_000)
    page.get_by_role("link", name=f"job #{job.pk}").first.click()
    assert "resubmitted in" in page.locator("#assets").inner_text()

    page.get_by_role("link", name="Funnel").click()
    page.wait_for_selector("#funnel-programs")
    assert page.locator("#funnel-total [data-count=created]").inner_text() == "2"
    assert fits(page)
    page.get_by_role("link", name="Stuck meters").click()
    page.wait_for_selector("#stuck-meters")
    assert "No onboarded meter is stuck" in page.locator("#stuck-meters").inner_text()
    assert fits(page)
    screenshot(page, f"onboarding-funnel-{width}")


def test_a_viewer_sees_the_history_but_cannot_onboard(live_server, page, make_user, login):
    make_user("viewer", username="vera")
    login(page, "vera")
    page.goto(f"{live_server.url}/onboarding/")
    assert page.locator("#job-history").is_visible()
    assert page.locator("#upload-form").count() == 0
    response = page.goto(f"{live_server.url}/onboarding/funnel/")
    assert response.status == 200
