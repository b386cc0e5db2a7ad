"""Benchmark: dashboard pages over 100,000 meters and 50,000 timeslots in PostgreSQL.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_bench_pages \
        .venv/bin/python bench/pages.py [--meters 100000] [--timeslots 50000] [--runs 40] [--reuse]
        [--writes-only]

Creates the database if needed, migrates, fills it with bulk inserts straight into the models
and vacuums it (skipped with --reuse when the counts already match), then requests every
dashboard page through Django's test client (the whole stack: middleware, permission checks,
templates) and prints, per page: p50 and p95 in milliseconds, the number of queries and the
response size. The target is p95 <= 150 ms. A script, not a test: run it by hand and copy the
table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# A queued bulk change sends its task here (purged after): no worker of anyone else takes it.
os.environ.setdefault("CELERY_QUEUE", f"bench-pages-{os.getpid()}")

REGIONS = ["CAISO"] * 5 + ["ERCOT"] * 2 + ["NYISO", "ISONE", "PJM"]
STATUSES = ["ACTIVE"] * 6 + ["ELIGIBLE"] * 2 + ["PENDING", "INELIGIBLE", "NOT_PARTICIPATING"]
CODES = [("AUTH_0001", "IS_AUTHORIZED"), ("SERV_0005", "NO_MISSING_FIELDS"),
         ("MRKT_0002", "NOT_ENROLLED_IN_CONFLICTING_PROGRAM"), ("SERV_0002", "NO_MISSING_FIELDS")]  # fmt: skip
LOAD = ["HVAC", "EV_CHARGING", "BATTERY_STORAGE", "PUMPING", "LIGHTING"]
NAMES = ["Orchard", "Dairy", "Cold Storage", "Pump House", "Winery", "School", "Clinic", "Depot"]
STREETS = ["Main St", "Oak Ave", "Canal Rd", "Mission Blvd", "Ranch Rd", "Harbor Way"]
CITIES = ["Fresno", "Austin", "Albany", "Boston", "Newark", "Modesto", "Houston"]


def setup_django() -> None:
    """Create the database if needed and set Django up."""
    from bench.database import bench_database

    # Not refused by name: --reuse keeps a filled database across runs (docs/benchmarks.md).
    bench_database("lp_bench_pages", wiped=False)
    import django

    django.setup()


def fill(n_meters: int, n_slots: int) -> None:
    """Bulk-insert the portfolio, actions, groups, enrollments, mappings and timeslots."""
    from django.db import connection

    rnd = random.Random(42)
    now = datetime.now(UTC)
    started = time.perf_counter()
    _empty_tables()
    groups, by_region = _fill_groups(rnd)
    meter_ids = _fill_meters(rnd, now, n_meters, by_region)
    _fill_mappings(meter_ids)
    _fill_timeslots(rnd, now, n_slots, meter_ids, groups)
    _fill_sync_runs(now, n_meters)
    # VACUUM as autovacuum would have by then (it may be off on the server): the visibility map
    # makes index-only scans real, and the planner sees the filled tables' sizes.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(
        f"filled {n_meters:,} meters and {n_slots:,} timeslots in {time.perf_counter() - started:.0f} s"
    )


def _empty_tables() -> None:
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        tables = ["dispatch_dispatchtimeslotversion", "dispatch_dispatchallocation",
                  "dispatch_reconcilefinding", "dispatch_dispatchtimeslot", "meters_groupassignment",
                  "meters_programenrollment", "ops_actionworkitemchange", "ops_actionworkitem",
                  "meters_requiredaction", "meters_meterchange", "meters_meterevent",
                  "meters_participationpreference", "meters_syncrun", "meters_marketgroup"]  # fmt: skip
        if apps.is_installed("mapping"):
            tables.append("mapping_metermapping")
        cursor.execute(f"TRUNCATE {', '.join(tables)}, meters_meter CASCADE")


def _fill_groups(rnd: random.Random) -> tuple[list[Any], dict[str, list[Any]]]:
    """200 market groups over the regions: (the groups, the groups of each region)."""
    from meters.models import MarketGroup

    groups = [
        MarketGroup(
            market_group_id=uuid.UUID(int=rnd.getrandbits(128)),
            name=f"GRP_{i:03d}",
            region=REGIONS[i % len(REGIONS)],
            program_identifier="CCA",
        )  # fmt: skip
        for i in range(200)
    ]
    MarketGroup.objects.bulk_create(groups)
    by_region: dict[str, list[MarketGroup]] = {}
    for g in groups:
        by_region.setdefault(g.region, []).append(g)

    return groups, by_region


def _fill_meters(
    rnd: random.Random, now: datetime, n_meters: int, by_region: dict[str, list[Any]]
) -> list[uuid.UUID]:
    """The meters with their enrollments, actions and three days of group assignments."""
    from django.db import transaction

    from leapportal.timezones import trade_date
    from meters.models import GroupAssignment, Meter, ProgramEnrollment, RequiredAction

    meter_ids = []
    batch = 5000
    for start in range(0, n_meters, batch):
        meters, enrollments, actions, assignments = [], [], [], []
        for i in range(start, min(start + batch, n_meters)):
            mid = uuid.UUID(int=rnd.getrandbits(128))
            meter_ids.append(mid)
            region = REGIONS[i % len(REGIONS)]
            status = rnd.choice(STATUSES)
            open_actions = 1 if i % 10 == 0 else 0
            deadline = now + timedelta(hours=rnd.randint(-72, 400)) if open_actions else None
            meters.append(Meter(
                meter_id=mid, partner_reference=f"site-{i:06d}", transmission_region=region,
                global_enrollment_status=status, meter_type=rnd.choice(["UTILITY_METER", "SUBMETER"]),
                load_types=[rnd.choice(LOAD)], end_customer_name=f"{rnd.choice(NAMES)} {i}",
                end_customer_email=f"c{i}@example.com", street_1=f"{i} {rnd.choice(STREETS)}",
                city=rnd.choice(CITIES), state_or_province_code="CA", postal_code="93701",
                utility_name="PGE", electric_service_account_number=f"ACC{i:08d}",
                is_archived=i % 97 == 0, missing_since=now if i % 211 == 0 else None,
                action_required=bool(open_actions), open_partner_actions=open_actions,
                next_action_deadline=deadline, leap_updated_at=now - timedelta(minutes=i % 5000),
                details_raw={"meter_id": str(mid), "padding": "x" * 600},
                enrollment_raw={"meter_id": str(mid), "program_enrollment": []},
            ))  # fmt: skip
            group = by_region[region][i % len(by_region[region])]
            enrollments.append(ProgramEnrollment(
                meter_id=mid, program_identifier="CCA", delivery_period="CAISO-CCA_2026",
                delivery_period_start=now - timedelta(days=30), delivery_period_end=now + timedelta(days=60),
                enrollment_status=status, market_group=group, market_group_name=group.name,
            ))  # fmt: skip
            if open_actions:
                code, kind = CODES[i % len(CODES)]
                actions.append(RequiredAction(meter_id=mid, side="partner", code=code,
                                              action_type=kind, program_identifier="CCA",
                                              delivery_period="CAISO-CCA_2026",
                                              description="There are missing fields: Load Zone",
                                              deadline=deadline))  # fmt: skip
            if i % 25 == 0:
                actions.append(RequiredAction(meter_id=mid, side="leap", code="LEAP_0001",
                                              action_type="IS_ASSIGNED_TO_A_RESOURCE",
                                              program_identifier="CCA", delivery_period="P",
                                              deadline=now + timedelta(days=5)))  # fmt: skip
            if status == "ACTIVE" or i % 3 == 0:
                today = trade_date(region, now)
                for day in range(3):
                    moved = day > 0 and i % 500 == day  # a few movers
                    g = by_region[region][(i + (1 if moved else 0)) % len(by_region[region])]
                    assignments.append(GroupAssignment(meter_id=mid, market_group=g, source="enrollment",
                                                       trade_date=today + timedelta(days=day)))  # fmt: skip
        with transaction.atomic():
            Meter.objects.bulk_create(meters)
            ProgramEnrollment.objects.bulk_create(enrollments)
            RequiredAction.objects.bulk_create(actions)
            GroupAssignment.objects.bulk_create(assignments)
    return meter_ids


def _fill_mappings(meter_ids: list[uuid.UUID]) -> None:
    """Four meters in five mapped to a customer and site (when the mapping app is installed)."""
    from django.apps import apps

    batch = 5000
    if apps.is_installed("mapping"):
        mapping = apps.get_model("mapping", "MeterMapping")
        for start in range(0, len(meter_ids), batch):
            mapping.objects.bulk_create(
                mapping(meter_id=mid, customer_id=f"CUST{j:07d}", site_id=f"SITE{j:07d}")
                for j, mid in enumerate(meter_ids[start : start + batch], start=start)
                if j % 5
            )


def _fill_timeslots(
    rnd: random.Random, now: datetime, n_slots: int, meter_ids: list[uuid.UUID], groups: list[Any]
) -> None:
    """Dispatch timeslots over two months around now, a tenth of them group-level, two versions each."""
    from dispatch.models import DispatchTimeslot, DispatchTimeslotVersion

    batch = 5000
    slots, versions = [], []
    for j in range(n_slots):
        start_at = now + timedelta(minutes=rnd.randint(-30 * 24 * 60, 30 * 24 * 60))
        group_level = j % 10 == 0
        mid = meter_ids[rnd.randrange(len(meter_ids))]
        g = groups[j % len(groups)]
        slot = DispatchTimeslot(
            event_id=uuid.UUID(int=rnd.getrandbits(128)), level="group" if group_level else "meter",
            meter_id=None if group_level else mid, meter_uuid=None if group_level else mid,
            market_group=g if group_level else None, market_group_uuid=g.pk if group_level else None,
            group_meter_ids=[str(m) for m in meter_ids[j % 1000 : j % 1000 + 20]] if group_level else [],
            start_time=start_at, end_time=start_at + timedelta(hours=rnd.choice([1, 2, 4])),
            cancelled=j % 20 == 0, energy_kw=None if j % 13 == 0 else float(rnd.randint(5, 500)),
            priority=rnd.randint(1, 10), is_voluntary=j % 3 == 0, programs=["ELRP"],
            dispatch_event_types=["CAPACITY"], first_source="webhook", content_hash="x", version=2,
            raw={"padding": "y" * 300},
        )  # fmt: skip
        slots.append(slot)
        if len(slots) == batch:
            DispatchTimeslot.objects.bulk_create(slots)
            versions += [DispatchTimeslotVersion(timeslot=s, version=v, kind="updated", source="webhook",
                                                 changes={"energy_kw": [10, 20]}) for s in slots for v in (1, 2)]  # fmt: skip
            DispatchTimeslotVersion.objects.bulk_create(versions)
            slots, versions = [], []
    DispatchTimeslot.objects.bulk_create(slots)
    DispatchTimeslotVersion.objects.bulk_create(
        DispatchTimeslotVersion(timeslot=s, version=v, kind="updated", source="webhook",
                                changes={"energy_kw": [10, 20]}) for s in slots for v in (1, 2))  # fmt: skip


def _fill_sync_runs(now: datetime, n_meters: int) -> None:
    """A history of incremental sync runs every 15 minutes."""
    from meters.models import SyncRun

    SyncRun.objects.bulk_create(
        SyncRun(kind="incremental", status="done", created=i, updated=i * 3, unchanged=n_meters,
                started_at=now - timedelta(minutes=15 * i + 3), finished_at=now - timedelta(minutes=15 * i),
                created_at=now - timedelta(minutes=15 * i + 3)) for i in range(1, 300))  # fmt: skip


def measure(
    runs: int, *, writes_only: bool = False
) -> list[tuple[str, float, float, float, int, int]]:
    """Request every page `runs` times (after two warm-ups); return timing rows."""
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from dispatch.models import DispatchTimeslot
    from meters.models import MarketGroup, Meter, RequiredAction
    from ops.models import SavedView

    user, _ = User.objects.get_or_create(username="bench-operator")
    user.groups.add(Group.objects.get(name="operator"))
    # Ten saved views: every page's menu lists them (issue 16).
    for i, query in enumerate(["code=AUTH_0001", "urgency=overdue", "region=ERCOT", "assignee=me",
                               "state=contacted", "code=SERV_0005&urgency=soon", "snoozed=only",
                               "region=CAISO&code=MRKT_0002", "status=all", "group=code"]):  # fmt: skip
        SavedView.objects.update_or_create(
            user=user, name=f"View {i}", defaults={"page": "ops:actions", "query": query}
        )
    client = Client()
    client.force_login(user)
    meter = Meter.objects.filter(action_required=True).order_by("partner_reference")[500]
    group = MarketGroup.objects.order_by("name").first()
    slot = DispatchTimeslot.objects.filter(version=2).order_by("start_time").last()
    action = RequiredAction.objects.filter(side="partner").order_by("deadline").first()
    pages = [
        ("overview", "/", {}),
        ("meters", "/meters/", {}),
        ("meters page 150", "/meters/", {"page": "150"}),
        ("meters search", "/meters/", {"q": "orchard 12"}),
        ("meters filtered+sorted", "/meters/", {"region": "CAISO", "status": "ACTIVE", "sort": "-updated"}),
        ("meters action+load", "/meters/", {"action": "yes", "load_type": "HVAC", "sort": "deadline"}),
        ("meters unmapped", "/meters/", {"mapped": "no"}),
        ("meters by group", "/meters/", {"group": str(group.pk)}),
        ("meters (htmx fragment)", "/meters/", {"region": "ERCOT", "_hx": "1"}),
        ("meter detail", f"/meters/{meter.pk}/", {}),
        ("actions", "/actions/", {}),
        ("actions by code", "/actions/", {"group": "code"}),
        ("actions leap lane", "/actions/", {"side": "leap"}),
        ("action work panel", f"/actions/{action.pk}/", {"_hx": "1"}),
        ("groups", "/groups/", {}),
        ("group members", f"/groups/{group.pk}/", {"day": "1"}),
        ("dispatch week", "/dispatch/", {}),
        ("dispatch day by meter", "/dispatch/", {"view": "day", "by": "meter"}),
        ("dispatch past week", "/dispatch/", {"view": "past"}),
        ("dispatch event", f"/dispatch/events/{slot.event_id}/", {}),
        ("sync health", "/meters/sync/", {}),
        ("actions of a market group", "/actions/", {"market_group": str(group.pk)}),
        ("saved view (opened from the menu)", "/actions/", {"code": "SERV_0005", "urgency": "soon"}),
        ("mapping overview", "/mapping/", {}),
        ("mapping audit", "/mapping/audit/", {}),
        ("my settings (saved views)", "/me/", {}),
    ]  # fmt: skip
    results = []
    for name, path, params in [] if writes_only else pages:
        params = dict(params)
        headers = {"HX-Request": "true"} if params.pop("_hx", None) else {}
        timings, sql_ms = [], []
        for i in range(runs + 2):
            connection.queries_log.clear()  # CaptureQueriesContext miscounts a full log
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.get(path, params, headers=headers)
                elapsed = (time.perf_counter() - began) * 1000
            assert response.status_code == 200, (name, response.status_code)
            if i >= 2:
                timings.append(elapsed)
                sql_ms.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        results.append(
            (name, statistics.median(timings), p95, statistics.median(sql_ms), len(queries),
             len(response.content))
        )  # fmt: skip
    results += measure_writes(client, user, runs)
    return results


def measure_writes(
    client: Any, user: Any, runs: int
) -> list[tuple[str, float, float, float, int, int]]:
    """The queue's bulk changes and saving a view, as the browser sends them (htmx POSTs)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from meters.models import RequiredAction

    page_ids = list(
        RequiredAction.objects.filter(side="partner", resolved_at__isnull=True)
        .order_by("deadline", "pk")
        .values_list("pk", flat=True)[:50]
    )
    narrow = "side=partner&code=AUTH_0001&urgency=overdue"  # several hundred actions match
    writes = [
        # Alternate the value, so every run really changes every row (and writes its history).
        ("bulk assign, 50 selected (htmx)", lambda i: {
            "operation": "assign", "assignee": "me" if i % 2 == 0 else "none",
            "ids": page_ids, "back": "?side=partner"}),
        ("bulk set state, all matching (htmx)", lambda i: {
            "operation": "state", "state": "contacted" if i % 2 == 0 else "waiting_customer",
            "all_matching": "on", "query": narrow, "back": "?" + narrow}),
        ("bulk note, 50 selected (htmx)", lambda i: {
            "operation": "note", "note": f"called, round {i}", "ids": page_ids,
            "back": "?side=partner"}),
    ]  # fmt: skip
    results = []
    for name, form in writes:
        if "all matching" in name:  # over OPS_BULK_INLINE_MAX: queued, applied by the worker
            results += measure_queued_bulk(client, name, form, runs)
            continue
        timings, sql_ms = [], []
        for i in range(runs + 2):
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.post("/actions/bulk", form(i), headers={"HX-Request": "true"})
                elapsed = (time.perf_counter() - began) * 1000
            assert response.status_code == 200 and b"bulk-result" in response.content, name
            assert b"msg--error" not in response.content, response.content[:2000]
            if i >= 2:
                timings.append(elapsed)
                sql_ms.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        results.append((name, statistics.median(timings), p95, statistics.median(sql_ms),
                        len(queries), len(response.content)))  # fmt: skip
    timings, sql_ms = [], []
    for i in range(runs + 2):
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = client.post("/me/views/", {"name": f"Saved {i % 5}", "page": "ops:actions",
                                                  "query": "code=AUTH_0001&region=ERCOT"})  # fmt: skip
            elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 302, response.status_code
        if i >= 2:
            timings.append(elapsed)
            sql_ms.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
    timings.sort()
    results.append(("save a view (POST, then redirect)", statistics.median(timings),
                    timings[max(0, int(len(timings) * 0.95) - 1)], statistics.median(sql_ms),
                    len(queries), 0))  # fmt: skip
    return results


def measure_queued_bulk(
    client: Any, name: str, form: Any, runs: int
) -> list[tuple[str, float, float, float, int, int]]:
    """A bulk change over OPS_BULK_INLINE_MAX (issue 16): the POST that queues it, the worker's
    task (run here, in-process, as ops.tasks.apply_bulk_update runs it) and the final poll that
    brings the refreshed queue. The POST's message goes to this run's own queue, purged after."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leapportal.celery import app
    from ops import workflow
    from ops.models import BulkWorkUpdate

    steps: dict[str, list[tuple[float, float, int, int]]] = {"post": [], "task": [], "poll": []}
    for i in range(runs + 2):
        timed: dict[str, tuple[float, float, int, int]] = {}
        for step in ("post", "task", "poll"):
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                if step == "post":
                    response = client.post("/actions/bulk", form(i), headers={"HX-Request": "true"})
                    record = BulkWorkUpdate.objects.order_by("-pk").first()
                    assert b'class="bulk-progress"' in response.content, response.content[:2000]
                elif step == "task":
                    assert workflow.run_queued_bulk_update(record.pk) == "done", record.pk
                else:
                    response = client.get(f"/actions/bulk/{record.pk}", {"back": form(i)["back"]},
                                          headers={"HX-Request": "true", "HX-Target": "bulk-status"})  # fmt: skip
                    assert (
                        b"bulk-result" in response.content and b"msg--error" not in response.content
                    )
                elapsed = (time.perf_counter() - began) * 1000
            sql = sum(float(q["time"]) for q in queries.captured_queries) * 1000
            size = len(response.content) if step != "task" else 0
            timed[step] = (elapsed, sql, len(queries), size)
        if i >= 2:
            for step, row in timed.items():
                steps[step].append(row)
    with app.connection_for_write() as conn:  # the POSTs' messages: nobody else consumes them
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    record.refresh_from_db()
    base = f"{name}: {record.selected:,} actions"
    labels = {"post": f"{base}, queued (POST)", "task": f"{base}: the worker's task (not a page)",
              "poll": f"{base}: the final poll (refreshed queue)"}  # fmt: skip
    results = []
    for step, rows in steps.items():
        timings = sorted(r[0] for r in rows)
        results.append((labels[step], statistics.median(timings),
                        timings[max(0, int(len(timings) * 0.95) - 1)],
                        statistics.median(r[1] for r in rows), rows[-1][2], rows[-1][3]))  # fmt: skip
    return results


def measure_export() -> tuple[float, int]:
    """The whole meter CSV (every present meter), streamed: total seconds and rows."""
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username="bench-operator"))
    began = time.perf_counter()
    response = client.get("/meters/export.csv")
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    return time.perf_counter() - began, rows


def main() -> None:
    """Fill (unless reusable), measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--timeslots", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="keep existing data if counts match")
    parser.add_argument(
        "--writes-only", action="store_true", help="only the bulk changes and saving a view"
    )
    args = parser.parse_args()
    setup_django()
    from django.core.management import call_command

    from dispatch.models import DispatchTimeslot
    from meters.models import Meter

    call_command("migrate", verbosity=0)
    if not (args.reuse and Meter.objects.count() == args.meters
            and DispatchTimeslot.objects.count() == args.timeslots):  # fmt: skip
        fill(args.meters, args.timeslots)
    results = measure(args.runs, writes_only=args.writes_only)
    print(f"\n{args.meters:,} meters, {args.timeslots:,} timeslots, {args.runs} runs per page "
          f"(Django test client, PostgreSQL, {os.cpu_count()} cores, shared machine)\n")  # fmt: skip
    print("| page | p50 ms | p95 ms | SQL p50 ms | queries | bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, p50, p95, sql, queries, size in results:
        flag = "" if p95 <= 150 or "not a page" in name else " **over 150**"
        print(f"| {name} | {p50:.1f} | {p95:.1f}{flag} | {sql:.1f} | {queries} | {size:,} |")
    if args.writes_only:
        return
    seconds, rows = measure_export()
    print(f"\nmeters CSV export (streamed, every present meter): {rows:,} rows in {seconds:.1f} s")


if __name__ == "__main__":
    main()
