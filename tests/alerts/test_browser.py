"""People use alerts and customer outreach in headless Chromium, at desktop and at phone width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from alerts import evaluate
from alerts.models import Alert, OutboundMessage
from ops.models import ActionWorkItem
from tests.alerts.test_evaluate import fresh_runs
from tests.dashboard.factories import make_action, make_meter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}


def fits(page) -> bool:
    """The page's content needs no sideways scrolling (wide tables scroll inside their own box).

    The top bar is left out: at 390 px an admin's user box (environment, name, Admin, Log out)
    is wider than the screen on every page, which is the shared layout's business.
    """
    return page.evaluate(
        """() => { const main = document.querySelector('main');
                   return main.scrollWidth <= main.clientWidth + 1
                       && main.getBoundingClientRect().right <= window.innerWidth + 1; }"""
    )


@pytest.mark.parametrize("size", SIZES)
def test_an_operator_filters_acknowledges_and_reloads_alerts(
    live_server, page, make_user, login, screenshot, size
):
    now = datetime.now(UTC)
    fresh_runs(now)
    make_user("operator", username="olga")
    make_action(make_meter(partner_reference="late-1"), deadline=now - timedelta(hours=2))
    make_meter(partner_reference="gone-1", missing_since=now)
    evaluate.evaluate(now)
    overdue = Alert.objects.get(kind="overdue")
    login(page, "olga")
    page.set_viewport_size(SIZES[size])

    badge = page.locator("nav.mainnav .badge--nav")
    assert badge.inner_text() == "3"
    page.click("nav.mainnav >> text=Alerts")
    page.wait_for_selector("#alert-table")
    page.select_option("#alert-filters select[name=kind]", "overdue")
    page.wait_for_url("**/alerts/?*kind=overdue*")
    page.wait_for_function("document.querySelectorAll('#alert-table tbody.alert-row').length === 1")
    assert fits(page)
    screenshot(page, f"alerts-filtered-{size}")

    page.locator(f"#alert-{overdue.pk} button[value=acknowledge]").click()
    page.wait_for_selector(f"#alert-{overdue.pk}:has-text('Acknowledged')")
    page.reload()  # the pushed URL reloads to the same view
    assert "Acknowledged" in page.locator(f"#alert-{overdue.pk}").inner_text()
    assert page.locator("nav.mainnav .badge--nav").inner_text() == "2"

    page.click(f"#alert-{overdue.pk} >> text=Overdue: AUTH_0001 on late-1")
    page.wait_for_url(f"**/alerts/{overdue.pk}/")
    assert "olga" in page.locator("#alert-history").inner_text()
    assert fits(page)
    page.click("text=Look at the cause")
    page.wait_for_url(f"**/actions/{overdue.action_id}/")
    screenshot(page, f"alerts-detail-cause-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_an_operator_previews_edits_and_sends_the_customer_email_from_the_work_panel(
    live_server, page, make_user, login, screenshot, size, smtp_server
):
    call_command("seed_reason_codes", verbosity=0)
    make_user("operator", username="olga")
    meter = make_meter(partner_reference="pump-7", end_customer_name="Alice Farm",
                       end_customer_email="alice@farm.example")  # fmt: skip
    action = make_action(meter, deadline=datetime.now(UTC) + timedelta(hours=30))
    login(page, "olga")
    page.set_viewport_size(SIZES[size])

    page.click("nav.mainnav >> text=Action required")
    row = page.locator(f"#action-{action.pk}")
    row.locator("text=Work").click()
    page.wait_for_selector(f"#action-{action.pk} .work-panel")
    assert row.locator("a:has-text('Open in mail app')").count() == 1  # the mailto link stays
    page.click(f"#compose-{action.pk}")
    body = page.locator(f"#outreach-{action.pk} textarea[name=body]")
    body.wait_for()
    assert "Dear Alice Farm" in body.input_value()
    body.fill(body.input_value() + "\n\nP.S. I can call you on Tuesday.")
    assert fits(page)
    screenshot(page, f"outreach-compose-{size}")
    page.click(f"#outreach-{action.pk} button:has-text('Send')")
    page.wait_for_selector(f"#outreach-{action.pk} :text('Sent')")

    (email,) = smtp_server.wait_for(1)
    assert email["To"] == "alice@farm.example"
    assert "P.S. I can call you on Tuesday." in smtp_server.bodies()[0]
    assert ActionWorkItem.objects.get(action=action).state == "contacted"
    assert OutboundMessage.objects.get().created_by.username == "olga"
    page.reload()
    screenshot(page, f"outreach-sent-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_an_admin_edits_a_template_sees_the_error_then_the_preview(
    live_server, page, make_user, login, screenshot, size
):
    call_command("seed_reason_codes", verbosity=0)
    make_user("admin", username="adele")
    make_action(make_meter(partner_reference="pv-3", end_customer_name="Grace Hopper"))
    login(page, "adele")
    page.set_viewport_size(SIZES[size])
    page.goto(f"{live_server.url}/outreach/templates/")
    page.locator("#template-table tr:has-text('AUTH_0001') >> text=Edit").click()
    page.wait_for_url("**/outreach/templates/AUTH_0001/")
    assert "{end_customer_name}" in page.locator("#template-fields").inner_text()

    page.fill("textarea[name=email_body]", "Hello {first_name}")
    page.click("button[name=save]")
    assert "unknown field {first_name}" in page.locator("#template-errors").inner_text()
    page.fill("textarea[name=email_body]", "Hello {end_customer_name} of {partner_reference}")
    page.click("button[name=preview]")
    assert "Hello Grace Hopper of pv-3" in page.locator("#template-preview").inner_text()
    assert fits(page)
    screenshot(page, f"outreach-template-{size}")
    page.click("button[name=save]")
    page.wait_for_selector("text=The email of AUTH_0001 was saved.")


@pytest.mark.parametrize("size", SIZES)
def test_a_viewer_sets_up_notifications(live_server, page, make_user, login, screenshot, size):
    make_user("viewer", username="vera", email="vera@ops.example")
    login(page, "vera")
    page.set_viewport_size(SIZES[size])
    page.click("nav.mainnav >> text=Alerts")
    page.click("text=My notifications")
    page.check("input[name=email_enabled]")
    page.select_option("select[name=mode]", "daily")
    page.select_option("select[name=time_zone]", "Europe/Berlin")
    page.check("input[value=overdue]")
    assert fits(page)
    screenshot(page, f"notification-settings-{size}")
    page.click("#notification-prefs button[type=submit]")
    page.wait_for_selector("text=Notification settings saved.")
    page.reload()
    assert page.locator("select[name=time_zone]").input_value() == "Europe/Berlin"


@pytest.mark.parametrize("size", SIZES)
def test_an_operator_emails_every_customer_of_one_code(
    live_server, page, make_user, login, screenshot, size, smtp_server
):
    call_command("seed_reason_codes", verbosity=0)
    make_user("operator", username="olga")
    now = datetime.now(UTC)
    for i in range(3):
        make_action(make_meter(partner_reference=f"bulk-{i}", end_customer_name=f"Farm {i}"),
                    deadline=now + timedelta(days=i + 1))  # fmt: skip
    make_action(make_meter(partner_reference="bulk-bad", end_customer_email="not-an-address"))
    login(page, "olga")
    page.set_viewport_size(SIZES[size])

    page.goto(f"{live_server.url}/actions/?code=AUTH_0001")
    page.click("#actions-send-all")
    page.wait_for_url("**/outreach/send-all?*code=AUTH_0001*")
    assert page.locator("#sendable-count").inner_text() == "3"
    assert "Dear Farm 0" in page.locator("#send-all-preview").inner_text()  # the first by deadline
    page.fill("#send-all-form textarea[name=body]", "Hello {end_customer_name}, please act.")
    page.click("text=Update the preview")
    page.wait_for_selector("#send-all-preview :text('Hello Farm 0, please act.')")
    page.reload()  # the preview's URL reloads
    assert "Hello Farm 0, please act." in page.locator("#send-all-preview").inner_text()
    assert fits(page)
    screenshot(page, f"outreach-send-all-{size}")
    page.click("#send-all-form button[name=send]")
    page.wait_for_selector("text=3 emails queued; 1 refused (invalid address)")
    emails = smtp_server.wait_for(3)
    assert sorted(smtp_server.bodies()) == [f"Hello Farm {i}, please act.\n" for i in range(3)]
    assert len(emails) == 3

    bad = OutboundMessage.objects.get(status="refused")
    page.goto(f"{live_server.url}/outreach/actions/{bad.action_id}/email")  # the full page
    assert "not-an-address (from Leap) is not a valid email address" in page.inner_text("main")
    assert fits(page)
