"""Benchmark of the revenue sync (revenue/sync.py) against the floor of reading the same data.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_bench_revenue \
        flock /work/.bench.lock .venv/bin/python bench/revenue.py [--meters 100000] [--runs 30]

1. the floor: the real client reads, from a simulator process of its own, what a first revenue
   sync reads (the version list; for each of the 12 months its newest report summary, every
   meter row, 1,000 a page, validated; the never/rarely-responding diagnosis) and writes nothing;
2. the sync: a fresh simulator process with the same portfolio, an empty revenue schema, and
   `revenue.sync.run_sync` in this process (COPY per page, a prefetch thread fetching and
   validating the next page meanwhile, the version completed in SQL);
3. a rerun of the sync (nothing new: one call);
4. the revenue pages over what the sync wrote (Django's test client, the whole stack): p50/p95.

The simulator serves every meter for every month (`--revenue-history full`), with its clock set
so that the last 12 complete months each have a published report: 100,000 meters x 12 months =
1,200,000 meter rows. Memory is the peak RSS growth of this process, sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the checkout is put on sys.path below
    from leap.client import LeapClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("REVENUE_SYNC_MONTHS", "12")

from bench.leap_floor import SimulatorProcess, machine  # noqa: E402
from bench.memory import RssSampler  # noqa: E402

MONTHS = 12


def sim_now() -> datetime:
    """The 6th of this month, noon UTC: every one of the last 12 months has a report by then."""
    today = datetime.now(UTC)
    return today.replace(day=6, hour=12, minute=0, second=0, microsecond=0)


class Simulator(SimulatorProcess):
    """`python -m leap.simulator` in its own process, revenue for every month."""

    def __init__(self, meters: int, seed: int) -> None:
        super().__init__(meters, seed, "--revenue-history", "full", "--now", sim_now().isoformat())


def client_for(url: str) -> Any:
    from leap.client import LeapClient
    from leap.simulator import DEFAULT_API_KEY

    return LeapClient(url, DEFAULT_API_KEY, timeout=120, max_retries=3)


def window() -> tuple[str, str]:
    from django.utils import timezone

    from revenue.sync import month_text
    from revenue.sync import window as sync_window

    first, last = sync_window(timezone.now(), MONTHS)
    return month_text(first), month_text(last)


def floor(meters: int, seed: int) -> dict[str, Any]:
    """Read what a first sync reads, write nothing."""
    from revenue.sync import UNRESPONSIVE, _number

    with Simulator(meters, seed) as server:
        client = client_for(server.url)
        first, last = window()
        client.list_report_versions(first, first)  # warm up: imports, connection, pydantic
        rows = bad = diagnosis = 0
        with RssSampler() as rss:
            started = time.perf_counter()
            newest: dict[str, str] = {}
            for v in client.list_report_versions(first, last):
                month = v.settlement_period.period_start
                if _number(v.version) > _number(newest.get(month, "V0")):
                    newest[month] = v.version
            for month, name in sorted(newest.items()):
                client.get_revenue_report(month, month, version=name)
                for page in client.iter_revenue_pages("meter", month, month, version=name):
                    rows += len(page)
                    bad += len(page.failures)
            for month in sorted(newest):
                for page in client.iter_unresponsive_pages(
                    month, historical_responsiveness=UNRESPONSIVE
                ):
                    diagnosis += len(page)
            seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "rows": rows, "bad": bad, "diagnosis": diagnosis,
            "months": len(newest), "rss_growth_mb": rss.growth_mb}  # fmt: skip


def empty_revenue() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE revenue_revenueaggregate, revenue_meterrevenue, revenue_invalidrevenuerecord, "
            "revenue_meterresponsiveness, revenue_unresponsiveworkitemchange, "
            "revenue_unresponsiveworkitem, revenue_revenuesyncrun, revenue_reportversion, "
            "revenue_revenuereport CASCADE"
        )


def timed_sync(client: LeapClient) -> dict[str, Any]:
    from django.utils import timezone

    from revenue import sync
    from revenue.models import RevenueSyncRun

    run = RevenueSyncRun.objects.create(
        status="running", trigger="bench", started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    with RssSampler() as rss:
        started = time.perf_counter()
        run = sync.run_sync(client, run)
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "status": run.status, "rows": run.rows_written,
            "versions": run.versions_fetched, "invalid": run.invalid,
            "rss_growth_mb": rss.growth_mb}  # fmt: skip


def measure_pages(runs: int) -> list[tuple[str, float, float, int]]:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from revenue.models import MeterResponsiveness, MeterRevenue, RevenueReport

    user, _ = User.objects.get_or_create(username="bench-operator")
    user.groups.add(Group.objects.get(name="operator"))
    client = Client()
    client.force_login(user)
    latest = RevenueReport.objects.exclude(current_version=None).latest("month")
    month = f"{latest.month:%Y-%m}"
    row = MeterResponsiveness.objects.order_by("-missed_revenue").first()
    from meters.models import Meter

    meter = MeterRevenue.objects.filter(version=latest.current_version).order_by("pk")[
        min(5000, latest.current_version.rows - 1)
    ]
    # The bench syncs revenue only: one meter row so the meter page (with its section) renders.
    Meter.objects.get_or_create(meter_id=meter.meter_id, defaults={"transmission_region": "CAISO"})
    pages = [
        ("revenue", "/revenue/", {}),
        ("revenue by market group", "/revenue/", {"by": "market_group"}),
        ("revenue by load type", "/revenue/", {"by": "load_type", "month": month}),
        ("revenue by our customer (htmx)", "/revenue/", {"by": "customer", "_hx": "1"}),
        ("revenue at risk", "/revenue/at-risk/", {}),
        ("revenue at risk page 40", "/revenue/at-risk/", {"page": "40"}),
        ("revenue at risk by program", "/revenue/at-risk/", {"program": "CCA"}),
        ("unresponsive lane", "/revenue/unresponsive/", {}),
        ("unresponsive lane never, by response", "/revenue/unresponsive/",
         {"kind": "NEVER_RESPONDS", "sort": "response"}),
        ("unresponsive item", f"/revenue/unresponsive/{row.meter_id}/{row.program}/", {}),
        ("actions (with the lane tab)", "/actions/", {}),
        ("sync health (with revenue card)", "/meters/sync/", {}),
        ("meter page (with its revenue by month)", f"/meters/{meter.meter_id}/", {}),
    ]  # fmt: skip
    results = []
    for name, path, params in pages:
        params = dict(params)
        headers = {"HX-Request": "true"} if params.pop("_hx", None) else {}
        timings = []
        for i in range(runs + 2):
            connection.queries_log.clear()  # a full log (9,000 entries) makes the count 0
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.get(path, params, headers=headers)
                elapsed = (time.perf_counter() - began) * 1000
            assert response.status_code == 200, (name, response.status_code)
            if i >= 2:
                timings.append(elapsed)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        results.append((name, statistics.median(timings), p95, len(queries)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=30, help="requests per page")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument(
        "--pages-only", action="store_true", help="only the pages, over what a previous run synced"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from bench.database import bench_database

    bench_database("lp_bench_revenue")  # the sync empties the revenue tables
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"machine: {machine()}; load average before: {os.getloadavg()[0]:.1f}", flush=True)
    print(f"window: {window()}, simulator clock {sim_now().isoformat()}", flush=True)
    if args.pages_only:
        from django.db import connection

        with connection.cursor() as cursor:  # as the sync does after writing
            cursor.execute("ANALYZE revenue_meterrevenue")
            cursor.execute("ANALYZE revenue_meterresponsiveness")
        pages_table(args.runs)
        return
    floor_result = None if args.skip_floor else floor(args.meters, args.seed)
    print(f"floor: {floor_result}", flush=True)
    empty_revenue()
    with Simulator(args.meters, args.seed) as server:
        client = client_for(server.url)
        client.list_report_versions(*window())  # warm up, as the floor did
        full = timed_sync(client)
        print(f"sync: {full}", flush=True)
        rerun = timed_sync(client)
        print(f"rerun: {rerun}", flush=True)
    if floor_result:
        print(
            f"\n| meters | months | rows | floor s | sync s | sync / floor | floor RSS growth MB "
            f"| sync RSS growth MB | rerun s |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: "
            f"| ---: | ---: |\n| {args.meters:,} | {floor_result['months']} | {full['rows']:,} "
            f"| {floor_result['seconds']} | {full['seconds']} "
            f"| {full['seconds'] / floor_result['seconds']:.2f} | {floor_result['rss_growth_mb']} "
            f"| {full['rss_growth_mb']} | {rerun['seconds']} |",
            flush=True,
        )
    if not args.skip_pages:
        pages_table(args.runs)


def pages_table(runs: int) -> None:
    print(f"\nload average before the pages: {os.getloadavg()[0]:.1f}\n")
    print("| page | p50 ms | p95 ms | queries |\n| --- | ---: | ---: | ---: |")
    for name, p50, p95, queries in measure_pages(runs):
        flag = "" if p95 <= 150 else " **over 150**"
        print(f"| {name} | {p50:.1f} | {p95:.1f}{flag} | {queries} |", flush=True)


if __name__ == "__main__":
    main()
