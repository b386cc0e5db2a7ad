"""What made the dispatch timeline and sync health cheaper with ten people browsing during a full
sync and dispatch webhooks (issue 15, bench/mixed_load.py), kept: the timeline's rows rendered in
Python are the rows of their reference template, byte for byte; sync health reads the heartbeats,
the failed deliveries and the stale banner's parts once each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dispatch.models import DispatchDelivery, DispatchTimeslot, DispatchTimeslotVersion
from meters.models import WebhookDelivery
from tests.dashboard.factories import make_group, make_meter, make_timeslot

NASTY = '<b>Tom & "Jerry\'s"</b>'


def _versions(slot: DispatchTimeslot, changes: list[dict]) -> None:
    for number, change in enumerate(changes, start=1):
        DispatchTimeslotVersion.objects.create(
            timeslot=slot, version=number, kind="updated" if number > 1 else "created",
            source="webhook", changes=change, snapshot={"energy_kw": number},
        )  # fmt: skip


def _varied_timeslots(now: datetime) -> None:
    """Timeslots of every kind a timeline row shows differently, with HTML-special text."""
    nasty_meter = make_meter(partner_reference=NASTY)
    no_reference = make_meter(partner_reference=None, transmission_region="ERCOT")
    odd_region = make_meter(transmission_region="<MARS&>")  # a region without a zone of its own
    named, unnamed = make_group(name='<G&"1">', region="PJM"), make_group(name="", region="")
    hour = timedelta(hours=1)
    scheduled = make_timeslot(
        meter=nasty_meter, start_time=now + timedelta(days=1, minutes=7), energy_kw=None,
        nomination_kw=12.5, dispatch_event_types=["capacity-test", "CAPACITY", "<&>", 5],
        programs=["ELRP", "<P&>"], recheck="pending", communication_test=True,
        performance_compensation_cap="<cap&>", is_voluntary=True, version=3,
    )  # fmt: skip
    _versions(scheduled, [
        {}, {"energy_kw": [None, 20.5], "programs": [["A"], ["<B>"]], "odd": "xy"},
        {"short": [1], "keyed": {"0": "zero", "1": None}, "none": None, "<f&>": ["<o>", True]},
    ])  # fmt: skip
    running = make_timeslot(meter=no_reference, start_time=now - hour / 2, nomination_kw=0.0)
    _versions(running, [{"energy_kw": [1, 2]}])
    make_timeslot(
        meter=odd_region, start_time=now - 3 * hour, integration_test=True,
        dispatch_event_types=[], programs=[], energy_kw=1234567.891,
    )  # fmt: skip
    make_timeslot(meter=None, meter_uuid=uuid.uuid4(), cancelled=True, programs="ELRP")
    for group, start in [(named, now + timedelta(days=2)), (unnamed, now + timedelta(hours=5))]:
        slot = make_timeslot(
            level="group", meter_uuid=None, market_group=group, market_group_uuid=group.pk,
            group_meter_ids=[str(uuid.uuid4()) for _ in range(3)], start_time=start,
            cancelled=group is named, dispatch_event_types="15m", priority=1,
        )  # fmt: skip
        _versions(slot, [{}, {"cancelled": [False, True]}])
    make_timeslot(
        level="group", meter_uuid=None, market_group_uuid=uuid.uuid4(), group_meter_ids={"a": 1},
        start_time=now + timedelta(days=3), end_time=now + timedelta(days=3, minutes=5),
    )  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["group", "meter", "program"])
@pytest.mark.parametrize("zone_mode", ["market", "utc"])
def test_the_timeline_rows_in_python_are_the_rows_of_the_template_byte_for_byte(
    by, zone_mode, make_user, rf
):
    import time_machine
    from django.template import RequestContext, Template
    from django.template.loader import get_template

    from dispatch import timeline
    from leapportal.models import UserPreference

    now = datetime(2026, 3, 7, 21, 45, 30, tzinfo=UTC)  # the day before PST turns PDT
    user = make_user("viewer")
    if zone_mode == "utc":
        UserPreference.objects.create(user=user, time_zone="utc")
    request = rf.get("/dispatch/")
    request.user = user
    with time_machine.travel(now, tick=False):
        _varied_timeslots(now)
        params = {"by": by, "date": "2026-03-07", "tests": "1"}
        query = timeline.parse(params, mode=zone_mode, now=now)
        keys = timeline.timeslots(query)
        rows = timeline.layout(list(timeline.with_rows(keys)), query, zone_mode)
        context = {
            "rows": rows,
            "now": now,
            "axis_ticks": timeline.axis_ticks(timeline.axis(query)),
        }
        reference = get_template("dispatch/partials/timeline_rows.html").render(context, request)
        rendered = Template("{% load timeline_rows %}{% timeline_rows rows %}")
        got = rendered.render(RequestContext(request, context))
    assert reference.endswith("</tr>\n    \n")  # the template file's own last newline
    assert got == reference.removesuffix("\n")
    # What the rows show, so that both cannot be equally empty or equally unescaped:
    assert got.count('<tr id="timeslot-') == len(rows) == 7
    assert got.count('<tr class="group-row">') == len({row["heading"] for row in rows})
    assert "<b>Tom" not in got and "&lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt;" in got
    assert "&lt;G&amp;&quot;1&quot;&gt;</a>" in got and "(3 meters)" in got and "(1 meters)" in got
    assert (
        "CAPACITY, &lt;&amp;&gt;, 5" in got
        and "ELRP, &lt;P&amp;&gt;" in got
        and "E, L, R, P" in got
    )
    assert "checking with Leap" in got and "comm test" in got and "integration test" in got
    assert ">parked</span>" in got and "is-highlight" in got and "1,234,567.9" in got
    assert "<del>null</del> → <ins>20.5</ins>" in got and "<del>zero</del> → <ins>null</ins>" in got
    assert "<del>x</del> → <ins>y</ins>" in got and "<del>1</del> → <ins></ins>" in got
    for status in ("cancelled", "ended", "running", "scheduled"):
        assert f">{status}</span>" in got
    assert ("America/Los_Angeles" in got) == (zone_mode == "market")


def _queries_of(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries]


@pytest.mark.django_db
def test_sync_health_reads_the_heartbeats_and_the_banners_freshness_once_each(viewer_client):
    from leapportal.heartbeat import record_heartbeat

    page = viewer_client.get("/meters/sync/").content.decode()
    assert "no worker seen" in page
    record_heartbeat("w1@host", now=datetime.now(UTC) - timedelta(hours=2))
    page = viewer_client.get("/meters/sync/").content.decode()
    assert 'badge--bad">stale</span>' in page and "w1@host" in page
    record_heartbeat("w2@host")
    queries = _queries_of(viewer_client, "/meters/sync/")
    # The worker list (which says stale or alive from its latest row) and the stale banner's one
    # union of three parts; before, the view also asked for the latest heartbeat on its own and
    # computed the banner's warnings a second time, unshown.
    assert sum('FROM "leapportal_workerheartbeat"' in sql for sql in queries) == 2
    assert sum('FROM "meters_syncrun"' in sql and "UNION" in sql for sql in queries) == 1
    page = viewer_client.get("/meters/sync/").content.decode()
    assert 'badge--ok">alive</span>' in page and page.index("w2@host") < page.index("w1@host")


@pytest.mark.django_db
def test_sync_health_counts_failed_deliveries_only_when_they_fill_the_list(viewer_client):
    def counts(queries: list[str]) -> int:
        return sum(sql.startswith("SELECT COUNT(*)") and "delivery" in sql for sql in queries)

    def badge() -> str:
        page = viewer_client.get("/meters/sync/").content.decode()
        return page.split('id="failed-deliveries"')[1].split("</span>")[0].rsplit(">", 1)[1]

    assert counts(_queries_of(viewer_client, "/meters/sync/")) == 0 and badge() == "0"
    WebhookDelivery.objects.create(status="failed", error="boom")
    DispatchDelivery.objects.bulk_create(
        DispatchDelivery(level="meter", status="failed", body=b"{}", body_sha256=str(i), error="x")
        for i in range(2)
    )
    assert counts(_queries_of(viewer_client, "/meters/sync/")) == 0 and badge() == "3"
    DispatchDelivery.objects.bulk_create(
        DispatchDelivery(level="meter", status="failed", body=b"{}", body_sha256=str(i), error="x")
        for i in range(2, 25)
    )  # more than the 20 listed: counted
    assert counts(_queries_of(viewer_client, "/meters/sync/")) == 1 and badge() == "26"


@pytest.mark.django_db
def test_the_timeline_reads_no_versions_snapshot_it_does_not_show(viewer_client):
    slot = make_timeslot(version=2)
    _versions(slot, [{}, {"energy_kw": [10, 20]}])
    queries = _queries_of(viewer_client, "/dispatch/")
    read = [sql for sql in queries if 'FROM "dispatch_dispatchtimeslotversion"' in sql]
    assert len(read) == 1 and '"changes"' in read[0] and "snapshot" not in read[0]
    assert "<del>10</del> → <ins>20</ins>" in viewer_client.get("/dispatch/").content.decode()


@pytest.mark.parametrize("region", ["CAISO", "ERCOT", "NYISO", ""])
@pytest.mark.parametrize("fmt", ["", "%H:%M", "%a <%d> & %Z"])
def test_a_time_element_is_the_markup_format_html_made_of_it(region, fmt):
    from django.utils.html import format_html

    from leapportal.web import timefmt

    zone = timefmt.zone_for(region)
    for value in [
        datetime(2026, 3, 8, 9, 59, 59, tzinfo=UTC),  # 01:59:59 PST: the last second before PDT
        datetime(2026, 3, 8, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 8, 30, 15, 123456, tzinfo=UTC),
    ]:
        local = value.astimezone(zone)
        expected = format_html(
            '<time datetime="{}" title="{} ({})">{} <span class="tz">{}</span></time>',
            value.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            zone.key,
            local.strftime(fmt or "%Y-%m-%d %H:%M"),
            local.tzname(),
        )
        assert timefmt.format_dt(value, zone, fmt or "%Y-%m-%d %H:%M") == expected
    assert "&lt;" in timefmt.format_dt(value, zone, "<%d>")
    assert timefmt.format_dt(None, zone) == '<span class="muted">—</span>'
