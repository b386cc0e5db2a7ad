"""The action queue as ops use it all day, in Chromium: defects a new user met, and the work-queue
habits people expect (bulk changes, the keyboard, saved views).

Each test saves screenshots into test-artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from ops.models import ActionWorkItem, ActionWorkItemChange, BulkWorkUpdate, SavedView
from tests.dashboard.factories import make_action, make_meter, make_timeslot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _queue(n: int = 12) -> list:
    """n open partner actions on n meters, half AUTH_0001 and half SERV_0005, due hour by hour."""
    call_command("seed_reason_codes")  # transactional tests start without migrations' data
    now = datetime.now(UTC)
    actions = []
    for i in range(n):
        meter = make_meter(
            partner_reference=f"pump-{i:02d}",
            end_customer_name=f"Orchard Cooperative Number {i} of the Central Valley",
            electric_service_account_number=f"PGE-77{i:04d}",
        )
        code = "AUTH_0001" if i % 2 == 0 else "SERV_0005"
        description = (
            "End customer must re-authorize the meter with the utility before the deadline, "
            "otherwise the enrollment lapses and the meter leaves the program"
        )
        actions.append(
            make_action(
                meter, code=code, description=description, deadline=now + timedelta(hours=5 + i)
            )  # fmt: skip
        )
    return actions


def test_a_worked_action_leaves_a_reloadable_address_and_its_message_on_its_own_row(
    live_server, page, make_user, login, screenshot
):
    """Defects 1 and 2: no /actions/N/work in the address bar; confirmations stay on their row."""
    make_user("operator", username="olga")
    first, second, *_ = _queue(4)
    login(page, "olga")
    page.goto(f"{live_server.url}/actions/?code=AUTH_0001")
    queue_url = page.url

    row = page.locator(f"#action-{first.pk}")
    row.locator("[data-row-toggle]").click()
    row.locator("button:has-text('Assign to me')").click()
    page.wait_for_selector(f"#action-{first.pk} .work-cell:has-text('olga')")
    assert page.url == queue_url  # the POST's address is never pushed
    saved = page.locator(f"#action-{first.pk}-saved")
    assert "assignee updated" in saved.inner_text()
    assert page.locator(f"#action-{second.pk}-saved").count() == 0  # not above another action
    row.locator("select[name=state]").select_option("waiting_customer")
    row.locator("button:has-text('Save')").click()
    page.wait_for_selector(f"#action-{first.pk} .work-cell:has-text('Waiting on customer')")
    assert page.url == queue_url
    assert page.locator("#messages").count() == 0  # no empty message box on the queue
    screenshot(page, "queue-worked-row-confirmation")

    response = page.reload()  # the address bar is a page GET serves
    assert response.status == 200 and page.locator(f"#action-{first.pk}").count() == 1
    page.click("nav.mainnav >> text=Dispatches")
    page.wait_for_selector("#dispatch-timeline")
    assert "updated" not in page.locator("body").inner_text()  # not on the next page either
    assert page.locator("#messages").count() == 0


def test_a_code_chip_fills_the_code_box_and_a_search_keeps_it(
    live_server, page, make_user, login, screenshot
):
    """Defect 4: the chip's filter shows in the Code box and survives typing a search."""
    make_user("viewer", username="vera")
    _queue(6)
    login(page, "vera")
    page.goto(f"{live_server.url}/actions/")
    page.click("#action-table .chip:has-text('SERV_0005')")
    page.wait_for_url("**/actions/?*code=SERV_0005*")
    assert page.input_value("#filter-code") == "SERV_0005"
    page.fill("input[name=q]", "pump-0")
    page.wait_for_url("**q=pump-0*")
    assert "code=SERV_0005" in page.url
    page.wait_for_function(
        "document.querySelectorAll('#action-table tbody[data-action-row]').length === 3"
    )
    refs = page.locator("#action-table tbody[data-action-row] .cell-meter a").all_inner_texts()
    assert refs == ["pump-01", "pump-03", "pump-05"]
    screenshot(page, "queue-chip-and-search")

    page.fill("input[name=q]", "PGE-770004")  # the utility account number (defect 10)
    page.wait_for_url("**q=PGE-770004*")
    page.fill("#filter-code", "")
    page.locator("#filter-code").dispatch_event("change")
    page.wait_for_function(
        "document.querySelectorAll('#action-table tbody[data-action-row]').length === 1"
    )
    assert "pump-04" in page.locator("#action-table").inner_text()


def test_the_queue_is_one_line_per_action_at_1440_px(
    live_server, page, make_user, login, screenshot
):
    """Defect 5: one line per action, long names and descriptions cut, details in the panel."""
    make_user("operator", username="olga")
    actions = _queue(30)
    login(page, "olga")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/actions/")
    lines = page.locator("#action-table tr.action-line")
    assert lines.count() == 30
    heights = [box["height"] for box in lines.evaluate_all(
        "rows => rows.map(r => r.getBoundingClientRect().toJSON())")]  # fmt: skip
    single = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('#action-table td')).lineHeight)"
    )
    assert max(heights) < 2 * single + 8, heights  # one line of text (plus padding), not 5-6
    visible = page.evaluate(
        """() => [...document.querySelectorAll('#action-table tr.action-line')]
                 .filter(r => r.getBoundingClientRect().bottom <= innerHeight).length"""
    )
    assert visible >= 15, visible
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    screenshot(page, "queue-dense-1440", full_page=False)
    row = page.locator(f"#action-{actions[0].pk}")
    row.locator("[data-row-toggle]").click()
    panel = page.locator(f"#action-{actions[0].pk} .work-panel")
    panel.wait_for()
    text = panel.inner_text()
    assert "IS_AUTHORIZED" in text and "CAISO-CCA_2026_APR" in text  # the details moved here
    assert "Dear Orchard Cooperative Number 0" in text
    screenshot(page, "queue-work-panel-1440", full_page=False)


def test_the_queue_grouped_by_code_fits_a_390_px_phone(live_server, page, make_user, login):
    """A code's header row wraps its title on a phone: th's nowrap widened the page to ~457 px."""
    make_user("operator", username="olga")
    _queue(4)
    login(page, "olga")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/actions/?group=code")
    header = page.locator("#action-table tr.group-row th").first
    assert "AUTH_0001" in header.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert (
        page.evaluate(
            "document.querySelector('#action-table tr.group-row th').getBoundingClientRect().right"
        )
        <= 390
    )


def test_bulk_changes_on_selected_rows_and_on_all_matching(
    live_server, page, make_user, login, screenshot
):
    """Select rows (or every match), then assign, set state, snooze and note; each audited."""
    make_user("operator", username="olga")
    make_user("operator", username="otto")
    actions = _queue(60)
    login(page, "olga")
    page.goto(f"{live_server.url}/actions/?code=AUTH_0001&per_page=25")
    chosen = actions[0], actions[2], actions[4]
    for action in chosen:
        page.check(f"#action-{action.pk} input[name=ids]")
    assert page.inner_text("[data-bulk-count]") == "3 selected"
    page.select_option("#bulk-form select[name=assignee]", "otto")
    page.click("#bulk-form button[value=assign]")
    page.wait_for_selector("#bulk-result")
    assert "3 changed" in page.inner_text("#bulk-result")
    assert "code=AUTH_0001" in page.url and "/bulk" not in page.url
    for action in chosen:
        assert "otto" in page.inner_text(f"#action-{action.pk} .work-cell")
    screenshot(page, "queue-bulk-assigned")

    # Every action that matches the filters, beyond this page: 30 AUTH_0001 in all.
    page.goto(f"{live_server.url}/actions/?code=AUTH_0001&per_page=25")
    page.check("[data-bulk-all]")
    page.select_option("#bulk-form select[name=state]", "contacted")
    page.click("#bulk-form button[value=state]")
    page.wait_for_selector("#bulk-result")
    assert "on 30 actions; 30 changed" in page.inner_text("#bulk-result")
    page.check("[data-select-page]")
    page.fill("#bulk-form input[name=note]", "Called the co-op office")
    page.click("#bulk-form button[value=note]")
    page.wait_for_selector("#bulk-result:has-text('add a note')")
    page.check("[data-select-page]")
    page.select_option("#bulk-form select[name=snooze]", "3d")
    page.click("#bulk-form button[value=snooze]")
    page.wait_for_selector("#bulk-result:has-text('snooze')")
    # Snoozed actions leave the default view: the first page went, five remain.
    page.wait_for_function(
        "document.querySelectorAll('#action-table tbody[data-action-row]').length === 5"
    )

    auth = [a for a in actions if a.code == "AUTH_0001"]
    assert ActionWorkItem.objects.filter(action__in=auth, state="contacted").count() == 30
    assert BulkWorkUpdate.objects.count() == 4
    first = ActionWorkItem.objects.get(action=actions[0])
    assert first.assignee.username == "otto" and "Called the co-op office (olga," in first.note
    assert first.snoozed_until is not None
    kinds = [sorted(c.changes) for c in first.history.order_by("pk")]
    assert kinds == [["assignee"], ["state"], ["note"], ["snoozed_until"]]
    assert all(c.bulk_id for c in first.history.all())

    # The action's own history says it, with the bulk update's number and times in market time.
    page.goto(f"{live_server.url}/actions/?code=AUTH_0001&snoozed=show")
    row = page.locator(f"#action-{actions[0].pk}")
    row.locator("[data-row-toggle]").click()
    history = page.locator(f"#action-{actions[0].pk} .timeline")
    history.wait_for()
    text = history.inner_text()
    assert text.count("bulk #") == 4 and "snoozed_until" in text
    assert "+00:00" not in text and "PST" in text or "PDT" in text  # no raw ISO (defect 7)
    screenshot(page, "queue-bulk-history")


@pytest.mark.worker
@pytest.mark.parametrize("width", [1440, 390], ids=["desktop", "phone"])
def test_a_large_all_matching_change_runs_in_the_worker_and_the_queue_follows_it(
    live_server, page, make_user, login, screenshot, celery_worker, settings, width
):
    """Over OPS_BULK_INLINE_MAX (20 here, 200 by default) a bulk change is queued and applied by
    a real Celery worker; the queue shows its progress, then the result and the refreshed rows."""
    settings.OPS_BULK_INLINE_MAX = 20
    make_user("operator", username="olga")
    actions = _queue(60)
    auth = [a for a in actions if a.code == "AUTH_0001"]
    login(page, "olga")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/actions/?code=AUTH_0001&per_page=25")
    queue_url = page.url
    page.check("[data-bulk-all]")
    page.select_option("#bulk-form select[name=state]", "waiting_leap")
    page.click("#bulk-form button[value=state]")
    # The answer is at once: the progress, in the table's status line, polling its address.
    progress = page.locator("#bulk-status.bulk-progress")
    progress.wait_for()
    assert progress.get_attribute("hx-trigger") == "every 1s"
    assert "on 30 actions" in progress.inner_text()
    screenshot(page, f"queue-bulk-queued-{width}", full_page=False)
    page.wait_for_selector("#bulk-result:has-text('30 changed')", timeout=30_000)
    assert "Bulk #" in page.inner_text("#bulk-result") and page.url == queue_url
    assert page.locator("#bulk-status[hx-trigger]").count() == 0  # polling stopped
    for action in auth[:5]:  # the rows refreshed with the table
        assert "Waiting on Leap" in page.inner_text(f"#action-{action.pk} .work-cell")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"queue-bulk-done-{width}", full_page=False)

    record = BulkWorkUpdate.objects.get()
    assert (record.status, record.selected, record.changed) == ("done", 30, 30)
    assert ActionWorkItem.objects.filter(action__in=auth, state="waiting_leap").count() == 30
    history = ActionWorkItemChange.objects.filter(bulk=record)
    assert history.count() == 30
    assert all(c.changes == {"state": ["new", "waiting_leap"]} for c in history)

    # Its address is a page GET serves: the same result, and a way back to the queue.
    response = page.goto(f"{live_server.url}/actions/bulk/{record.pk}?back=%3Fcode%3DAUTH_0001")
    assert response.status == 200 and "30 changed" in page.inner_text("#bulk-result")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"queue-bulk-page-{width}")
    page.click("#bulk-back")
    page.wait_for_url(f"{live_server.url}/actions/?code=AUTH_0001")


def test_a_viewer_gets_no_bulk_controls_and_a_bulk_post_is_refused(
    live_server, page, make_user, login
):
    make_user("viewer", username="vera")
    actions = _queue(2)
    login(page, "vera")
    page.goto(f"{live_server.url}/actions/")
    assert page.locator("#bulk-form").count() == 0
    assert page.locator("input[name=ids]").count() == 0
    status = page.evaluate(
        """async (id) => (await fetch('/actions/bulk', {method: 'POST',
              headers: {'x-csrftoken': JSON.parse(document.body.getAttribute('hx-headers'))['x-csrftoken'],
                        'content-type': 'application/x-www-form-urlencoded'},
              body: 'operation=state&state=done&ids=' + id})).status""",
        actions[0].pk,
    )
    assert status == 403
    assert not ActionWorkItemChange.objects.exists()


def test_the_queue_works_from_the_keyboard_alone(live_server, page, make_user, login, screenshot):
    """/ search, j/k rows, Enter the panel, a assign to me, e done, ? the keys; a skip link."""
    make_user("operator", username="olga")
    actions = _queue(5)
    login(page, "olga")
    page.goto(f"{live_server.url}/actions/")
    page.keyboard.press("Tab")  # the first stop of every page is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    page.keyboard.press("j")
    page.keyboard.press("j")
    current = page.locator("tbody.is-current")
    assert current.get_attribute("id") == f"action-{actions[1].pk}"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.press("k")
    assert page.locator("tbody.is-current").get_attribute("id") == f"action-{actions[0].pk}"
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#action-{actions[0].pk} .work-panel")
    page.keyboard.press("a")
    page.wait_for_selector(f"#action-{actions[0].pk} .work-cell:has-text('olga')")
    page.keyboard.press("j")  # the next row, its panel closed: the keys still work
    page.keyboard.press("e")
    page.wait_for_selector(f"#action-{actions[1].pk} .work-cell:has-text('Done')")
    assert ActionWorkItem.objects.get(action=actions[0]).assignee.username == "olga"
    assert ActionWorkItem.objects.get(action=actions[1]).state == "done"

    page.keyboard.press("?")
    assert page.locator("#keys-help").is_visible()
    assert "Assign the row to me" in page.inner_text("#keys-help")
    screenshot(page, "queue-keys-help", full_page=False)
    page.keyboard.press("Escape")
    assert not page.locator("#keys-help").is_visible()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "q"
    page.keyboard.type("pump-03")
    page.wait_for_url("**q=pump-03*")
    page.keyboard.press("Escape")
    page.wait_for_function(
        "document.querySelectorAll('#action-table tbody[data-action-row]').length === 1"
    )
    page.keyboard.press("j")
    assert page.locator("tbody.is-current").get_attribute("id") == f"action-{actions[3].pk}"


def test_a_saved_view_is_listed_in_the_navigation_and_opens_its_filters(
    live_server, page, make_user, login, screenshot
):
    make_user("operator", username="olga")
    _queue(6)
    login(page, "olga")
    page.goto(f"{live_server.url}/actions/?code=SERV_0005&urgency=soon")
    page.click(".save-view > summary")
    page.fill(".save-view-form input[name=name]", "Service fields due soon")
    page.click(".save-view-form button[type=submit]")
    page.wait_for_selector("#nav-views")
    assert "Service fields due soon" in page.inner_text("#messages")
    view = SavedView.objects.get()
    assert view.page == "ops:actions" and "code=SERV_0005" in view.query

    page.click("nav.mainnav >> text=Meters")
    page.click("#nav-views > summary")
    screenshot(page, "nav-saved-views", full_page=False)
    page.click("#nav-views >> text=Service fields due soon")
    page.wait_for_url("**/actions/?*code=SERV_0005*")
    assert page.input_value("#filter-code") == "SERV_0005"
    assert page.locator("#action-table tbody[data-action-row]").count() == 3

    page.goto(f"{live_server.url}/me/")
    assert "Service fields due soon" in page.inner_text("#saved-views")
    page.click("#saved-views button:has-text('Delete')")
    page.wait_for_selector("#saved-views:has-text('None yet')")
    assert page.locator("#nav-views").count() == 0


def test_the_queue_filters_by_market_group_from_the_group_page(live_server, page, make_user, login):
    from meters.models import GroupAssignment
    from tests.dashboard.factories import make_group

    make_user("viewer", username="vera")
    actions = _queue(4)
    group = make_group("PGSB_1_PDRP68")
    GroupAssignment.objects.create(meter=actions[2].meter, market_group=group,
                                   trade_date=datetime.now(UTC).date(), source="enrollment")  # fmt: skip
    make_timeslot(level="group", market_group=group, meter_uuid=None,
                  market_group_uuid=group.pk)  # fmt: skip
    login(page, "vera")
    page.goto(f"{live_server.url}/groups/{group.pk}/")
    page.click("text=Open actions of its members")
    page.wait_for_url(f"**/actions/?*market_group={group.pk}*")
    assert page.locator("#action-table tbody[data-action-row]").count() == 1
    assert "pump-02" in page.inner_text("#action-table")


def test_a_key_pressed_before_htmx_has_bound_a_new_row_waits_for_it(
    live_server, page, make_user, login
):
    """htmx binds a swapped-in row at settle: a key pressed in between must not submit the panel's
    form as a plain POST (which left the queue for the action's own page)."""
    make_user("operator", username="olga")
    actions = _queue(3)
    login(page, "olga")
    page.goto(f"{live_server.url}/actions/")
    # Widen the window between the swap and htmx's binding of the new content (20 ms by default).
    page.evaluate("htmx.config.defaultSettleDelay = 600")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("j")
    page.keyboard.press("Enter")  # the first row's work panel
    page.wait_for_selector(f"#action-{actions[0].pk} .work-panel")
    page.keyboard.press("a")  # at once: the panel is in the page, its form not yet bound by htmx
    page.wait_for_selector(f"#action-{actions[0].pk} .work-cell:has-text('olga')")
    assert page.url.split("#")[0] == f"{live_server.url}/actions/"  # the queue, not /actions/<id>/
    assert page.locator("tbody[data-action-row]").count() == 3
    work = ActionWorkItem.objects.get(action=actions[0])
    assert work.assignee.username == "olga"
