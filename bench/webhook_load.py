"""Load test of the dispatch receivers: gunicorn + PostgreSQL + a real Celery worker.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_bench_dispatch \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/6 \
    python bench/webhook_load.py --notifications 10000 --concurrency 16

Sends Leap-shaped meter notifications (1-5 meters, 1-3 timeslots each; 20% exact redeliveries of
a body whose events are still in the state it carries, 10% updates of earlier events, 5%
cancellations, 3% reverts (an event put back to its previous version: A -> B -> A, which must be
applied), the rest new events) over loopback with a bounded
pool of client threads, as fast as they can or paced at --rate per second, waits until the worker has processed everything, then reports from the
database: acknowledged per second, acknowledgement p50/p99, receipt-to-visible p50/p95 (receipt
to the commit of the processing), lost notifications (acknowledged but not stored or never
processed: must be 0), duplicate timeslots (rows beyond the distinct event ids sent: must be 0)
and final-state mismatches (an event whose stored values are not the last ones sent).

The database is wiped of dispatch rows and meters first: its name must contain "bench".
"""

from __future__ import annotations

import argparse
import gc
import http.client
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.database import Analyzer, bench_database  # noqa: E402
from bench.webhook_plan import Plan, iso  # noqa: E402

SECRET = "bench-dispatch-secret-000000000001"
TARGETS = {"ack_per_s": 300, "ack_p99_ms": 100, "visible_p95_s": 2.0}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--notifications", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=16, help="client threads")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="send at this many notifications/s (open loop; latency counted from when each was\n"
        "due, so a slow answer that delays later sends counts against them); 0: as fast as the\n"
        "client threads can",
    )
    p.add_argument("--meters", type=int, default=500)
    p.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="untimed notifications without timeslots sent first, so that every gunicorn thread\n"
        "has imported the views and opened its database connection and the worker has run once",
    )
    # 2 cores: one gunicorn process per core (threads cover the I/O waits), 2 worker processes.
    p.add_argument("--gunicorn-workers", type=int, default=2)
    p.add_argument("--gunicorn-threads", type=int, default=4)
    p.add_argument("--app", default="leapportal.wsgi_ingest:application",
                   help="WSGI app serving the receivers: the receivers' own pool, as in production; "
                        "leapportal.wsgi:application for the pages' full chain (every run before "
                        "2026-12-07 16:00 UTC)")  # fmt: skip
    p.add_argument("--celery-concurrency", type=int, default=2)
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--drain-timeout", type=float, default=1800.0)
    p.add_argument(
        "--analyze-every",
        type=float,
        default=10.0,
        help="ANALYZE the dispatch tables every this many seconds during the run, as production's\n"
        "autovacuum would (it is off on this project's PostgreSQL); 0: never",
    )
    return p.parse_args()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")
    import django

    django.setup()


def prepare_database(n_meters: int) -> list[str]:
    """Migrate, wipe dispatch rows and meters, create the meters; returns their ids."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE dispatch_dispatchdelivery, dispatch_dispatchtimeslot, "
            "dispatch_dispatchtimeslotversion, dispatch_dispatchallocation, "
            "dispatch_outboundmessage, dispatch_outboundattempt, dispatch_reconcilefinding, "
            "dispatch_reconcilerun, dispatch_webhookauthfailure, meters_meter CASCADE"
        )
    from meters.models import Meter

    rng = random.Random(0)
    meters = [
        Meter(
            meter_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            global_enrollment_status="ACTIVE",
        )
        for _ in range(n_meters)
    ]
    Meter.objects.bulk_create(meters, batch_size=1000)
    return [str(m.meter_id) for m in meters]


def dispatch_tables() -> list[str]:
    """The tables the run grows: the dispatch app's and the meters it looks up."""
    from django.apps import apps

    models = [*apps.get_app_config("dispatch").get_models(), apps.get_model("meters", "Meter")]
    return sorted({m._meta.db_table for m in models})


def start_services(args: argparse.Namespace, env: dict[str, str], logdir: Path) -> list:
    """gunicorn and a Celery worker, as subprocesses in their own process groups."""
    from leapportal.queues import all_of as all_queues

    procs = []
    gunicorn = [
        sys.executable, "-m", "gunicorn", args.app,
        "-b", f"127.0.0.1:{args.port}", "-w", str(args.gunicorn_workers),
        "--worker-class", "gthread", "--threads", str(args.gunicorn_threads),
        "--backlog", "2048", "--log-level", "warning",
    ]  # fmt: skip
    worker = [
        sys.executable, "-m", "celery", "-A", "leapportal", "worker", "-Q", all_queues(env["CELERY_QUEUE"]),
        "-c", str(args.celery_concurrency), "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "-n", f"bench-{os.getpid()}@%h",
    ]  # fmt: skip
    for name, cmd in (("gunicorn", gunicorn), ("worker", worker)):
        log = (logdir / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{args.port}/healthz", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        raise SystemExit(f"gunicorn did not start; see {logdir}/gunicorn.log")
    return procs


def cpu_seconds(root_pids: list[int]) -> dict[str, float]:
    """CPU seconds (user + system) so far of these process trees and of all postgres processes.

    Read from /proc (Linux); PostgreSQL's figure includes any other database work on the machine.
    """
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # ppid is field 4, utime..cstime 14-17 (1-based, man proc); fields[] starts at field 3.
        # cutime/cstime hold the children already exited (PostgreSQL backends come and go).
        used = sum(int(v) for v in fields[11:15]) / tick
        stats[int(entry.name)] = (int(fields[1]), name, used)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(pid: int) -> float:
        return stats.get(pid, (0, "", 0.0))[2] + sum(tree(c) for c in children.get(pid, []))

    out = {f"pid {pid}": tree(pid) for pid in root_pids}
    out["postgres"] = sum(cpu for _, name, cpu in stats.values() if name.startswith("postgres"))
    return out


def stop(procs: list) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


class _Client:
    """One keep-alive HTTP/1.1 connection (http.client: a third of httpx's CPU per request)."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return self.request("POST", path, body, headers)

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """Send it; a connection the server closed while idle is opened again, as browsers do."""
        for attempt in (1, 2):  # the server may have closed an idle keep-alive connection
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body, headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def send_all(args: argparse.Namespace, plan: Plan, roots: list[int]) -> tuple[list, float, tuple]:
    """POST every notification with `concurrency` threads after the warm-up.

    Each thread keeps one client (one keep-alive connection) for the warm-up and the timed part,
    and takes the next index from a shared counter: nothing is queued up front, so the client's
    own bookkeeping does not delay the first timed sends. Returns the results, the wall time and
    the CPU counters taken when the timed part began.
    """
    path = "/dispatch/webhooks/meter"
    headers = {"x-leapportal-secret": SECRET, "content-type": "application/json"}
    clients = [_Client(args.port) for _ in range(args.concurrency)]
    results: list = [None] * len(plan.bodies)
    t0 = 0.0

    def one(client: _Client, i: int) -> None:
        started = time.perf_counter()
        if args.rate:
            due = t0 + i / args.rate
            if due > started:
                time.sleep(due - started)
            started = due
        try:
            status, body = client.post(path, plan.bodies[i], headers)
            delivery_id = json.loads(body).get("delivery_id") if status == 202 else None
        except (OSError, http.client.HTTPException) as exc:
            status, delivery_id = f"error: {exc}", None
        results[i] = (status, time.perf_counter() - started, delivery_id)

    warm = json.dumps({"integration_test_notification": False, "meter_dispatches": []}).encode()

    def warm_one(client: _Client, _: int) -> None:
        status, body = client.post(path, warm, headers)
        if status != 202:
            raise SystemExit(f"warm-up notification answered {status}: {body[:200]!r}")

    def run(fn: Any, n: int) -> None:
        # In order: at most `concurrency` in flight, so plan.gap keeps causality.
        counter = itertools.count()

        def work(client: _Client) -> None:
            while (i := next(counter)) < n:  # next() on a count is atomic under the GIL
                fn(client, i)

        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    run(warm_one, args.warmup)
    drain(60)
    # The plan and Django make a large heap: keep the collector from walking it mid-run, which
    # paused every client thread for a tenth of a second or more (the load generator's own stall).
    gc.collect()
    gc.freeze()
    counters = cpu_seconds(roots), time.process_time()
    t0 = time.perf_counter()
    run(one, len(plan.bodies))
    for client in clients:
        client.close()
    return results, time.perf_counter() - t0, counters


def drain(timeout: float) -> float:
    """Wait until no delivery is left unprocessed; returns the wait."""
    from dispatch.models import DispatchDelivery

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not DispatchDelivery.objects.filter(status="received").exists():
            break
        time.sleep(0.5)
    return time.monotonic() - started


def final_state(plan: Plan, ids: set) -> tuple[int, int]:
    """Events whose stored values are not the last sent, and not the last received and applied."""
    import json

    from dispatch.models import DispatchDelivery, DispatchTimeslot

    mismatches = 0
    stored = {
        str(t.event_id): t
        for t in DispatchTimeslot.objects.only("event_id", "energy_kw", "cancelled", "start_time")
    }
    for event_id, (_, slot) in plan.last_sent.items():
        t = stored.get(event_id)
        if (
            t is None
            or t.cancelled != slot["cancelled"]
            or t.energy_kw != slot["energy_kw"]
            or iso(t.start_time) != slot["start_time"]
        ):
            mismatches += 1
            if mismatches <= 3:
                print(f"mismatch {event_id}: sent {slot} stored {t and t.__dict__}")
    # The contract the code can keep without versions from Leap: each event holds what the last
    # *received* notification that was applied said (docs/dispatch.md, "Out of order"). It differs
    # from the last sent when a request is delayed past later ones (the sender's order is lost).
    last_received: dict[str, tuple[datetime, dict]] = {}
    applied = DispatchDelivery.objects.filter(pk__in=ids, status="processed")
    for received_at, body in applied.values_list("received_at", "body").iterator():
        for md in json.loads(bytes(body))["meter_dispatches"]:
            for slot in md["timeslots"]:
                seen = last_received.get(slot["meter_event_id"])
                if seen is None or seen[0] < received_at:
                    last_received[slot["meter_event_id"]] = (received_at, slot)
    receipt_mismatches = sum(
        1
        for event_id, (_, slot) in last_received.items()
        if (t := stored.get(event_id)) is None
        or (t.cancelled, t.energy_kw, iso(t.start_time))
        != (slot["cancelled"], slot["energy_kw"], slot["start_time"])
    )
    return mismatches, receipt_mismatches


def report(
    args: argparse.Namespace, plan: Plan, results: list, wall: float, drained: float
) -> dict:
    from django.db.models import Count

    from dispatch.models import DispatchDelivery, DispatchTimeslot

    acked = [r for r in results if r[0] == 202]
    latencies = [r[1] * 1000 for r in acked]
    ids = {r[2] for r in acked}
    rows = dict(DispatchDelivery.objects.filter(pk__in=ids).values_list("pk", "status"))
    not_stored = len(ids - set(rows))
    unprocessed = sum(1 for s in rows.values() if s not in ("processed", "duplicate"))
    visible = [
        (d.processed_at - d.received_at).total_seconds()
        for d in DispatchDelivery.objects.filter(pk__in=ids).only("received_at", "processed_at")
        if d.processed_at
    ]
    stored_events = DispatchTimeslot.objects.count()
    dupes = (
        DispatchTimeslot.objects.values("event_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    )
    mismatches, receipt_mismatches = final_state(plan, ids)
    statuses = dict(
        DispatchDelivery.objects.filter(pk__in=ids)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    out = {
        "notifications sent": len(results),
        "acknowledged (202)": len(acked),
        "other answers": len(results) - len(acked),
        "send wall time (s)": round(wall, 1),
        "acknowledged/s": round(len(acked) / wall, 1),
        "ack p50 (ms)": round(percentile(latencies, 50), 1),
        "ack p99 (ms)": round(percentile(latencies, 99), 1),
        "ack max (ms)": round(max(latencies), 1) if latencies else None,
        "receipt-to-visible p50 (s)": round(percentile(visible, 50), 3),
        "receipt-to-visible p95 (s)": round(percentile(visible, 95), 3),
        "drain after last ack (s)": round(drained, 1),
        "deliveries by status": statuses,
        "lost": not_stored + unprocessed,
        "distinct events sent": len(plan.last_sent),
        "timeslot rows": stored_events,
        "duplicate timeslots": dupes + max(0, stored_events - len(plan.last_sent)),
        "final-state mismatches": mismatches,
        "... against receipt order": receipt_mismatches,
        "kinds": {
            k: plan.kinds.count(k) for k in ("new", "redelivery", "update", "cancel", "revert")
        },
    }
    return out


def main() -> None:
    args = parse_args()
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        raise SystemExit("set CELERY_BROKER_URL to redis://... (the worker's broker)")
    url = bench_database("lp_bench_dispatch")  # wiped: its name must contain "bench"
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "k" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "LEAP_SIMULATOR": "true",
        "LEAP_DISPATCH_WEBHOOK_SECRETS": SECRET,
        "LEAP_METER_WEBHOOK_SECRETS": "bench-meter-secret-0000000000001",
        "LOG_LEVEL": "WARNING",
        "CELERY_QUEUE": f"bench-dispatch-{os.getpid()}",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SETTINGS_MODULE": "leapportal.settings",
    }
    django_setup(env)
    meters = prepare_database(args.meters)
    plan = Plan(args.notifications, meters, args.seed, gap=args.concurrency * 2)
    logdir = Path(tempfile.mkdtemp(prefix="webhook-load-"))
    procs = start_services(args, env, logdir)
    analyzer = Analyzer(url, dispatch_tables(), args.analyze_every)
    try:
        roots = [p.pid for p in procs]
        if args.analyze_every:
            analyzer.analyze()  # the meters just created
        with analyzer:
            results, wall, (before, client_before) = send_all(args, plan, roots)
            drained = drain(args.drain_timeout)
        after, client_after = cpu_seconds(roots), time.process_time()
        out = report(args, plan, results, wall, drained)
        names = dict(zip([f"pid {pid}" for pid in roots], ("gunicorn", "worker"), strict=True))
        names["postgres"] = "postgres (all)"
        cpu = {names[k]: (after[k] - before[k]) / len(plan.bodies) * 1000 for k in before}
        cpu["load generator"] = (client_after - client_before) / len(plan.bodies) * 1000
        out["ANALYZE runs (one before the timed part)"] = analyzer.runs
        out["CPU ms per notification"] = {k: round(v, 2) for k, v in cpu.items()}
        # Per notification, in sending order: (status, seconds to the answer, delivery id).
        (logdir / "results.json").write_text(json.dumps(results))
    finally:
        stop(procs)
    print(
        "command: DATABASE_URL=... CELERY_BROKER_URL=... python bench/webhook_load.py "
        + " ".join(sys.argv[1:])
    )
    print(f"logs: {logdir}")
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    target = {
        "acknowledged/s": ">= 300",
        "ack p99 (ms)": "<= 100",
        "receipt-to-visible p95 (s)": "<= 2",
        "lost": "0",
        "duplicate timeslots": "0",
        "final-state mismatches": "0",
    }
    for key, value in out.items():
        print(f"| {key} | {value} | {target.get(key, '')} |")


if __name__ == "__main__":
    main()
