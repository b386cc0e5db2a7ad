"""What made the dashboard pages cheaper with ten people browsing 100,000 meters (issue 15,
bench/mixed_load.py), kept: the meter search through its trigram index with the same results (per
field, any case, wildcards taken literally), the overview's counts per status from one GROUP BY,
the meter page's group dispatches through their members' index."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from dispatch.models import DispatchTimeslot
from meters.forms import SEARCH_FIELDS, search
from meters.models import Meter
from ops.overview import STATUS_ORDER, meters_by_status
from tests.dashboard.factories import make_meter, make_timeslot


@pytest.mark.django_db
@pytest.mark.parametrize("field", SEARCH_FIELDS)
def test_the_search_finds_a_term_in_each_searched_field_any_case(field):
    hit = make_meter(**{field: "Orchard Co-op"})
    make_meter()
    found = set(search(Meter.objects.all(), "oRCHARD co").values_list("pk", flat=True))
    assert found == {hit.pk}


@pytest.mark.django_db
def test_the_search_does_not_match_across_two_fields_nor_treat_wildcards_as_such():
    make_meter(end_customer_name="Apple", end_customer_company_name="Orchard")
    make_meter(end_customer_name="50% off_", street_1="1 Main St")
    assert not search(Meter.objects.all(), "apple\norchard").exists()
    assert not search(Meter.objects.all(), "appleorchard").exists()
    assert search(Meter.objects.all(), "50% off_").count() == 1
    assert not search(Meter.objects.all(), "5_%").exists()


@pytest.mark.django_db
def test_the_search_is_answered_by_the_trigram_index():
    # The index (meters migration 0011) and meters.forms.SearchDocument must state the same
    # expression: otherwise PostgreSQL silently reads every meter again.
    make_meter()
    query = search(Meter.objects.all(), "orchard").values("pk")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "meter_search_trgm" in plan


@pytest.mark.django_db
def test_the_overview_counts_per_status_match_their_definitions():

    gone = datetime(2026, 1, 1, tzinfo=UTC)
    for status in ["ACTIVE", "ACTIVE", "PENDING", "INELIGIBLE", ""]:
        for archived in (False, True):
            for missing in (None, gone):
                for action in (False, True):
                    make_meter(
                        global_enrollment_status=status,
                        is_archived=archived,
                        missing_since=missing,
                        action_required=action,
                    )
    live = Meter.objects.live()
    expected = {
        "live": live.count(),
        "archived": Meter.objects.filter(is_archived=True).count(),
        "missing": Meter.objects.filter(missing_since__isnull=False).count(),
        "action_required": live.filter(action_required=True).count(),
        **{s: live.filter(global_enrollment_status=s).count() for s in STATUS_ORDER},
    }
    figures = meters_by_status()
    assert {k: figures[k] for k in expected} == expected
    assert figures["statuses"] == [(s, expected[s]) for s in STATUS_ORDER]
    assert (figures["live"], figures["ACTIVE"], figures["archived"]) == (10, 4, 20)


@pytest.mark.django_db
def test_the_meter_pages_dispatches_are_found_through_indexes(viewer_client):
    meter, other = make_meter(), make_meter()
    make_timeslot(meter=meter, partner_reference="own-slot")
    for members in ([meter], [other]):
        make_timeslot(
            level="group",
            meter_uuid=None,
            market_group_uuid=uuid.uuid4(),
            group_meter_ids=[str(m.pk) for m in members],
        )
    query = DispatchTimeslot.objects.filter(
        level="group", group_meter_ids__contains=[str(meter.pk)]
    ).values("pk")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "timeslot_group_members" in plan
    page = viewer_client.get(f"/meters/{meter.pk}/")
    assert page.status_code == 200
    assert page.content.count(b"/dispatch/events/") == 2


@pytest.mark.django_db
def test_the_stale_banner_reads_its_three_parts_in_one_query(django_assert_num_queries):
    from datetime import UTC, datetime, timedelta

    from dispatch.models import ReconcileRun
    from leapportal.heartbeat import record_heartbeat
    from meters.models import SyncRun
    from ops.health import stale_warnings

    now = datetime.now(UTC)
    with django_assert_num_queries(1):
        assert {w.key for w in stale_warnings(now)} == {"sync", "worker"}
    old, new = now - timedelta(hours=3), now - timedelta(minutes=1)
    # The latest good sync counts (not a newer failed or unfinished one, nor a newer older-kind).
    SyncRun.objects.create(kind="incremental", status="done", started_at=old, finished_at=old)
    SyncRun.objects.create(kind="full", status="failed", started_at=new, finished_at=new)
    SyncRun.objects.create(kind="full", status="running", started_at=new)
    # The latest done reconcile by start; unfinished, it warns of nothing.
    ReconcileRun.objects.create(
        status="done", started_at=old, finished_at=old, window_start=now, window_end=now
    )
    record_heartbeat("w1@host", now=now - timedelta(minutes=30))
    record_heartbeat("w2@host", now=old)
    with django_assert_num_queries(1):
        warnings = {w.key: w.message for w in stale_warnings(now)}
    assert warnings == {
        "sync": "Meter data is 3h 00m old: the last good sync finished 3h 00m ago.",
        "dispatch": "Dispatches were last reconciled with Leap 3h 00m ago.",
        "worker": "No background worker seen for 30m.",
    }
    ReconcileRun.objects.create(
        status="done", started_at=new, finished_at=None, window_start=now, window_end=now
    )
    SyncRun.objects.create(kind="full", status="held", started_at=new, finished_at=new)
    record_heartbeat("w2@host", now=now)
    assert stale_warnings(now) == []


def _varied_meters():
    """Meters of every kind a list row shows differently, with HTML-special text from Leap."""
    from datetime import UTC, datetime, timedelta

    from mapping.models import MeterMapping, SharedSite
    from meters.models import GroupAssignment
    from tests.dashboard.factories import make_action, make_group

    now = datetime.now(UTC)
    nasty = '<b>Tom & "Jerry\'s"</b>'
    meters = [
        make_meter(partner_reference=f"ref-{i}", end_customer_name=f"Agree {i}") for i in range(4)
    ]  # mapped with customer id = reference: the convention, so a mismatch is flagged
    meters += [
        make_meter(
            partner_reference=nasty, end_customer_name=nasty, end_customer_company_name=nasty,
            street_1=nasty, city="<i>Fresno</i>", state_or_province_code="C&A",
            load_types=["EV<script>", "A&B"], meter_type="<SUB>", transmission_region="ERCOT",
            global_enrollment_status='PEND"ING',
        ),
        make_meter(
            partner_reference=None, end_customer_name=None, end_customer_company_name=None,
            street_1=None, city=None, state_or_province_code=None, load_types=[],
            meter_type=None, transmission_region="", global_enrollment_status="",
            leap_updated_at=None,
        ),
        make_meter(is_archived=True, global_enrollment_status="INELIGIBLE", transmission_region="PJM"),
        make_meter(missing_since=now - timedelta(days=2), transmission_region="NYISO"),
        make_meter(missing_since=now, is_archived=True, load_types="HVAC"),
        make_meter(city="Austin", street_1=None, load_types=[1, None]),
        make_meter(transmission_region="<MARS&>"),  # a region without a zone of its own
    ]  # fmt: skip
    for meter in meters[:4]:
        MeterMapping.objects.create(meter=meter, customer_id=meter.partner_reference)
    MeterMapping.objects.create(
        meter=meters[4], customer_id="<C&1>", site_id="<site>", label='L"1"&<x>'
    )
    for meter, site in [(meters[6], "shared-1"), (meters[7], "shared-1"), (meters[9], "ok-site")]:
        MeterMapping.objects.create(meter=meter, customer_id=meter.partner_reference, site_id=site)
    SharedSite.objects.create(site_id="ok-site", reason="a campus")
    for meter, deadline in [(meters[0], now - timedelta(hours=5)), (meters[4], now + timedelta(hours=30)),
                            (meters[5], now + timedelta(days=20)), (meters[6], now + timedelta(seconds=20))]:  # fmt: skip
        make_action(meter, deadline=deadline)
    Meter.objects.filter(pk=meters[4].pk).update(
        open_partner_actions=1234,
        open_leap_actions=2,
        next_action_deadline=now + timedelta(hours=30),
    )
    Meter.objects.filter(pk=meters[0].pk).update(
        open_partner_actions=1, next_action_deadline=now - timedelta(hours=5)
    )
    Meter.objects.filter(pk=meters[5].pk).update(
        open_leap_actions=3, next_action_deadline=now + timedelta(days=20)
    )
    Meter.objects.filter(pk=meters[6].pk).update(next_action_deadline=now + timedelta(seconds=20))
    today = datetime.now(UTC).date()
    named, unnamed = make_group(name='<G&"1">'), make_group(name="")
    for meter in meters[:3]:
        for group in (named, unnamed) if meter is meters[0] else (named,):
            for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
                GroupAssignment.objects.create(
                    meter=meter, trade_date=day, market_group=group, source="enrollment"
                )
    return meters


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "admin"])
@pytest.mark.parametrize("zone_mode", ["market", "utc"])
@pytest.mark.parametrize("mapping", [True, False])
def test_the_meter_rows_in_python_are_the_rows_of_the_template_byte_for_byte(
    role, zone_mode, mapping, make_user, rf, settings
):
    import time_machine
    from django.template import RequestContext, Template
    from django.template.loader import get_template
    from django.utils import timezone

    from leapportal.models import UserPreference
    from meters import extensions
    from meters.views import groups_today, list_rows

    settings.MAPPING_ONE_METER_PER_SITE = True
    _varied_meters()
    user = make_user(role, is_staff=role == "admin")
    if zone_mode == "utc":
        UserPreference.objects.create(user=user, time_zone="utc")
    request = rf.get("/meters/")
    request.user = user
    with time_machine.travel(timezone.now(), tick=False):
        meters = list(extensions.annotate_list(list_rows()).order_by("partner_reference", "pk"))
        groups = groups_today(meters, timezone.now())
        for meter in meters:
            meter.groups_today = groups.get(meter.pk, [])
        row = get_template("meters/partials/meter_row.html")
        expected = "".join(
            row.render({"meter": meter, "mapping": mapping}, request) for meter in meters
        )
        rows = Template("{% load meter_rows %}{% meter_rows meters %}")
        got = rows.render(RequestContext(request, {"meters": meters, "mapping": mapping}))
    assert got == expected
    # What the rows show, so that both cannot be equally empty or equally unescaped:
    assert got.count("<tr ") == len(meters) == 11
    assert "<b>" not in got and "&lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt;" in got
    assert "EV&lt;script&gt;, A&amp;B" in got and "&lt;G&amp;&quot;1&quot;&gt;</a>" in got
    assert "<td>&lt;MARS&amp;&gt;</td>" in got
    if mapping:
        assert 'data-flag="mismatch"' in got and 'data-flag="shared_site"' in got
        assert 'data-flag="missing"' in got and 'data-flag="archived"' in got
        assert "&lt;C&amp;1&gt;" in got and ">not mapped<" in got
        assert ("Edit</a>" in got) == (role == "admin")
    else:
        assert "mapping-inline" not in got


@pytest.mark.django_db
def test_a_users_permissions_are_read_in_one_query_with_djangos_answers(
    make_user, django_assert_num_queries
):
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import Permission

    from leapportal import roles

    user = make_user("operator")
    user.user_permissions.add(Permission.objects.get(codename="edit_mapping"))
    django = ModelBackend()
    expected = (django.get_user_permissions(user), django.get_group_permissions(user))
    assert expected[0] == {roles.EDIT_MAPPING} and expected[1]
    for present in (True, False):
        fresh = type(user).objects.get(pk=user.pk)
        with django_assert_num_queries(1):
            assert fresh.has_perm(roles.VIEW)
            assert fresh.has_perm(roles.EDIT_MAPPING) is present
            assert not fresh.has_perm("leapportal.no_such_permission")
        assert (fresh.get_user_permissions(), fresh.get_group_permissions()) == expected
        assert fresh.get_all_permissions() == expected[0] | expected[1]
        if present:
            user.user_permissions.clear()
            expected = (set(), expected[1])
    # Inactive users have none; superusers all, as Django's backend says.
    inactive = make_user("operator", username="gone", is_active=False)
    assert not inactive.has_perm(roles.VIEW) and inactive.get_all_permissions() == set()
    boss = make_user(username="boss", is_superuser=True)
    assert boss.get_all_permissions() == ModelBackend().get_all_permissions(boss)
