"""Benchmark: the alerts evaluation pass at 100,000 meters, and a daily digest for 50 users.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_bench_alerts \
        flock /work/.bench.lock .venv/bin/python bench/alerts.py [--meters 100000] \
        [--actions 10000] [--users 50] [--runs 3]

Fills the database with set-based inserts (meters, 10,000 open partner actions with deadlines
from three days ago to three weeks ahead, work items, resolved actions, missing meters, mappings,
group dispatches in the next hours with unready members, events for unknown meters), then times:

- pass 1: the first evaluation, which raises every alert;
- pass 2: the same data again (steady state: nothing to raise or resolve);
- pass 3: after a fifth of the actions resolved, half the missing meters back and the clock 1 day
  later
  (alerts resolved, deadline alerts moving from 7 days to 1 day to overdue);
- the steady pass again with 50 users holding preferences (it must not grow with users);
- the floor: the cause queries alone (SELECT count(*) over the same joins, no writes);
- a daily digest for --users people: queuing their messages (notify_all at their digest hour),
  then sending them through a real SMTP server on loopback (aiosmtpd).

Targets (issue 18): each pass <= 5 s, not growing with users; the digest for 50 users <= 10 s.
A script, not a test: copy its table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def setup_django() -> None:
    from bench.database import bench_database

    bench_database(
        "lp_bench_alerts"
    )  # created if missing; emptied, so its name must contain "bench"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


FILL = """
TRUNCATE alerts_alertchange, alerts_alert, alerts_outboundmessage, alerts_notificationpreference,
    alerts_countersample, dispatch_dispatchallocation, dispatch_dispatchtimeslotversion,
    dispatch_reconcilefinding, dispatch_dispatchtimeslot, ops_actionworkitemchange,
    ops_actionworkitem, meters_requiredaction, mapping_metermapping, meters_meterevent,
    meters_meterchange, meters_groupassignment, meters_programenrollment, meters_marketgroup
    CASCADE;
DELETE FROM meters_meter;
INSERT INTO meters_meter (meter_id, partner_reference, transmission_region, load_types,
    connection_references, tags, is_archived, end_customer_name, end_customer_email, city,
    global_enrollment_status, action_required, open_partner_actions, open_leap_actions,
    details_hash, enrollment_hash, first_seen_at, last_seen_at, missing_since)
SELECT md5('m' || i)::uuid, 'site-' || i, 'CAISO', '[]', '[]', '[]', false,
       'Customer ' || i, 'customer' || i || '@example.com', 'Fresno',
       CASE WHEN i %% 10 = 0 THEN 'PENDING' ELSE 'ACTIVE' END, false, 0, 0, '', '',
       now(), now(), CASE WHEN i %% 50 = 0 THEN now() - interval '2 days' END
FROM generate_series(1, %(meters)s) i;
INSERT INTO mapping_metermapping (meter_id, customer_id, site_id, label, created_at, updated_at,
    updated_by)
SELECT md5('m' || i)::uuid, 'c' || i, '', '', now(), now(), 'bench'
FROM generate_series(1, %(meters)s) i WHERE i %% 5 <> 0;
-- open partner actions on every (meters / actions)-th meter, deadlines -3 .. +21 days
INSERT INTO meters_requiredaction (meter_id, side, program_identifier, delivery_period,
    action_type, code, description, deadline, first_seen_at, last_seen_at)
SELECT md5('m' || (1 + (i * (%(meters)s / %(actions)s)) %% %(meters)s))::uuid, 'partner', 'CCA',
       'P' || i, 'IS_AUTHORIZED', 'AUTH_0001', 'End customer must re-authorize the meter',
       now() + ((i %% 24) - 3) * interval '1 day' + (i %% 17) * interval '1 hour',
       now() - (i %% 72) * interval '1 hour', now()
FROM generate_series(1, %(actions)s) i;
-- as many resolved and Leap-side actions, which the pass must skip
INSERT INTO meters_requiredaction (meter_id, side, program_identifier, delivery_period,
    action_type, code, description, deadline, first_seen_at, last_seen_at, resolved_at)
SELECT md5('m' || (1 + (i * 7) %% %(meters)s))::uuid, CASE WHEN i %% 2 = 0 THEN 'leap'
       ELSE 'partner' END, 'CCA', 'R' || i, 'IS_AUTHORIZED', 'SERV_0005', 'old',
       now() + interval '2 days', now() - interval '30 days', now(),
       CASE WHEN i %% 2 = 1 THEN now() - interval '1 day' END
FROM generate_series(1, %(actions)s) i;
INSERT INTO ops_actionworkitem (action_id, state, note, updated_at)
SELECT id, CASE WHEN id %% 3 = 0 THEN 'done' ELSE 'contacted' END, '', now()
FROM meters_requiredaction WHERE side = 'partner' AND resolved_at IS NULL AND id %% 10 < 3;
-- 20 group dispatches in the next 5 hours, 250 members each (some not ACTIVE / not mapped)
INSERT INTO meters_marketgroup (market_group_id, name, region, program_identifier,
    first_seen_at, updated_at)
SELECT md5('g' || g)::uuid, 'GROUP_' || g, 'CAISO', 'CCA', now(), now()
FROM generate_series(1, 20) g;
INSERT INTO dispatch_dispatchtimeslot (event_id, level, market_group_id, market_group_uuid,
    group_meter_ids, group_partner_references, start_time, end_time, cancelled, energy_kw,
    performance_compensation_cap, priority, is_voluntary, dispatch_event_types, programs,
    communication_test, integration_test, raw, content_hash, effective_hash, version,
    first_source, first_seen_at, last_seen_at, changed_at, applied_received_at, recheck,
    recheck_note)
SELECT md5('t' || g)::uuid, 'group', md5('g' || g)::uuid, md5('g' || g)::uuid, '[]', '[]',
       now() + g * interval '15 minutes', now() + g * interval '15 minutes' + interval '1 hour',
       false, 100, '', 5, false, '[]', '[]', false, false, '{}', 'x', '', 1, 'webhook',
       now(), now(), now(), now(), '', ''
FROM generate_series(1, 20) g;
INSERT INTO dispatch_dispatchallocation (timeslot_id, meter_id, meter_uuid, share_kw, followed,
    reason, flags, planned_at, bound_by, segments)
SELECT ts.id, md5('m' || (1 + (g * 1000 + k) %% %(meters)s))::uuid,
       md5('m' || (1 + (g * 1000 + k) %% %(meters)s))::uuid, 0.4, true,
       '', '[]', now(), '', '[]'
FROM generate_series(1, 20) g JOIN dispatch_dispatchtimeslot ts ON ts.event_id = md5('t' || g)::uuid
CROSS JOIN generate_series(1, 250) k;
-- events for 50 meters we do not know
INSERT INTO dispatch_dispatchtimeslot (event_id, level, meter_uuid, group_meter_ids,
    group_partner_references, start_time, end_time, cancelled, energy_kw,
    performance_compensation_cap, priority, is_voluntary, dispatch_event_types, programs,
    communication_test, integration_test, raw, content_hash, effective_hash, version,
    first_source, first_seen_at, last_seen_at, changed_at, applied_received_at, recheck,
    recheck_note)
SELECT md5('u' || u)::uuid, 'meter', md5('unknown' || u)::uuid, '[]', '[]',
       now() + interval '2 hours', now() + interval '3 hours', false, 10, '', 5, false, '[]',
       '[]', false, false, '{}', 'x', '', 1, 'webhook', now(), now(), now(), now(), '', ''
FROM generate_series(1, 50) u;
INSERT INTO dispatch_dispatchallocation (timeslot_id, meter_id, meter_uuid, share_kw, followed,
    reason, flags, planned_at, bound_by, segments)
SELECT id, NULL, meter_uuid, 10, true, '', '["unknown_meter"]', now(), '', '[]'
FROM dispatch_dispatchtimeslot WHERE level = 'meter';
"""

FLOOR = [
    "SELECT count(*) FROM meters_requiredaction ra JOIN meters_meter m ON m.meter_id = ra.meter_id "
    "LEFT JOIN ops_actionworkitem w ON w.action_id = ra.id WHERE ra.side = 'partner' "
    "AND ra.resolved_at IS NULL AND m.missing_since IS NULL AND NOT m.is_archived",
    "SELECT count(*) FROM meters_meter WHERE missing_since IS NOT NULL AND NOT is_archived",
    "SELECT count(*) FROM dispatch_dispatchallocation al JOIN dispatch_dispatchtimeslot ts "
    "ON ts.id = al.timeslot_id LEFT JOIN meters_meter m ON m.meter_id = al.meter_id "
    "LEFT JOIN mapping_metermapping mm ON mm.meter_id = al.meter_uuid WHERE NOT ts.cancelled",
    "SELECT count(*) FROM alerts_alert WHERE resolved_at IS NULL",
]


def timed(fn, runs: int = 1):
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    setup_django()

    from django.contrib.auth import get_user_model
    from django.db import connection

    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FILL, {"meters": args.meters, "actions": args.actions})
        cursor.execute("ANALYZE")
    get_user_model().objects.filter(username__startswith="bench-").delete()
    print(f"filled {args.meters:,} meters, {args.actions:,} open actions in "
          f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    later = evaluations(args)
    digest(args, later)


def evaluations(args: argparse.Namespace) -> datetime:
    """Time the evaluation passes (and the floor), print them; the moment of the last pass."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from alerts import evaluate, notify
    from alerts.models import Alert, NotificationPreference
    from meters.models import Meter, RequiredAction

    rows = []

    def floor() -> None:
        with connection.cursor() as cursor:
            for sql in FLOOR:
                cursor.execute(sql)
                cursor.fetchall()

    now = timezone.now()
    med, worst, r = timed(lambda: evaluate.evaluate(now))
    rows.append(("pass 1: raise everything", med, worst, r))
    med, worst, r = timed(lambda: evaluate.evaluate(now), args.runs)
    rows.append(("pass 2: steady, 0 users", med, worst, r))
    fmed, fworst, _ = timed(floor, args.runs)

    RequiredAction.objects.filter(
        pk__in=RequiredAction.objects.filter(side="partner", resolved_at__isnull=True)
        .order_by("id")
        .values("id")[: args.actions // 5]
    ).update(resolved_at=now)
    Meter.objects.filter(
        pk__in=Meter.objects.filter(missing_since__isnull=False)
        .order_by("pk")
        .values("pk")[: args.meters // 100]
    ).update(missing_since=None)
    later = now + timedelta(days=1)
    med, worst, r = timed(lambda: evaluate.evaluate(later))
    rows.append(("pass 3: resolve + deadlines move", med, worst, r))

    User = get_user_model()
    users = [
        User.objects.create_user(f"bench-{i}", email=f"bench-{i}@ops.example")
        for i in range(args.users)
    ]
    for user in users:
        pref = notify.start_preference(user)
        pref.last_alert_id = 0  # everything raised so far is new to them
        pref.email_enabled = True
        pref.mode = NotificationPreference.Mode.DAILY
        pref.digest_hour = 8
        pref.time_zone = "America/Los_Angeles"
        pref.kinds = [] if user.pk % 2 else ["overdue", "deadline_1d", "dispatch_unready"]
        pref.save()
    med, worst, r = timed(lambda: evaluate.evaluate(later), args.runs)
    rows.append((f"pass 2 again: steady, {args.users} users", med, worst, r))

    print(f"\nalerts live: {Alert.objects.filter(resolved_at__isnull=True).count():,}, "
          f"all: {Alert.objects.count():,}")  # fmt: skip
    print(f"{'evaluation':36} {'median s':>9} {'max s':>7}  raised resolved refreshed")
    for name, med, worst, r in rows:
        print(f"{name:36} {med:9.3f} {worst:7.3f}  {r.raised:6} {r.resolved:8} {r.refreshed:9}")
    print(f"{'floor: the cause queries, no writes':36} {fmed:9.3f} {fworst:7.3f}")

    return later


def digest(args: argparse.Namespace, later: datetime) -> None:
    """Queue the daily digest for every user and send it through an SMTP server on loopback."""
    # the daily digest, at 08:05 in Los Angeles on the day after `later`
    from zoneinfo import ZoneInfo

    from alerts import notify, sending
    from alerts.models import OutboundMessage

    la = later.astimezone(ZoneInfo("America/Los_Angeles")) + timedelta(days=1)
    digest_at = la.replace(hour=8, minute=5, second=0, microsecond=0)
    q_med, _, queued = timed(lambda: notify.notify_all(digest_at))
    sizes = [
        len(b) for b in OutboundMessage.objects.filter(pk__in=queued).values_list("body", flat=True)
    ]

    from aiosmtpd.controller import Controller
    from django.conf import settings

    class Sink:
        received = 0

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            Sink.received += 1
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    try:
        s_med, _, statuses = timed(lambda: [sending.send(i) for i in queued])
    finally:
        controller.stop()
    print(f"\ndaily digest for {args.users} users: queued {len(queued)} messages in {q_med:.3f} s "
          f"(bodies {min(sizes, default=0):,}-{max(sizes, default=0):,} chars), sent "
          f"{statuses.count('sent')} through SMTP on loopback in {s_med:.3f} s; "
          f"total {q_med + s_med:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
