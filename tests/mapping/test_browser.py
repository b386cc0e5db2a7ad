"""An admin edits a mapping inline, and previews then applies a CSV, in headless Chromium."""

from __future__ import annotations

import pytest

from mapping.models import MappingChange, MappingImport, MeterMapping

pytestmark = pytest.mark.browser


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


@pytest.mark.django_db(transaction=True)
def test_an_admin_edits_a_mapping_inline_with_a_reason(
    live_server, page, make_user, make_meter, screenshot
):
    make_user("admin", username="ada")
    meter = make_meter("cust-7")
    other = make_meter("cust-8")
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/mapping/")
    cell = page.locator(f"#mapping-{meter.pk}")
    assert "not mapped" in cell.inner_text()
    page.evaluate("window.__marker = 'same page'")  # survives only if no full reload happens

    cell.get_by_role("link", name="Edit").click()
    cell.locator("input[name=customer_id]").fill("cust-7")
    cell.locator("input[name=site_id]").fill("SITE-1")
    cell.locator("input[name=label]").fill("Cold store")
    screenshot(page, "mapping-inline-edit-form")
    cell.get_by_role("button", name="Save").click()
    # No reason given: the browser's own "required" check stops the POST.
    assert MeterMapping.objects.count() == 0
    cell.locator("input[name=reason]").fill("signed contract 2026-11")
    cell.get_by_role("button", name="Save").click()

    page.locator(f"#mapping-{meter.pk} [role=status]").wait_for()
    assert "Cold store" in page.locator(f"#mapping-{meter.pk}").inner_text()
    assert page.evaluate("window.__marker") == "same page"
    # The counters above the table follow the change (the mappingChanged event).
    page.locator("[data-count=unmapped] .stat", has_text="1").wait_for()
    screenshot(page, "mapping-inline-edit-saved")
    mapping = MeterMapping.objects.get(pk=meter.pk)
    assert (mapping.customer_id, mapping.site_id, mapping.label) == (
        "cust-7",
        "SITE-1",
        "Cold store",
    )
    change = MappingChange.objects.get()
    assert (change.actor_name, change.source, change.reason) == (
        "ada",
        "page",
        "signed contract 2026-11",
    )

    # The same site for a second meter is refused in place, with the reason shown.
    cell2 = page.locator(f"#mapping-{other.pk}")
    cell2.get_by_role("link", name="Edit").click()
    cell2.locator("input[name=customer_id]").fill("cust-8")
    cell2.locator("input[name=site_id]").fill("SITE-1")
    cell2.locator("input[name=reason]").fill("same building")
    cell2.get_by_role("button", name="Save").click()
    page.locator(f"#mapping-{other.pk} .errorlist").first.wait_for()
    assert "already has meter" in cell2.inner_text()
    screenshot(page, "mapping-inline-edit-refused")
    assert not MeterMapping.objects.filter(pk=other.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_an_admin_previews_and_applies_a_csv(
    live_server, page, make_user, make_meter, screenshot, tmp_path
):
    make_user("admin", username="ada")
    meters = sorted((make_meter(f"ref-{i}") for i in range(3)), key=lambda m: m.pk)
    lines = ["meter_id,partner_reference,customer_id,site_id,label"]
    lines += [
        f"{m.pk},{m.partner_reference},{m.partner_reference},S-{i},Meter {i}"
        for i, m in enumerate(meters)
    ]
    bad = tmp_path / "bad.csv"
    bad.write_bytes("meter_id,customer_id,site_id,label\n,Müller,,\n".encode("latin-1"))
    good = tmp_path / "crm-export.csv"
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log_in(page, live_server, "ada")

    page.goto(f"{live_server.url}/mapping/import/")
    page.set_input_files("input[name=file]", str(bad))
    page.get_by_role("button", name="Upload and preview").click()
    assert "not UTF-8" in page.locator("#import-refused").inner_text()
    screenshot(page, "mapping-import-refused")

    page.set_input_files("input[name=file]", str(good))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/mapping/import/*/")
    assert page.locator("[data-count=create]").inner_text() == "3"
    assert page.locator("tr.outcome-create").count() == 3
    assert MeterMapping.objects.count() == 0  # previewing changes nothing
    screenshot(page, "mapping-import-preview")

    page.fill("#apply-form input[name=reason]", "initial load from CRM")
    page.get_by_role("button", name="Apply 3 changes").click()
    page.locator(".msg--success").wait_for()
    assert "3 mappings written" in page.locator(".msg--success").inner_text()
    assert page.locator("#import-status").inner_text() == "applied"
    screenshot(page, "mapping-import-applied")
    assert MeterMapping.objects.count() == 3
    assert MappingImport.objects.get(status="applied").apply_reason == "initial load from CRM"
    assert set(MappingChange.objects.values_list("source", flat=True)) == {"csv"}


@pytest.mark.django_db(transaction=True)
def test_an_admin_maps_a_meter_from_the_meter_list_and_the_meter_page(
    live_server, page, make_user, make_meter, screenshot
):
    make_user("admin", username="ada")
    meter = make_meter("pump-7")
    log_in(page, live_server, "ada")

    page.goto(f"{live_server.url}/meters/")
    cell = page.locator(f"#mapping-{meter.pk}")
    cell.get_by_role("link", name="Edit").click()
    cell.locator("input[name=customer_id]").fill("pump-7")
    cell.locator("input[name=reason]").fill("matches the refId")
    cell.get_by_role("button", name="Save").click()
    page.locator(f"#mapping-{meter.pk} [role=status]").wait_for()
    assert "pump-7" in cell.inner_text() and "not mapped" not in cell.inner_text()
    screenshot(page, "mapping-inline-in-meter-list")

    page.goto(f"{live_server.url}/meters/{meter.pk}/")
    cell = page.locator(f"#mapping-{meter.pk}")
    cell.get_by_role("link", name="Edit").click()
    cell.locator("input[name=site_id]").fill("PLANT-2")
    cell.locator("input[name=reason]").fill("site from the survey")
    cell.get_by_role("button", name="Save").click()
    page.locator(f"#mapping-{meter.pk} [role=status]").wait_for()
    assert "PLANT-2" in cell.inner_text()
    screenshot(page, "mapping-inline-on-meter-page")
    assert list(MappingChange.objects.order_by("at").values_list("reason", flat=True)) == [
        "matches the refId",
        "site from the survey",
    ]
