"""The meter list (filters, sort, fragment, CSV, query counts) and the meter page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from leapportal.timezones import trade_date
from meters.models import GroupAssignment, MeterChange, ProgramEnrollment
from tests.dashboard.factories import make_action, make_group, make_meter, make_timeslot


def _csv(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_list_searches_filters_and_sorts_from_the_url(viewer_client):
    make_meter(partner_reference="pump-7", end_customer_name="Alice Farm")
    make_meter(partner_reference="cold-1", transmission_region="ERCOT", meter_type="SUBMETER")
    make_meter(partner_reference="gone-1", is_archived=True)
    page = viewer_client.get("/meters/", {"q": "alice"})
    assert b"pump-7" in page.content and b"cold-1" not in page.content
    page = viewer_client.get("/meters/", {"region": "ERCOT"})
    assert b"cold-1" in page.content and b"pump-7" not in page.content
    assert b"gone-1" not in viewer_client.get("/meters/").content
    assert b"gone-1" in viewer_client.get("/meters/", {"presence": "archived"}).content
    page = viewer_client.get("/meters/", {"sort": "-meter"}).content.decode()
    assert page.index("pump-7") < page.index("cold-1")
    assert 'aria-sort="descending"' in page


def test_htmx_gets_only_the_table(viewer_client):
    make_meter(partner_reference="pump-7")
    full = viewer_client.get("/meters/")
    fragment = viewer_client.get("/meters/", headers={"HX-Request": "true"})
    assert b"<html" in full.content and b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<section id="meter-table"')
    assert b"pump-7" in fragment.content


def test_bad_filters_are_ignored_with_a_message_not_an_error(viewer_client):
    make_meter(partner_reference="pump-7")
    response = viewer_client.get("/meters/", {"region": "MARS", "group": "x", "page": "-3"})
    assert response.status_code == 200
    assert b"were not understood" in response.content


@pytest.mark.parametrize("rows", [3, 30])
def test_the_list_costs_the_same_queries_for_few_and_many_rows(
    viewer_client, django_assert_num_queries, rows
):
    group = make_group()
    for _ in range(rows):
        meter = make_meter()
        make_action(meter)
        GroupAssignment.objects.create(
            meter=meter,
            trade_date=trade_date(meter.transmission_region, datetime.now(UTC)),
            market_group=group,
            source="enrollment",
        )
    viewer_client.get("/meters/")  # warm the session
    # session, user, 1 permission lookup (own and group ones together), meters page, groups today,
    # the group choices, 1 for the stale-data banner (its three parts in one query), plus the
    # capped count once there is a second page: never one query per row.
    # +1: the navigation (saved views, the alert count and the time-zone preference together)
    with django_assert_num_queries(9 if rows > 25 else 8):
        response = viewer_client.get("/meters/", {"per_page": "25"})
    assert response.status_code == 200
    # The rows show the meters' groups of today (their market's trade day): no query per row.
    assert f'href="{reverse("ops:group", args=[group.pk])}"' in response.content.decode()


def test_a_group_lists_its_assigned_and_its_enrolled_meters_on_every_page(viewer_client):
    group, other = make_group(), make_group(name="OTHER_GROUP")
    assigned = [make_meter(partner_reference=f"assigned-{i}") for i in range(3)]
    for i, meter in enumerate(assigned):  # any trade day counts, not only today's
        GroupAssignment.objects.create(
            meter=meter, trade_date=date(2026, 1, 1 + i), market_group=group, source="enrollment"
        )
    enrolled = make_meter(partner_reference="enrolled-1")
    ProgramEnrollment.objects.create(
        meter=enrolled, program_identifier="CCA", enrollment_status="ACTIVE", market_group=group
    )
    both = make_meter(partner_reference="both-1")  # assigned and enrolled: listed once
    GroupAssignment.objects.create(
        meter=both, trade_date=date(2026, 1, 1), market_group=group, source="enrollment"
    )
    ProgramEnrollment.objects.create(
        meter=both, program_identifier="CCA", enrollment_status="ACTIVE", market_group=group
    )
    elsewhere = make_meter(partner_reference="elsewhere-1")
    GroupAssignment.objects.create(
        meter=elsewhere, trade_date=date(2026, 1, 1), market_group=other, source="enrollment"
    )
    make_meter(partner_reference="nowhere-1")

    def listed(**params):
        body = viewer_client.get("/meters/", {"group": str(group.pk), **params}).content
        return [m for m in ["assigned-0", "assigned-1", "assigned-2", "both-1", "enrolled-1",
                            "elsewhere-1", "nowhere-1"] if m.encode() in body]  # fmt: skip

    assert listed() == ["assigned-0", "assigned-1", "assigned-2", "both-1", "enrolled-1"]
    assert b"1\xe2\x80\x935 of 5" in viewer_client.get("/meters/", {"group": str(group.pk)}).content
    # pages found by the filters and sort alone, then read: the same rows, in the list's order
    assert listed(per_page="25", sort="-meter") == listed()
    page_two = viewer_client.get(
        "/meters/", {"group": str(group.pk), "sort": "-meter", "per_page": "25", "page": "2"}
    )
    assert b"Page 2 is past the end of this list" in page_two.content
    exported = _csv(viewer_client.get("/meters/export.csv", {"group": str(group.pk)}))
    at = exported[0].index("partner_reference")
    assert sorted(r[at] for r in exported[1:]) == listed()


def test_deep_pages_show_their_own_rows_in_order(viewer_client):
    for i in range(60):
        make_meter(partner_reference=f"ref-{i:03d}")
    make_meter(partner_reference="ref-gone", is_archived=True)

    def shown(body):  # the references on the page, in the page's order
        found = [f"ref-{i:03d}" for i in range(60) if f">ref-{i:03d}<" in body]
        return sorted(found, key=lambda ref: body.index(f">{ref}<"))

    body = viewer_client.get("/meters/", {"per_page": "25", "page": "3"}).content.decode()
    assert shown(body) == [f"ref-{i:03d}" for i in range(50, 60)]
    assert "51–60 of 60" in body and "ref-gone" not in body
    body = viewer_client.get("/meters/", {"per_page": "25", "page": "2", "sort": "-meter"}).text
    assert shown(body) == [f"ref-{i:03d}" for i in range(34, 9, -1)]


def test_csv_exports_exactly_the_filtered_view_with_offsets(viewer_client):
    make_meter(partner_reference="la-1", leap_updated_at=datetime(2026, 3, 8, 9, 30, tzinfo=UTC))
    make_meter(partner_reference="tx-1", transmission_region="ERCOT")
    response = viewer_client.get("/meters/export.csv", {"region": "CAISO"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    header, body = rows[0], rows[1:]
    assert [r[header.index("partner_reference")] for r in body] == ["la-1"]
    assert body[0][header.index("leap_updated_at")] == "2026-03-08T01:30:00-08:00"


def test_the_meter_page_shows_fields_history_actions_and_dispatches(viewer_client):
    meter = make_meter(partner_reference="pump-7", details_raw={"meter_id": "x", "tags": ["a"]})
    make_action(meter, code="SERV_0005", description="Load Zone missing")
    MeterChange.objects.create(
        meter=meter, field="global_enrollment_status", old="ELIGIBLE", new="ACTIVE", source="poll"
    )
    slot = make_timeslot(meter=meter, energy_kw=75)
    response = viewer_client.get(f"/meters/{meter.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    for text in ("pump-7", "SERV_0005", "Load Zone missing", "global_enrollment_status",
                 str(slot.event_id), "Raw meter details JSON", "America/Los_Angeles"):  # fmt: skip
        assert text in body
    assert viewer_client.get("/meters/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_pages_need_the_view_permission(client, make_user):
    client.force_login(make_user(None, username="nobody"))
    assert client.get("/meters/").status_code == 403
    assert client.get("/meters/export.csv").status_code == 403
