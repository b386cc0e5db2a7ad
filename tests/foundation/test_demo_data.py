"""The demo data looks like a real portfolio (issue 12): what `seed_demo` leaves in the database.

seed_demo runs here as in `make demo`: against the simulator served over HTTP, with our web
server (live_server) up to receive Leap's dispatch webhooks while seeding.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import modify_settings, override_settings
from pytest_django.live_server_helper import LiveServer

from dispatch.models import DispatchAllocation, DispatchTimeslot, ReconcileFinding, ReconcileRun
from leap.simulator import Simulator, catalog
from leap.simulator.server import SimulatorServer
from leapportal.demo import ensure_demo_logins, map_demo_meters, seed_demo
from mapping.models import MappingChange, MappingImport, MeterMapping
from meters import reason_codes
from meters.models import Meter, ReasonCode, RequiredAction
from ops import queue
from tests.pgbackend.copies import copy_rows, put_back

ADMIN_TOKEN = "demo-data-test-admin-token"
METERS = 200
BEFORE_SEEDING = "demo_data_before_seeding"  # the schema of the copy


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """seed_demo run once for the module against a 200-meter simulator, with our receivers at a
    live server; its rows are committed, each test reads them in its own rolled-back transaction
    (`db`), and the module's end puts back the rows from before (what migrate installed: these
    tests run among the rolled-back ones, which rely on it)."""
    with django_db_blocker.unblock():
        copy_rows(connection, BEFORE_SEEDING)
    try:
        with django_db_blocker.unblock():
            report = _seed_demo()
        assert not [s for s in report.skipped if "not in this checkout" not in s], report.skipped
        yield report
    finally:
        with django_db_blocker.unblock():
            put_back(connection, BEFORE_SEEDING)


def _seed_demo():
    live_server = LiveServer("localhost")
    sim = Simulator(seed=42, meters=METERS, admin_token=ADMIN_TOKEN, realtime=True)
    server = SimulatorServer(sim).serve_in_thread()
    try:
        with (
            modify_settings(ALLOWED_HOSTS={"append": "localhost"}),
            override_settings(
                LEAP_SIMULATOR=True, LEAP_BASE_URL=server.url, PUBLIC_BASE_URL=live_server.url
            ),
            pytest.MonkeyPatch.context() as monkeypatch,
        ):
            monkeypatch.setenv("LEAP_SIMULATOR_ADMIN_TOKEN", ADMIN_TOKEN)
            ensure_demo_logins("pw")
            # What migrate installs; a transactional test before this one may have flushed it.
            reason_codes.seed(ReasonCode)
            return seed_demo()
    finally:
        server.stop()
        live_server.stop()


def test_four_meters_in_five_are_mapped_to_a_customer_and_site_by_an_applied_import(seeded, db):
    mappings = list(MeterMapping.objects.all())
    assert len(mappings) == round(Meter.objects.count() * 0.8)
    assert all(m.customer_id and m.site_id and m.label for m in mappings)
    assert len({m.site_id for m in mappings}) == len(mappings)  # one meter per site
    [upload] = MappingImport.objects.all()
    assert upload.status == MappingImport.Status.APPLIED and upload.uploaded_by.username == "admin"
    assert MappingChange.objects.filter(source="csv").count() == len(mappings)


def test_a_second_seeding_maps_nothing_again(seeded, db):
    assert map_demo_meters() == "every meter the demo maps is mapped already"
    assert MappingImport.objects.count() == 1


def test_the_demo_dispatches_arrive_by_webhook_and_the_poll_finds_nothing_missed(seeded, db):
    timeslots = list(DispatchTimeslot.objects.all())
    assert {t.level for t in timeslots} == {"meter", "group"}
    assert {t.first_source for t in timeslots} == {"webhook"}
    assert ReconcileRun.objects.filter(status="done").exists()  # the fallback still ran
    assert not ReconcileFinding.objects.filter(kind="missed_webhook").exists()


def test_every_member_of_a_demo_group_dispatch_is_in_the_group_on_its_trade_date(seeded, db):
    allocations = list(DispatchAllocation.objects.select_related("timeslot"))
    group_members = [a for a in allocations if a.timeslot.level == "group"]
    assert len({a.timeslot_id for a in group_members}) >= 2 and len(group_members) >= 20
    assert [a.flags for a in allocations if a.flags] == []


def test_partner_action_deadlines_spread_over_the_coming_weeks_a_few_overdue(seeded, db):
    now = datetime.now(UTC)
    deadlines = list(
        RequiredAction.objects.filter(side="partner").values_list("deadline", flat=True)
    )
    assert len(deadlines) >= 20 and None not in deadlines
    overdue = [d for d in deadlines if d < now]
    coming = [d for d in deadlines if now <= d <= now + timedelta(weeks=7)]
    assert 0 < len(overdue) <= len(deadlines) * 0.3
    assert len(overdue) + len(coming) == len(deadlines)  # nothing years away
    assert len({d.date() for d in coming}) >= 10
    assert max(coming) - min(coming) >= timedelta(weeks=4)


def test_every_customer_email_comes_from_a_reason_that_agrees_with_the_action(seeded, db):
    """An action's code and its action type name the same party; the email is the code's."""
    reasons = {r.code: r for r in ReasonCode.objects.all()}
    for code, action_type, _text in catalog.PARTNER_ACTIONS:
        if code in reasons and not reasons[code].needs_guidance:
            assert reasons[code].who_acts == reasons[action_type].who_acts, (code, action_type)
    actions = list(RequiredAction.objects.filter(side="partner").select_related("meter"))
    queue.decorate(actions, queue.reason_codes(actions))
    emailed = [a for a in actions if a.email_body]
    assert {a.code for a in emailed} >= {"AUTH_0001", "MRKT_0002"}
    for action in emailed:
        assert action.email_body.startswith(f"Dear {action.meter.end_customer_name},")
        assert action.reason.who_acts == reasons[action.action_type].who_acts, action.code


def test_the_simulator_dispatches_a_group_only_while_its_delivery_period_runs():
    now = datetime(2026, 12, 5, 8, tzinfo=UTC)
    sim = Simulator(seed=42, meters=200, now=now)
    later = next(g for g in sim.market_groups.values() if g.period.start > now + timedelta(days=2))
    with pytest.raises(ValueError, match="delivers"):
        sim.create_dispatch(market_group_id=later.market_group_id, start=now + timedelta(hours=2))
    current = next(g for g in sim.market_groups.values() if g.period.start <= now < g.period.end)
    assert sim.create_dispatch(
        market_group_id=current.market_group_id, start=now + timedelta(hours=2)
    )
