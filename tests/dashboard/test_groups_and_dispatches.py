"""Groups (members per trade day, movers, readiness, CSV) and the dispatch timeline."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from dispatch.models import DispatchTimeslotVersion
from leapportal.timezones import trade_date
from meters.models import GroupAssignment, MeterEvent
from tests.dashboard.factories import make_group, make_meter, make_timeslot

LA = ZoneInfo("America/Los_Angeles")


def _assign(meter, group, day):
    return GroupAssignment.objects.create(
        meter=meter, market_group=group, trade_date=day, source="enrollment"
    )


@pytest.fixture
def moving_group(db):
    """A CAISO group of three meters today; one leaves tomorrow, another joins the day after."""
    now = datetime.now(UTC)
    today = trade_date("CAISO", now)
    group = make_group("PGSB_1_PDRP68")
    stay, leave, join = (make_meter(partner_reference=n) for n in ("stay-1", "leave-1", "join-1"))
    not_active = make_meter(partner_reference="pending-1", global_enrollment_status="PENDING")
    for day in range(3):
        _assign(stay, group, today + timedelta(days=day))
        _assign(not_active, group, today + timedelta(days=day))
    _assign(leave, group, today)
    _assign(join, group, today + timedelta(days=2))
    # the sync's event for the nearest change (what the overview reads)
    MeterEvent.objects.create(
        meter=leave, kind="group_changing", source="poll",
        deadline=datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=LA),
        details={"trade_date": str(today + timedelta(days=1)), "from": [str(group.pk)], "to": []},
    )  # fmt: skip
    return group


def test_groups_show_members_per_trade_day_movers_and_readiness(viewer_client, moving_group):
    body = viewer_client.get("/groups/").content.decode()
    row = body.split(f'id="group-{moving_group.pk}"')[1].split("</tr>")[0]
    assert "is-highlight" in row.split(">")[0]
    cells = [c.split(">", 1)[1].split("<")[0].strip() for c in row.split('class="num"')[1:4]]
    assert cells == ["3", "2", "3"]
    assert "−1" in row and "+1" in row
    assert "not ready" in row  # a PENDING member


def test_the_overview_lists_groups_changing_in_the_next_two_trade_days(viewer_client, moving_group):
    section = viewer_client.get("/").content.decode().split('id="overview-groups"')[1]
    assert "PGSB_1_PDRP68" in section.split("</section>")[0]


def test_a_group_page_highlights_who_joins_and_leaves(viewer_client, moving_group):
    tomorrow = viewer_client.get(f"/groups/{moving_group.pk}/", {"day": "1"}).content.decode()
    assert "Leaving on" in tomorrow and "leave-1" in tomorrow.split('id="group-leaving"')[1]
    after = viewer_client.get(f"/groups/{moving_group.pk}/", {"day": "2"}).content.decode()
    assert "joins" in after.split('id="member-')[0] or "joins" in after
    fragment = viewer_client.get(
        f"/groups/{moving_group.pk}/", {"day": "2"}, headers={"HX-Request": "true"}
    )
    assert fragment.content.lstrip().startswith(b'<section id="group-members"')


def test_group_members_csv(viewer_client, moving_group):
    response = viewer_client.get(f"/groups/{moving_group.pk}/members.csv", {"day": "0"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(r[rows[0].index("partner_reference")] for r in rows[1:]) == [
        "leave-1", "pending-1", "stay-1",
    ]  # fmt: skip


def test_the_timeline_shows_every_field_strikes_cancelled_and_counts_down(viewer_client):
    meter = make_meter(partner_reference="pump-7")
    start = datetime.now(UTC) + timedelta(hours=3)
    make_timeslot(meter=meter, start_time=start, energy_kw=125.5, nomination_kw=100,
                  priority=2, is_voluntary=True, performance_compensation_cap="up-to-nomination",
                  dispatch_event_types=["CAPACITY"], programs=["ELRP"])  # fmt: skip
    make_timeslot(meter=meter, start_time=start + timedelta(hours=2), cancelled=True)
    body = viewer_client.get("/dispatch/", {"view": "week"}).content.decode()
    assert "Next start in 2h 5" in body or "Next start in 3h" in body
    for text in ("125.5", "100.0", "voluntary", "up-to-nomination", "CAPACITY", "ELRP", "pump-7"):
        assert text in body
    assert body.count("is-cancelled") == 1
    hidden = viewer_client.get("/dispatch/", {"cancelled": "0"}).content.decode()
    assert "is-cancelled" not in hidden


def test_past_events_show_the_diff_of_their_versions(viewer_client):
    slot = make_timeslot(start_time=datetime.now(UTC) - timedelta(hours=5), version=2)
    DispatchTimeslotVersion.objects.create(
        timeslot=slot, version=1, kind="created", source="webhook"
    )
    DispatchTimeslotVersion.objects.create(
        timeslot=slot, version=2, kind="updated", source="webhook", changes={"energy_kw": [50, 80]}
    )
    body = viewer_client.get("/dispatch/", {"view": "past"}).content.decode()
    assert "<del>50</del> → <ins>80</ins>" in body
    detail = viewer_client.get(f"/dispatch/events/{slot.event_id}/").content.decode()
    assert "energy_kw" in detail and "Raw JSON" in detail


@pytest.mark.parametrize("count", [2, 20])
def test_the_timeline_costs_the_same_queries_for_few_and_many_rows(
    viewer_client, django_assert_num_queries, count
):
    group = make_group()
    for i in range(count):
        make_timeslot(start_time=datetime.now(UTC) + timedelta(hours=i + 1))
        make_timeslot(level="group", market_group=group, market_group_uuid=group.pk,
                      meter_uuid=None, start_time=datetime.now(UTC) + timedelta(hours=i + 1))  # fmt: skip
    viewer_client.get("/dispatch/")
    # 1 of them: the stale-data banner (its three parts in one query); plus the capped count once
    # there is a second page; +1: the navigation (saved views and the alert count together; the
    # view reads the time-zone preference itself, before the page renders). The user's own and
    # group permissions: 1 (leapportal.auth.PermissionsBackend).
    with django_assert_num_queries(10 if count > 10 else 9):
        assert viewer_client.get("/dispatch/", {"per_page": "25"}).status_code == 200


@time_machine.travel(datetime(2026, 3, 8, 6, 0, tzinfo=UTC), tick=False)
def test_a_dst_day_in_los_angeles_is_23_hours_and_named(viewer_client):
    """2026-03-08: clocks jump from 02:00 PST to 03:00 PDT."""
    meter = make_meter(partner_reference="la-1")
    make_timeslot(meter=meter, start_time=datetime(2026, 3, 8, 9, 30, tzinfo=UTC))  # 01:30 PST
    make_timeslot(meter=meter, start_time=datetime(2026, 3, 8, 10, 30, tzinfo=UTC))  # 03:30 PDT
    body = viewer_client.get(
        "/dispatch/", {"view": "day", "date": "2026-03-08", "region": "CAISO"}
    ).content.decode()
    assert '2026-03-08 01:30 <span class="tz">PST</span>' in body
    assert '2026-03-08 03:30 <span class="tz">PDT</span>' in body
    assert '2026-03-08 00:00 <span class="tz">PST</span>' in body  # window start, local midnight


@time_machine.travel(datetime(2026, 11, 1, 6, 0, tzinfo=UTC), tick=False)
def test_the_repeated_hour_on_2026_11_01_is_shown_twice_with_its_zone(viewer_client):
    meter = make_meter(partner_reference="la-1")
    make_timeslot(meter=meter, start_time=datetime(2026, 11, 1, 8, 30, tzinfo=UTC))  # 01:30 PDT
    make_timeslot(meter=meter, start_time=datetime(2026, 11, 1, 9, 30, tzinfo=UTC))  # 01:30 PST
    body = viewer_client.get(
        "/dispatch/", {"view": "day", "date": "2026-11-01", "region": "CAISO"}
    ).content.decode()
    assert '2026-11-01 01:30 <span class="tz">PDT</span>' in body
    assert '2026-11-01 01:30 <span class="tz">PST</span>' in body
    viewer_client.post("/me/time-zone", {"time_zone": "utc"})
    utc = viewer_client.get("/dispatch/", {"view": "day", "date": "2026-11-01"}).content.decode()
    assert '2026-11-01 08:30 <span class="tz">UTC</span>' in utc


def test_a_group_page_lists_its_members_by_partner_reference_page_after_page(viewer_client):
    today = trade_date("CAISO", datetime.now(UTC))
    group = make_group("PAGED_GROUP")
    references = [f"ref-{i:03d}" for i in range(30)]
    for reference in reversed(references):  # created in the opposite order
        _assign(make_meter(partner_reference=reference), group, today)
    shown = []
    for page in ("1", "2", "3"):
        body = viewer_client.get(f"/groups/{group.pk}/", {"per_page": "25", "page": page})
        shown += [r for r in references if f">{r}</a>" in body.content.decode()]
    assert shown == references


def test_the_timeline_by_meter_sorts_by_the_meters_reference_and_links_each_row(viewer_client):
    start = datetime.now(UTC) + timedelta(hours=2)
    slots = {
        reference: make_timeslot(meter=make_meter(partner_reference=reference), start_time=start)
        for reference in ("zulu-1", "alpha-1", "mike-1")
    }
    group = make_group("LINKED_GROUP")
    make_timeslot(level="group", market_group=group, market_group_uuid=group.pk, meter_uuid=None,
                  start_time=start)  # fmt: skip
    # The day of the timeslot (UTC without a region): two hours ahead is tomorrow after 22:00.
    day = start.date().isoformat()
    body = viewer_client.get(
        "/dispatch/", {"view": "day", "by": "meter", "date": day}
    ).content.decode()
    rows = [
        body.index(f'id="timeslot-{slots[r].event_id}"') for r in ("alpha-1", "mike-1", "zulu-1")
    ]
    assert rows == sorted(rows)
    for slot in slots.values():
        assert f'href="{reverse("dispatch:event", args=[slot.event_id])}"' in body
        assert f'href="{reverse("meters:detail", args=[slot.meter_id])}"' in body
    assert f'href="{reverse("ops:group", args=[group.pk])}"' in body


@pytest.mark.parametrize("view", ["day", "week"])
def test_the_timeline_by_meter_shows_a_parked_dispatch_under_its_meter_uuid(viewer_client, view):
    """A meter-level dispatch for a meter we do not have yet (parked: no meter row) still shows."""
    parked = make_timeslot(start_time=datetime.now(UTC) + timedelta(hours=2))
    assert parked.meter_id is None
    day = parked.start_time.date().isoformat()  # after 22:00 UTC, two hours ahead is tomorrow
    response = viewer_client.get("/dispatch/", {"view": view, "by": "meter", "date": day})
    assert response.status_code == 200
    assert f'id="timeslot-{parked.event_id}"' in response.content.decode()
    assert str(parked.meter_uuid) in response.content.decode()


def test_the_timeline_by_meter_follows_a_meter_mapped_to_a_new_reference(viewer_client):
    """The order is the meters' present references (the mapping can change them after the
    dispatch arrived), not the reference Leap's notification carried."""
    start = datetime.now(UTC) + timedelta(hours=2)
    first, second = make_meter(partner_reference="b-site"), make_meter(partner_reference="c-site")
    slots = [make_timeslot(meter=m, start_time=start, partner_reference=m.partner_reference)
             for m in (first, second)]  # fmt: skip
    params = {"view": "day", "by": "meter", "date": start.date().isoformat()}

    def order() -> list[int]:
        body = viewer_client.get("/dispatch/", params).content.decode()
        return [body.index(f'id="timeslot-{s.event_id}"') for s in slots]

    assert order() == sorted(order())
    second.partner_reference = "a-site"  # remapped by an admin
    second.save()
    assert order() == sorted(order(), reverse=True)
