"""Benchmark of the meter sync (meters/sync/) against the floor of bench/leap_floor.py.

For each portfolio size, in one run:
1. the floor: the real client reads every meter and enrollment from the simulator and writes
   nothing (bench.leap_floor.measure_floor, its own simulator process);
2. a full sync into an emptied database (the same simulator served by a separate process over
   loopback), with wall time, rows written and the client process's peak RSS growth;
   then VACUUM ANALYZE (not timed): autovacuum would do this after a first import in production,
   but it is off on the bench machine, which leaves the planner with no statistics;
3. the same full sync again: nothing changed at Leap, so it must write no row;
4. an incremental sync after 1% of the meters changed at Leap (the simulator's admin endpoint);
5. with --naive, the baseline: a per-row ORM sync (get/save per meter, in the bench only).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_sync_bench DEBUG=true \
        python bench/sync.py --meters 10000 100000 --naive 10000

The database (default lp_sync_bench on 127.0.0.1:5432) is created if missing and emptied.

Rows written are counted by wrapping every SQL statement on every connection (INSERT/UPDATE/
DELETE rowcounts per table; pages are written by a second thread); the run's own SyncRun row,
its temporary seen-set table and the emptying of the COPY staging tables are listed apart.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")
os.environ.setdefault("DEBUG", "true")  # for the settings' development defaults only
os.environ.setdefault("LOG_LEVEL", "WARNING")  # one log line per Leap request would be measured

from bench.database import bench_database  # noqa: E402

bench_database("lp_sync_bench")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

# DEBUG makes Django keep every query in memory: that would be measured as the sync's memory.
settings.DEBUG = False

import httpx  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402

from bench.leap_floor import SimulatorProcess, machine, measure_floor  # noqa: E402
from bench.memory import RssSampler  # noqa: E402
from leap.client import LeapClient  # noqa: E402
from leap.simulator import DEFAULT_ADMIN_TOKEN, DEFAULT_API_KEY  # noqa: E402
from meters.models import Meter, SyncRun  # noqa: E402
from meters.sync import engine  # noqa: E402

WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', re.IGNORECASE)
TABLES = [
    "meters_meterevent",
    "meters_meterchange",
    "meters_groupassignment",
    "meters_participationpreference",
    "meters_requiredaction",
    "meters_programenrollment",
    "meters_syncfailure",
    "meters_webhookdelivery",
    "meters_syncrun",
    "meters_meter",
    "meters_marketgroup",
]


class CpuSampler:
    """CPU seconds used during a block, per kind of process, from /proc every 0.2 s.

    Kinds: this process ("sync": planner, page writers, and the fetch threads when the fetch
    runs in-process), the full sync's fetch processes ("fetch"), the simulator and PostgreSQL's
    backends. A process that ends during the block counts with its last sample (up to 0.2 s of
    its CPU may be missed); one that starts during it counts from zero.
    """

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self) -> None:
        self.first: dict[int, tuple[str, float]] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._me = os.getpid()

    def _kind(self, pid: int) -> str | None:
        if pid == self._me:
            return "sync"
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            return None
        if b"meters.sync.child" in cmdline:
            return "fetch"
        if b"leap.simulator" in cmdline:
            return "simulator"
        if cmdline.startswith(b"postgres"):
            return "postgres"
        return None

    def _sample(self, *, initial: bool = False) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid not in self.first:
                kind = self._kind(pid)
                if kind is None:
                    continue
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            seconds = (int(fields[11]) + int(fields[12])) / self.TICK
            if pid not in self.first:
                self.first[pid] = (kind, seconds if initial else 0.0)
            self.last[pid] = seconds

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._sample(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> dict[str, float]:
        used: Counter[str] = Counter()
        for pid, (kind, start) in self.first.items():
            used[kind] += self.last.get(pid, start) - start
        return {kind: round(value, 1) for kind, value in sorted(used.items())}


@contextmanager
def count_writes() -> Any:
    """Rows inserted/updated/deleted per table while the block runs, on every connection.

    The sync writes pages from a second thread with its own connection (meters.sync.speed.PageWriter):
    connections opened during the block get the same wrapper (connection_created).
    """
    written: Counter[str] = Counter()
    lock = threading.Lock()

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        match = WRITE.match(sql)
        if match:
            rows = context["cursor"].rowcount
            with lock:
                written[match.group(2)] += max(rows, 0)
        return result

    def attach(sender: Any, connection: Any, **kwargs: Any) -> None:
        connection.execute_wrappers.append(wrapper)

    connection_created.connect(attach)
    try:
        with connection.execute_wrapper(wrapper):
            yield written
    finally:
        connection_created.disconnect(attach)


def empty_tables() -> None:
    """Start from an empty portfolio (the bench database only)."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")  # noqa: S608 - fixed names


def vacuum_analyze() -> dict[str, Any]:
    """What autovacuum does after a large import: statistics for the planner, a visibility map.

    With autovacuum off (this machine's PostgreSQL has it off), the tables the full sync has just
    filled have no statistics, and the later runs' plans are guessed from empty tables.
    """
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE")
    return {"seconds": round(time.perf_counter() - started, 2), "autovacuum": autovacuum}


def timed_run(client: LeapClient, kind: str) -> dict[str, Any]:
    """Run one sync in-process, as the worker would (minus Celery), and measure it."""
    run = SyncRun.objects.create(kind=kind, status=SyncRun.Status.RUNNING)
    run.started_at = run.heartbeat_at = datetime.now(UTC)
    run.save()
    with RssSampler() as rss, CpuSampler() as cpu, count_writes() as written:
        started = time.perf_counter()
        run = engine.execute(client, run)
        seconds = time.perf_counter() - started
    bookkeeping = {
        t: n
        for t, n in written.items()
        if t == "meters_syncrun" or "seen" in t or t.startswith("_stage_")
    }
    portfolio = {t: n for t, n in written.items() if t not in bookkeeping}
    return {
        "kind": kind,
        "status": run.status,
        "seconds": round(seconds, 2),
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "missing": run.missing,
        "failed": run.failed,
        "rows_written": sum(portfolio.values()),
        "written": dict(sorted(portfolio.items())),
        "bookkeeping": dict(sorted(bookkeeping.items())),
        "rss_growth_mb": rss.growth_mb,
        "cpu_seconds": cpu.seconds,
    }


def change_one_percent(server: SimulatorProcess, meters: int, started: float) -> int:
    """Let 1% of the meters change at Leap, with the simulator's clock caught up to ours."""
    minutes = (time.monotonic() - started) / 60 + 1
    response = httpx.post(
        f"{server.url}/_sim/advance",
        json={"minutes": minutes, "changes": meters // 100},
        headers={"Authorization": f"Bearer {DEFAULT_ADMIN_TOKEN}"},
        timeout=600,
    )
    response.raise_for_status()
    return len(response.json()["changes"])


def naive_sync(client: LeapClient) -> dict[str, Any]:
    """The baseline: one ORM get/save per meter and per enrollment, as a first version would."""
    from meters.sync.snapshot import detail_columns, enrollment_snapshot

    started = time.perf_counter()
    with RssSampler() as rss:
        for page in client.iter_meter_pages(page_size=500):
            for detail in page:
                meter, _ = Meter.objects.get_or_create(meter_id=detail.meter_id)
                for name, value in detail_columns(detail).items():
                    setattr(meter, name, value)
                meter.details_raw = detail.raw
                meter.save()
        for page in client.iter_enrollment_pages(page_size=500):
            for enrollment in page:
                meter, _ = Meter.objects.get_or_create(meter_id=enrollment.meter_id)
                snap = enrollment_snapshot(enrollment)
                for name, value in snap.columns.items():
                    setattr(meter, name, value)
                meter.enrollment_raw = enrollment.raw
                meter.save()
                meter.program_enrollments.all().delete()
                for row in snap.programs.values():
                    meter.program_enrollments.create(
                        program_identifier=row.program_identifier,
                        delivery_period=row.delivery_period,
                        delivery_period_start=row.delivery_period_start,
                        delivery_period_end=row.delivery_period_end,
                        enrollment_status=row.enrollment_status,
                        enrollment_deadlines=row.enrollment_deadlines,
                    )
    return {"seconds": round(time.perf_counter() - started, 2), "rss_growth_mb": rss.growth_mb}


def bench(meters: int, seed: int, *, naive: bool) -> dict[str, Any]:
    """Floor, full, unchanged re-run and incremental for one size."""
    with CpuSampler() as cpu:
        floor = measure_floor(meters, seed)
    floor["cpu_seconds"] = cpu.seconds  # "sync" is the floor's client, in this process
    result: dict[str, Any] = {"meters": meters, "floor": floor}
    with SimulatorProcess(meters, seed) as server:
        started = time.monotonic()
        client = LeapClient(server.url, DEFAULT_API_KEY, timeout=60, max_retries=3)
        empty_tables()
        result["full"] = timed_run(client, "full")
        result["vacuum"] = vacuum_analyze()
        result["rerun"] = timed_run(client, "full")
        result["changes"] = change_one_percent(server, meters, started)
        result["incremental"] = timed_run(client, "incremental")
        if naive:
            empty_tables()
            result["naive"] = naive_sync(client)
        client.close()
    return result


def main() -> None:
    """Run the sizes asked for and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--naive", type=int, nargs="*", default=[], help="sizes to also run the naive baseline at"
    )
    args = parser.parse_args()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # a fresh benchmark database works as it is
    print(f"machine: {machine()}")
    version = connection.cursor().connection.info.server_version
    name = connection.settings_dict["NAME"]
    print(f"database: PostgreSQL {version // 10000}.{version % 100} {name}")
    print(f"command: python bench/sync.py {' '.join(sys.argv[1:])}\n")
    results = [bench(size, args.seed, naive=size in args.naive) for size in args.meters]
    print(
        "| meters | floor s | full s | full / floor | full RSS growth MB | rerun s | rerun rows written | incremental s (changes) | incremental rows written |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        full, rerun, inc = r["full"], r["rerun"], r["incremental"]
        print(
            f"| {r['meters']:,} | {r['floor']['seconds']} | {full['seconds']} | "
            f"{full['seconds'] / r['floor']['seconds']:.2f} | {full['rss_growth_mb']} | "
            f"{rerun['seconds']} | {rerun['rows_written']} | {inc['seconds']} ({r['changes']}) | "
            f"{inc['rows_written']} |"
        )
    for r in results:
        print(f"\n{r['meters']:,} meters, details:")
        print(
            f"- after the full sync, VACUUM ANALYZE of the database took {r['vacuum']['seconds']} s "
            f"(not in any figure; autovacuum is {r['vacuum']['autovacuum']} here, and would have "
            "analyzed the imported tables in production)"
        )
        print(f"- floor: {r['floor']}")
        for key in ("full", "rerun", "incremental"):
            print(f"- {key}: {r[key]}")
        if "naive" in r:
            n = r["naive"]
            print(
                f"- naive per-row ORM sync: {n['seconds']} s, RSS growth {n['rss_growth_mb']} MB; "
                f"the bulk full sync is {n['seconds'] / r['full']['seconds']:.1f}x faster"
            )


if __name__ == "__main__":
    main()
