from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mapping import flags
from mapping.actions import set_mapping
from mapping.flags import forget_convention
from mapping.models import MappingChange, MeterMapping, SharedSite
from meters.models import Meter

PAGE = MappingChange.Source.PAGE
HX = {"HX-Request": "true"}


def _map(meter_id, actor, customer_id="c-1", site_id="", label=""):
    return set_mapping(
        meter_id,
        customer_id=customer_id,
        site_id=site_id,
        label=label,
        reason="setup",
        actor=actor,
        source=PAGE,
    )


def test_the_overview_shows_leap_reference_and_ours_with_flags(
    admin_client, admin_user, make_meter, django_assert_max_num_queries
):
    agree = make_meter("cust-a")
    disagree = make_meter("cust-b")
    unmapped = make_meter("cust-c")
    gone = make_meter("cust-d")
    _map(agree.pk, admin_user, "cust-a", "S1")
    _map(disagree.pk, admin_user, "cust-x", "S2")
    _map(gone.pk, admin_user, "cust-d", "S3")
    Meter.objects.filter(pk=gone.pk).delete()

    # +1 saved views, +3 stale-data banner, +1 time zone, +1 the navigation's open-alerts count
    with django_assert_max_num_queries(20):
        page = admin_client.get("/mapping/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "cust-b" in html and "cust-x" in html  # both sides shown
    assert f'id="mapping-{disagree.pk}"' in html and 'data-flag="mismatch"' in html
    assert f'id="mapping-{unmapped.pk}"' in html and 'data-flag="unmapped"' in html
    missing = admin_client.get("/mapping/?flag=missing", headers=HX).content.decode()
    assert str(gone.pk) in missing and 'data-flag="missing"' in missing and "<html" not in missing
    mismatch = admin_client.get("/mapping/?flag=mismatch", headers=HX).content.decode()
    assert str(disagree.pk) in mismatch and str(agree.pk) not in mismatch


def test_the_overview_costs_the_same_queries_for_3_or_30_meters(
    admin_client, admin_user, make_meter, django_assert_num_queries
):
    def count():

        forget_convention()  # count the refId-convention query too, every time
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get("/mapping/", headers=HX).status_code == 200
        return len(ctx.captured_queries)

    for i in range(3):
        _map(make_meter(f"r{i}").pk, admin_user, f"c{i}", f"s{i}")
    few = count()
    for i in range(3, 30):
        _map(make_meter(f"r{i}").pk, admin_user, f"c{i}", f"s{i}")
    assert count() == few


def test_two_meters_on_one_site_are_flagged_when_not_allowed(
    admin_client, admin_user, make_meter, settings
):
    a, b = make_meter(), make_meter()
    _map(a.pk, admin_user, site_id="S1")
    settings.MAPPING_ONE_METER_PER_SITE = False
    _map(b.pk, admin_user, site_id="S1")  # allowed then; the rule is switched on later
    settings.MAPPING_ONE_METER_PER_SITE = True

    html = admin_client.get("/mapping/?flag=shared_site", headers=HX).content.decode()

    assert str(a.pk) in html and str(b.pk) in html and "2 meters on site S1" in html


@pytest.mark.parametrize("who", ["viewer_client", "operator_client"])
def test_viewers_and_operators_see_no_edit_button_and_get_403_on_post(
    request, who, make_meter, admin_user
):
    client = request.getfixturevalue(who)
    meter = make_meter()
    _map(meter.pk, admin_user)

    page = client.get(f"/mapping/meters/{meter.pk}/")
    assert page.status_code == 200 and b">Edit<" not in page.content
    assert client.get(f"/mapping/meters/{meter.pk}/edit", headers=HX).status_code == 403
    post = client.post(
        f"/mapping/meters/{meter.pk}/save", {"customer_id": "evil", "reason": "because"}, headers=HX
    )
    assert post.status_code == 403
    assert (
        client.post(f"/mapping/meters/{meter.pk}/clear", {"reason": "because"}).status_code == 403
    )
    assert client.post("/mapping/import/").status_code == 403
    assert MeterMapping.objects.get(pk=meter.pk).customer_id == "c-1"


def test_an_admin_edits_inline_and_gets_the_cell_back(admin_client, make_meter):
    meter = make_meter("cust-9")

    form = admin_client.get(f"/mapping/meters/{meter.pk}/edit", headers=HX)
    assert b'name="reason"' in form.content and b"<html" not in form.content
    saved = admin_client.post(
        f"/mapping/meters/{meter.pk}/save",
        {"customer_id": "cust-9", "site_id": "S9", "label": "Roof", "reason": "new customer"},
        headers=HX,
    )

    assert saved.status_code == 200
    assert f'id="mapping-{meter.pk}"'.encode() in saved.content and b"Roof" in saved.content
    assert "mappingChanged" in saved["HX-Trigger"]
    change = MappingChange.objects.get()
    assert (change.source, change.reason, change.actor_name) == ("page", "new customer", "alice")


def test_a_refused_inline_edit_comes_back_as_the_form_with_the_reason(
    admin_client, admin_user, make_meter
):
    a, b = make_meter(), make_meter()
    _map(a.pk, admin_user, site_id="S1")

    response = admin_client.post(
        f"/mapping/meters/{b.pk}/save",
        {"customer_id": "c", "site_id": "S1", "reason": "try"},
        headers=HX,
    )

    assert response.status_code == 200
    assert b"already has meter" in response.content and b'name="reason"' in response.content
    assert not MeterMapping.objects.filter(pk=b.pk).exists()


def test_without_javascript_the_edit_link_opens_the_page_in_edit_mode(admin_client, make_meter):
    meter = make_meter()
    response = admin_client.get(f"/mapping/meters/{meter.pk}/edit")
    assert response.status_code == 302 and response["Location"].endswith("?edit=1")
    page = admin_client.get(response["Location"])
    assert b'name="customer_id"' in page.content
    saved = admin_client.post(
        f"/mapping/meters/{meter.pk}/save", {"customer_id": "c", "reason": "plain form"}
    )
    assert saved.status_code == 302 and MeterMapping.objects.filter(pk=meter.pk).exists()


def test_the_meter_page_shows_both_references_history_and_push_unavailable(
    admin_client, admin_user, make_meter
):
    meter = make_meter("ref-1")
    _map(meter.pk, admin_user, "cust-1", "S1")

    html = admin_client.get(f"/mapping/meters/{meter.pk}/").content.decode()

    assert 'id="leap-partner-reference">ref-1<' in html and "cust-1" in html
    assert "Mapping history" in html and "setup" in html
    assert (
        "Not possible from here yet" in html and "ask Leap support" in html and "disabled" in html
    )


def test_an_unknown_meter_page_is_404(viewer_client):
    assert viewer_client.get(f"/mapping/meters/{uuid.uuid4()}/").status_code == 404


def test_an_admin_removes_a_mapping_with_a_reason(admin_client, admin_user, make_meter):
    meter = make_meter()
    _map(meter.pk, admin_user)
    admin_client.post(f"/mapping/meters/{meter.pk}/clear", {"reason": ""})
    assert MeterMapping.objects.filter(pk=meter.pk).exists()
    admin_client.post(f"/mapping/meters/{meter.pk}/clear", {"reason": "duplicate"})
    assert not MeterMapping.objects.filter(pk=meter.pk).exists()
    assert MappingChange.objects.filter(meter_id=meter.pk, after__isnull=True).exists()


def test_the_audit_filters_and_exports(
    admin_client, admin_user, make_meter, make_user, django_assert_max_num_queries
):
    a, b = make_meter(), make_meter()
    _map(a.pk, admin_user, "cust-a")
    other = make_user("admin", username="bob")
    _map(b.pk, other, "cust-b")

    with django_assert_max_num_queries(9):  # +1: the page's meters (reference, customer, zone)
        page = admin_client.get("/mapping/audit/", {"actor": "bob"}, headers=HX)
    html = page.content.decode()
    assert str(b.pk) in html and str(a.pk) not in html
    assert (
        admin_client.get("/mapping/audit/", {"meter_id": str(a.pk)})
        .content.decode()
        .count("cust-a")
        >= 1
    )
    assert (
        b"Enter a valid UUID" in admin_client.get("/mapping/audit/", {"meter_id": "nope"}).content
    )

    csv_text = b"".join(
        admin_client.get("/mapping/audit.csv", {"source": "page"}).streaming_content
    ).decode()
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("at,meter_id,action,actor,source,reason")
    assert len(lines) == 3 and "cust-b" in csv_text and "created" in csv_text
    assert admin_client.get("/mapping/audit.csv", {"since": "yesterday"}).status_code == 400


def test_mapping_is_in_the_navigation(viewer_client):
    assert b'href="/mapping/"' in viewer_client.get("/").content


def test_the_meter_list_and_meter_page_carry_the_inline_mapping(
    admin_client, admin_user, make_user, make_meter
):
    viewer = Client()
    viewer.force_login(make_user("viewer"))
    a, b = make_meter("ref-a"), make_meter("ref-b")
    _map(a.pk, admin_user, "cust-a", "S1", "North")

    listing = admin_client.get("/meters/").content.decode()
    assert f'id="mapping-{a.pk}"' in listing and "North" in listing
    assert f'hx-get="/mapping/meters/{a.pk}/edit"' in listing
    assert f'id="mapping-{b.pk}"' in listing and 'data-flag="unmapped"' in listing
    assert "/edit" not in viewer.get("/meters/").content.decode()

    detail = admin_client.get(f"/meters/{a.pk}/").content.decode()
    assert f'id="mapping-{a.pk}"' in detail and 'data-flag="mismatch"' not in detail
    assert f'href="/mapping/meters/{a.pk}/"' in detail


def test_mapped_rows_add_no_queries_to_the_meter_list(viewer_client, admin_user, make_meter):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get("/meters/", {"per_page": "25"}).status_code == 200
        return len(ctx.captured_queries)

    for i in range(3):
        _map(make_meter(f"r{i}").pk, admin_user, f"c{i}", f"s{i}")
    viewer_client.get("/meters/")
    few = count()
    for i in range(3, 20):
        _map(make_meter(f"r{i}").pk, admin_user, f"c{i}", f"s{i}")
    assert count() == few


def _flag_counts_one_by_one():
    meters = flags.annotate_meters(Meter.objects.all())
    return {
        **{c: flags.filter_meters(meters, c).count() for c in flags.FILTERS if c != "missing"},
        "missing": flags.missing_mappings().count(),
        "meters": Meter.objects.count(),
        "mappings": MeterMapping.objects.count(),
    }


@pytest.mark.parametrize("convention", [True, False])
def test_the_cards_count_in_one_pass_what_each_flag_filter_lists(
    admin_user, make_meter, settings, convention
):

    # Most mapped meters agree (or, for the other case, disagree) with their customer id.
    for i in range(6):
        m = make_meter(f"cust-{i}")
        _map(m.pk, admin_user, f"cust-{i}" if convention else f"other-{i}", f"S{i}")
    disagree = make_meter("cust-b")
    _map(disagree.pk, admin_user, "cust-x", "S-x")
    make_meter("cust-unmapped")
    make_meter(None)  # no reference: unmapped, never a mismatch
    make_meter("cust-gone-unmapped", missing_since=timezone.now())  # neither unmapped nor missing
    archived = make_meter("cust-arch", is_archived=True)
    _map(archived.pk, admin_user, "cust-arch", "S-arch")
    gone = make_meter("cust-gone")
    _map(gone.pk, admin_user, "cust-gone", "S-gone")
    Meter.objects.filter(pk=gone.pk).delete()
    marked = make_meter("cust-marked", missing_since=timezone.now())
    _map(marked.pk, admin_user, "cust-marked", "S-marked")
    settings.MAPPING_ONE_METER_PER_SITE = False
    for site in ("S-two", "S-two", "S-ok", "S-ok"):
        _map(make_meter(f"cust-{site}").pk, admin_user, f"cust-{site}", site)
    SharedSite.objects.create(site_id="S-ok", reason="campus")
    settings.MAPPING_ONE_METER_PER_SITE = True
    flags.forget_convention()

    counted = flags.count_flags()

    assert counted == _flag_counts_one_by_one()
    assert counted["shared_site"] == 2 and counted["missing"] == 2 and counted["archived"] == 1
    assert counted["mismatch"] == (1 if convention else 0)
    settings.MAPPING_ONE_METER_PER_SITE = False
    assert flags.count_flags() == _flag_counts_one_by_one()


def test_the_remembered_cards_follow_every_mapping_write_at_once(
    admin_client, admin_user, make_meter
):
    a, b = make_meter("cust-a"), make_meter("cust-b")
    _map(a.pk, admin_user, "cust-a", "S1")
    assert flags.counts()["unmapped"] == 1
    # Written by another process: this one's memory is not told, the next look sees it anyway.
    MeterMapping.objects.create(meter_id=b.pk, customer_id="cust-b", site_id="S1")
    MappingChange.objects.create(meter_id=b.pk, actor_name="api", source="api", reason="x")
    assert flags.counts() == _flag_counts_one_by_one()
    assert flags.counts()["unmapped"] == 0 and flags.counts()["shared_site"] == 2
    SharedSite.objects.create(site_id="S1", reason="campus")
    assert flags.counts()["shared_site"] == 0
    html = admin_client.get("/mapping/?part=counts", headers=HX).content.decode()
    assert 'id="mapping-counts"' in html


def test_what_the_sync_changes_on_meters_shows_in_the_cards_within_a_minute(
    admin_user, make_meter, monkeypatch
):
    meter = make_meter("cust-a")
    _map(meter.pk, admin_user, "cust-a")
    assert flags.counts()["archived"] == 0
    Meter.objects.filter(pk=meter.pk).update(is_archived=True)  # the sync, elsewhere
    assert flags.counts()["archived"] == 0  # remembered
    monkeypatch.setattr(flags, "COUNTS_TTL_SECONDS", 0.0)
    assert flags.counts()["archived"] == 1
