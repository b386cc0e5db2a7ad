"""Every main page, as viewer, operator and admin, at 1440 px and at phone width (390 px):
titles that say where one is, no sideways scrolling, a usable menu, and the smaller defects.

Screenshots of each page at both widths go to test-artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from leapportal.timezones import trade_date
from mapping.actions import set_mapping
from meters.models import GroupAssignment, MeterChange, ProgramEnrollment, SyncRun
from tests.dashboard.factories import make_action, make_group, make_meter, make_timeslot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _portfolio():
    """A small portfolio with what each page shows: actions, a group with dispatches, a mapping."""
    call_command("seed_reason_codes")
    now = datetime.now(UTC)
    group = make_group("PGSB_1_PDRP68")
    meters = []
    for i in range(8):
        meter = make_meter(
            partner_reference=f"pump-{i:02d}",
            end_customer_name=f"Orchard Cooperative Number {i} of the Central Valley",
            end_customer_company_name="Central Valley Growers Association",
        )
        meters.append(meter)
        GroupAssignment.objects.create(meter=meter, market_group=group,
                                       trade_date=trade_date(group.region, now),
                                       source="enrollment")  # fmt: skip
        make_action(meter, deadline=now + timedelta(hours=3 + i))
    make_timeslot(level="group", market_group=group, meter_uuid=None, market_group_uuid=group.pk,
                  start_time=now + timedelta(hours=6), energy_kw=1200.0,
                  group_meter_ids=[str(m.pk) for m in meters])  # fmt: skip
    make_timeslot(level="group", market_group=group, meter_uuid=None, market_group_uuid=group.pk,
                  start_time=now - timedelta(days=2), energy_kw=900.0)  # fmt: skip
    for meter in meters[:3]:
        make_timeslot(meter=meter, start_time=now + timedelta(hours=20), energy_kw=80.5,
                      programs=["CCA", "ELRP"], dispatch_event_types=["CAPACITY"])  # fmt: skip
    admin = __import__("django.contrib.auth", fromlist=["get_user_model"]).get_user_model()
    actor = admin.objects.get(username="ada")
    set_mapping(meters[0].pk, customer_id="CUST-0042", site_id="SITE-7", label="Main pump",
                reason="onboarding", actor=actor, source="page")  # fmt: skip
    return group, meters


MAIN_PAGES = [
    ("/", "Overview"),
    ("/actions/", "Action required"),
    ("/groups/", "Groups"),
    ("/dispatch/", "Dispatches"),
    ("/meters/", "Meters"),
    ("/mapping/", "Meter mapping"),
    ("/mapping/audit/", "Audit · Mapping"),
    ("/meters/sync/", "Sync health"),
    ("/me/", "My settings"),
]


@pytest.mark.parametrize("width", [1440, 390])
def test_every_main_page_fits_the_screen_and_names_itself(
    live_server, page, make_user, login, screenshot, width
):
    """Defect 3 (and every page's title): the menu and Log out are reachable, nothing widens the
    page, the work panel is not in a sideways-scrolling table."""
    make_user("admin", username="ada", is_staff=True)
    group, meters = _portfolio()
    login(page, "ada")
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    pages = [*MAIN_PAGES, (f"/groups/{group.pk}/", "PGSB_1_PDRP68 · Group"),
             (f"/meters/{meters[0].pk}/", "pump-00 · Orchard"),
             (f"/mapping/meters/{meters[0].pk}/", "Mapping of pump-00")]  # fmt: skip
    for path, title in pages:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert page.title().startswith(title) and page.title().endswith("· leapportal"), path
        name = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "one", path.strip("/"))
        name = re.sub(r"[^a-z0-9]+", "-", name) or "home"
        screenshot(page, f"page-{name}-{width}", full_page=False)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{path}: the page is {scroll} px wide at {width} px"
        nav = page.locator("nav.mainnav").bounding_box()
        assert nav["width"] > 200, f"{path}: menu {nav['width']} px wide"
        for link in page.locator("nav.mainnav > a").all():
            box = link.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, path
        logout = page.locator("button:has-text('Log out')").bounding_box()
        assert logout["x"] + logout["width"] <= width, f"{path}: Log out clipped"

    page.goto(f"{live_server.url}/actions/")
    page.locator("[data-row-toggle]").first.click()
    panel = page.locator(".work-panel").first
    panel.wait_for()
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width  # all of it on screen
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    wrap_scrolls = page.evaluate(
        "(() => { const w = document.querySelector('#action-table .table-wrap');"
        " return w.scrollWidth > w.clientWidth; })()"
    )
    assert not wrap_scrolls  # the work panel is not inside a sideways-scrolling table
    screenshot(page, f"page-actions-work-panel-{width}", full_page=False)


def test_sync_health_agrees_with_itself_and_its_cards_fit(
    live_server, page, make_user, login, screenshot
):
    """Defect 6: one running area; a full sync counts meters, not twice the meters."""
    make_user("operator", username="olga")
    for i in range(200):
        make_meter(partner_reference=f"m-{i:03d}")
    SyncRun.objects.create(kind="full", status="running", progress_done=250, progress_total=400,
                           started_at=datetime.now(UTC), heartbeat_at=datetime.now(UTC))  # fmt: skip
    done = SyncRun.objects.create(kind="full", status="done", progress_done=400, unchanged=190,
                                  updated=10, started_at=datetime.now(UTC) - timedelta(hours=1),
                                  finished_at=datetime.now(UTC))  # fmt: skip
    login(page, "olga")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/meters/sync/")
    card = page.locator("#sync-now-card")
    text = card.inner_text()
    assert "No sync running." not in text
    assert "enrollments (pass 2 of 2): 50 of 200 meters" in text
    assert "400" not in text
    screenshot(page, "sync-health-running", full_page=False)
    table = page.locator("#webhook-counts")
    holder = page.locator("section.card:has(#webhook-counts)").bounding_box()
    last = table.locator("th").last.bounding_box()
    assert last["x"] + last["width"] <= holder["x"] + holder["width"]  # the last column shows
    schedules = page.locator("section.card:has-text('Next scheduled runs')").inner_text()
    assert "(m/h/dM/MY/d)" not in schedules and re.search(r"every \d+ minutes|daily at", schedules)
    page.goto(f"{live_server.url}/meters/sync/runs/{done.pk}/")
    assert "200 meters" in page.inner_text("body") and "400" not in page.inner_text("body")


def test_a_new_status_load_type_and_region_from_leap_can_be_filtered_and_exported(
    live_server, page, make_user, login
):
    """Defect 8: choices are the known values plus what the sync stored."""
    make_user("viewer", username="vera")
    make_meter(partner_reference="old-1")
    new = make_meter(partner_reference="new-1", transmission_region="SPP",
                     global_enrollment_status="SUSPENDED", load_types=["HYDROGEN_ELECTROLYSIS"])  # fmt: skip
    ProgramEnrollment.objects.create(meter=new, program_identifier="SPP-NEW-DR",
                                     enrollment_status="ACTIVE")  # fmt: skip
    login(page, "vera")
    page.goto(f"{live_server.url}/meters/")
    for name, value in (("status", "SUSPENDED"), ("load_type", "HYDROGEN_ELECTROLYSIS"),
                        ("region", "SPP"), ("program", "SPP-NEW-DR")):  # fmt: skip
        page.goto(f"{live_server.url}/meters/")
        page.select_option(f"select[name={name}]", value)
        page.wait_for_url(f"**{name}={value}*")
        page.wait_for_function("document.querySelectorAll('#meter-table tbody tr').length === 1")
        assert "new-1" in page.inner_text("#meter-table")
        assert "Select a valid choice" not in page.inner_text("body")
        with page.expect_download() as download:
            page.click("#meter-export")
        assert "new-1" in open(download.value.path()).read()


def test_times_read_the_same_everywhere(live_server, page, make_user, login, screenshot):
    """Defect 7: no raw ISO strings or Python lists on the meter and mapping pages."""
    make_user("admin", username="ada", is_staff=True)
    meter = make_meter(partner_reference="pump-7", load_types=["PUMPING", "HVAC"])
    ProgramEnrollment.objects.create(
        meter=meter, program_identifier="CCA", enrollment_status="ACTIVE",
        enrollment_deadlines=[{"enrollment_deadline_date_time": "2026-03-10T07:00:00Z",
                               "activation_date_time": "2026-04-01T07:00:00Z"}],
    )  # fmt: skip
    MeterChange.objects.create(meter=meter, field="missing_since", old=None,
                               new="2026-02-01T10:00:00+00:00", source="poll",
                               changed_at=datetime.now(UTC))  # fmt: skip
    actor = __import__("django.contrib.auth", fromlist=["get_user_model"]).get_user_model()
    set_mapping(meter.pk, customer_id="C-1", site_id="S-1", label="", reason="setup",
                actor=actor.objects.get(username="ada"), source="page")  # fmt: skip
    login(page, "ada")
    page.goto(f"{live_server.url}/meters/{meter.pk}/")
    body = page.inner_text("main")
    assert "2026-03-10 " in body and "T07:00:00" not in body and "+00:00" not in body
    assert "['PUMPING'" not in body and "PUMPING, HVAC" in body
    assert "2026-03-10 00:00 PDT" in body  # the deadline in the market zone, named (DST began)
    screenshot(page, "meter-detail-times")
    for path in (f"/mapping/meters/{meter.pk}/", "/mapping/audit/"):
        page.goto(f"{live_server.url}{path}")
        text = page.inner_text("main")
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d P[SD]T", text), path
        assert "(UTC)" not in text, path
    page.click("form.tz-switch >> text=UTC")  # the UTC switch changes them all
    page.wait_for_selector("#audit-table time .tz:text-is('UTC')")
    assert "PST" not in page.inner_text("#audit-table")


def test_mapping_pages_name_meters_and_warn_only_on_real_disagreement(
    live_server, page, make_user, login, screenshot
):
    """Defect 9: no warning on every mapping; meters by reference and customer; import links;
    a visibly disabled push; a 403 page with navigation; a favicon."""
    make_user("admin", username="ada", is_staff=True)
    make_user("viewer", username="vera")
    User = __import__("django.contrib.auth", fromlist=["get_user_model"]).get_user_model()
    ada = User.objects.get(username="ada")
    meters = [make_meter(partner_reference=f"refid-{i}", end_customer_name=f"Farm {i}")
              for i in range(4)]  # fmt: skip
    for i, meter in enumerate(meters):
        set_mapping(meter.pk, customer_id=f"CUST-{i}", site_id=f"S-{i}", label="",
                    reason="setup", actor=ada, source="page")  # fmt: skip
    login(page, "ada")
    page.goto(f"{live_server.url}/mapping/")
    table = page.inner_text("#mapping-table")
    assert "≠" not in table and page.locator("[data-flag=mismatch]").count() == 0
    assert "refid-1" in table and "Farm 1" in table
    screenshot(page, "mapping-overview")
    page.goto(f"{live_server.url}/meters/?q=refid-2")  # a meter's row links its mapping
    page.click("#meter-table a:has-text('CUST-2')")
    page.wait_for_url(f"**/mapping/meters/{meters[2].pk}/")

    from mapping import imports

    raw = f"meter_id,partner_reference,customer_id,site_id,label\n{meters[0].pk},,CUST-9,S-9,\n"
    upload = imports.preview_upload(raw.encode(), filename="m.csv", uploaded_by=ada)
    imports.apply_import(upload.pk, actor=ada, reason="move")
    page.goto(f"{live_server.url}/mapping/audit/")
    row = page.locator("#audit-table tbody tr").first
    assert "refid-0" in row.inner_text() and "Farm 0" in row.inner_text()
    row.locator(f"a:has-text('#{upload.pk}')").click()
    page.wait_for_url(f"**/mapping/import/{upload.pk}/")

    page.goto(f"{live_server.url}/mapping/meters/{meters[1].pk}/")
    push = page.locator("#leap-push button")
    assert push.is_disabled() and float(push.evaluate("b => getComputedStyle(b).opacity")) < 0.6
    note = page.inner_text("#leap-push-reason")
    assert "spec" not in note.lower() and "Leap support" in note

    page.context.clear_cookies()
    login(page, "vera")
    response = page.goto(f"{live_server.url}/mapping/import/")
    assert response.status == 403
    assert page.locator("nav.mainnav").is_visible() and "Not allowed" in page.inner_text("main")
    assert page.title().startswith("Not allowed")
    screenshot(page, "forbidden-page")
    icon = page.request.get(f"{live_server.url}/favicon.ico")
    assert icon.ok and "svg" in icon.headers["content-type"]


def test_smaller_defects(live_server, page, make_user, login, screenshot):
    """Defect 10: account-number search, page past the end, useful empty states, the settings
    link, the timeline's axis on market days, the group of a dispatch as a link."""
    make_user("viewer", username="vera")
    group = make_group("PGSB_1_PDRP68")
    meter = make_meter(partner_reference="pump-1", electric_service_account_number="8765-4321")
    make_action(meter)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    slot = make_timeslot(level="group", market_group=group, meter_uuid=None,
                         market_group_uuid=group.pk, start_time=start)  # fmt: skip
    login(page, "vera")
    page.goto(f"{live_server.url}/meters/?q=8765-4321")
    assert "pump-1" in page.inner_text("#meter-table")
    page.goto(f"{live_server.url}/meters/?page=99")
    assert "past the end" in page.inner_text("#meter-table")
    page.click("#meter-table >> text=Go to the first page")
    page.wait_for_selector("#meter-table >> text=pump-1")
    page.goto(f"{live_server.url}/actions/?q=nobody-here")
    empty = page.inner_text("#action-table")
    assert "Nothing to do here" not in empty and "No action matches these filters" in empty
    page.goto(f"{live_server.url}/actions/?side=leap")
    assert "Nothing to do here" in page.inner_text("#action-table")

    page.click(".userbox >> text=vera")  # the settings, without going through the iCal button
    page.wait_for_url("**/me/")

    page.goto(f"{live_server.url}/dispatch/?view=day&region=CAISO&date="
              f"{start.astimezone(__import__('zoneinfo').ZoneInfo('America/Los_Angeles')).date()}")  # fmt: skip
    axis = page.locator("#timeslot-table .tl-axis span")
    assert axis.all_inner_texts() == ["00:00", "06:00", "12:00", "18:00"]
    bar = page.locator(f"#timeslot-{slot.event_id} .tl-bar")
    left = float(re.search(r"left: ([\d.]+)%", bar.get_attribute("style")).group(1))
    local = start.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    assert abs(left - (local.hour * 60 + local.minute) / 1440 * 100) < 0.5  # on the market's day
    screenshot(page, "timeline-axis")
    page.click(f"#timeslot-{slot.event_id} >> a:has-text('PGSB_1_PDRP68')")
    page.wait_for_url(f"**/groups/{group.pk}/")
    assert "Upcoming dispatches" in page.inner_text("#group-dispatches")
    page.click("#group-dispatches a >> nth=0")
    page.wait_for_url(f"**/dispatch/events/{slot.event_id}/")
    page.click("#event-group")
    page.wait_for_url(f"**/groups/{group.pk}/")

    # The calendar entry links back to the event's page, which opens.
    from django.contrib.auth import get_user_model

    from leapportal.models import CalendarToken

    token = CalendarToken.issue(get_user_model().objects.get(username="vera"))
    ics = page.request.get(f"{live_server.url}/dispatch/calendar/{token}.ics").text()
    unfolded = ics.replace("\r\n ", "")
    url = f"{live_server.url}/dispatch/events/{slot.event_id}/"
    assert f"URL:{url}" in unfolded
    assert page.goto(url).status == 200 and str(slot.event_id) in page.inner_text("main")
