"""Load from every side at once: a 100,000-meter full sync, dispatch webhooks, people browsing.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_bench_mixed \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/5 \
        flock /work/.bench.lock python bench/mixed_load.py [--meters 100000] [--rate 200]

As production runs it (README, production notes): a gunicorn for the pages at the highest CPU
priority, a gunicorn for the webhook receivers, a Celery worker for the dispatch queue and one for
the sync queue (leapportal/queues.py), the Leap simulator in its own process.
After an untimed first import of the portfolio (a full sync into the emptied tables), one run
measures each part alone, then all three together, then a burst:

1. pages alone: `--users` threads, each logged in, browsing the dashboard pages in turn through
   gunicorn, reading each for `--think` seconds, for 3x `--seconds` (people click every few
   seconds: enough pages for a p95); page p95 (target <= 300 ms);
2. dispatch alone: meter-level notifications (bench/webhook_load.py's Plan: new events,
   redeliveries, updates, cancels) posted at `--rate` per second for `--seconds`; receipt-to-
   visible p95 (the delivery's processed_at - received_at; target <= 2 s), lost (target 0);
3. sync alone: the nightly full sync of the present portfolio, started as beat does, timed by
   its SyncRun;
4. together: the same full sync, with dispatch at `--rate`/s and the users browsing until it
   finishes; each part against its figure from 1-3 (sync target: within 2x its solo time);
5. sync alone again: part 3 repeated, so that the sync together is compared with the mean of a
   solo run before and one after it (the machine's speed drifts over minutes: runs 38-41 of
   docs/benchmarks.md), and each part starts with a CPU probe (`machine_speed`: CPU
   milliseconds of a fixed loop) that shows the drift;
6. burst: `--burst` notifications of `--burst-meters` meters each, posted as fast as they are
   accepted; all visible (processed) within 60 s of the first post.

PostgreSQL's autovacuum is off on this project's machines; `--autovacuum-naptime` (default 60 s)
does its work meanwhile, by its thresholds (bench.database.Autovacuum), as production's server
would: without it the dispatch pages plan over tens of thousands of rows with the statistics of
the 200 stored before the first part (runs 1-19).

Reuses bench/webhook_load.py (notifications, sender, CPU accounting), bench/leap_floor.py (the
simulator process, the machine line). A script, not a test: copy its table into
docs/benchmarks.md. The database named by DATABASE_URL must contain "bench": it is wiped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import machine_cores, machine_speed, machine_ticks  # noqa: E402
from bench.leap_floor import SimulatorProcess, machine  # noqa: E402
from bench.mixed_clients import (  # noqa: E402
    SECRET,
    Browsing,
    Dispatching,
    burst_bodies,
    think_range,
)
from bench.mixed_report import report  # noqa: E402
from bench.mixed_services import Services, start_services  # noqa: E402
from bench.webhook_load import Plan, cpu_seconds, percentile  # noqa: E402

TARGETS = {"page_p95_ms": 300, "visible_p95_s": 2.0, "sync_ratio": 2.0, "burst_s": 60}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--meters", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rate", type=float, default=200.0, help="dispatch notifications per second")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--think", type=think_range, default=(2.0, 8.0), metavar="MIN,MAX",
                   help="seconds a user reads a page (uniform); runs 1-10 used 0.2,0.6")  # fmt: skip
    p.add_argument("--seconds", type=float, default=30.0, help="length of the solo parts")
    p.add_argument("--burst", type=int, default=1000)  # notifications,
    p.add_argument("--burst-meters", type=int, default=100)  # of this many meters each
    p.add_argument("--sender-threads", type=int, default=16)
    p.add_argument("--gunicorn-workers", type=int, default=2, help="of the pages' pool")
    p.add_argument("--ingest-workers", type=int, default=2,
                   help="of the webhook receivers' own pool; 0: one pool serves both (runs 1-14, "
                        "with --gunicorn-workers 3)")  # fmt: skip
    p.add_argument("--ingest-app", default="leapportal.wsgi_ingest:application",
                   help="WSGI app of the receivers' own pool; runs 1-28: leapportal.wsgi:application "
                        "(the pages' full middleware chain)")  # fmt: skip
    p.add_argument("--gunicorn-threads", type=int, default=4)
    p.add_argument("--sync-nice", type=int, default=0,
                   help="nice value of the sync worker (and its fetch process); runs 9-15: 10")  # fmt: skip
    p.add_argument("--web-nice", type=int, default=-5,
                   help="nice value of the pages' gunicorn (the dispatch worker's is 0); "
                        "runs 1-15: 0")  # fmt: skip
    p.add_argument("--ingest-nice", type=int, default=0, help="nice value of the receivers' pool")
    p.add_argument("--sim-shares-session", action="store_true",
                   help="run the Leap simulator in this script's session (its autogroup, shared "
                        "with the load generator), as runs 1-33 did; by default it has its own, "
                        "like every service")  # fmt: skip
    p.add_argument("--autovacuum-naptime", type=float, default=60.0,
                   help="do autovacuum's work (off on this project's PostgreSQL) every this many "
                        "seconds, by its thresholds (bench.database.Autovacuum); 0: never")  # fmt: skip
    p.add_argument("--pages-only", action="store_true",
                   help="only part 1 (the users browsing alone), on the portfolio a full run left in "
                        "the database (not wiped): for measuring page changes in ~1 minute")  # fmt: skip
    p.add_argument("--burst-only", action="store_true",
                   help="only part 6 (the burst), on the portfolio a full run left in the database, "
                        "its dispatch tables emptied first: for measuring the drain in ~2 minutes")  # fmt: skip
    return p.parse_args()


def dispatch_figures(results: list, wait: float = 120) -> dict:
    """Wait for every accepted notification to be processed; receipt-to-visible and losses."""
    from dispatch.models import DispatchDelivery

    ids = [r[2] for r in results if r[0] == 202]
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not DispatchDelivery.objects.filter(pk__in=ids, status="received").exists():
            break
        time.sleep(0.5)
    rows = DispatchDelivery.objects.filter(pk__in=ids).values_list(
        "status", "received_at", "processed_at"
    )
    visible = [(p - r).total_seconds() for s, r, p in rows if p and s in ("processed", "duplicate")]
    lost = len(ids) - len(visible)
    acks = [r[1] * 1000 for r in results if r[0] == 202]
    # A sender waits for each answer: with slow answers Leap's rate falls below --rate.
    sending = max((r[3] for r in results), default=0.0)
    return {
        "notifications": len(results),
        "sent over (s)": round(sending, 1),
        "sent per second": round(len(results) / sending, 1) if sending else None,
        "accepted (202)": len(ids),
        "other answers": len(results) - len(ids),
        "ack p99 (ms)": round(percentile(acks, 99), 1),
        "receipt-to-visible p50 (s)": round(percentile(visible, 50), 3),
        "receipt-to-visible p95 (s)": round(percentile(visible, 95), 3),
        "lost": lost,
    }


def run_full_sync() -> dict:
    """Start the nightly full sync as beat does and wait for its SyncRun to finish.

    Every half second meanwhile it samples the machine's cores (bench.cpu.machine_ticks) and the
    time since the oldest waiting dispatch delivery became due (its arrival plus the drain's
    linger), the probe the sync gives way to: "behind" is the time that exceeded
    GIVE_WAY_AFTER_SECONDS, and the machine's idle cores then
    against otherwise tell whether dispatch was behind for want of cores (none idle) or for
    another reason (cores idle while the sync waited).
    """
    from django.conf import settings
    from django.utils import timezone

    from dispatch.inbox import oldest_due
    from meters import actions
    from meters.models import SyncRun

    after = settings.GIVE_WAY_AFTER_SECONDS
    behind = {"seconds": 0.0, "idle": 0.0}
    ahead = {"seconds": 0.0, "idle": 0.0}
    stolen = 0.0
    run = actions.request_sync(SyncRun.Kind.FULL, trigger="bench")
    ticks, t = machine_ticks(), time.monotonic()
    while True:
        run.refresh_from_db()
        if run.status not in SyncRun.ACTIVE_STATUSES:
            break
        time.sleep(0.5)
        oldest = oldest_due()
        now_ticks, now = machine_ticks(), time.monotonic()
        cores = machine_cores(ticks, now_ticks, now - t)
        late = oldest is not None and (timezone.now() - oldest).total_seconds() > after
        side = behind if late else ahead
        side["seconds"] += now - t
        side["idle"] += cores["idle"] * (now - t)
        stolen += cores["steal"] * (now - t)
        ticks, t = now_ticks, now
    seconds = (run.finished_at - run.started_at).total_seconds() if run.started_at else None

    def mean_idle(side: dict) -> float | None:
        return round(side["idle"] / side["seconds"], 2) if side["seconds"] else None

    sampled = behind["seconds"] + ahead["seconds"]
    return {"status": run.status, "seconds": round(seconds or 0, 1), "sync run": run.pk,
            "gave way (s)": round(run.gave_way_seconds, 1),
            "dispatch behind (s)": round(behind["seconds"], 1),
            "idle cores, dispatch behind": mean_idle(behind),
            "idle cores, otherwise": mean_idle(ahead),
            "stolen cores": round(stolen / sampled, 2) if sampled else None,
            "error": run.error[:200]}  # fmt: skip


# --- setup ---------------------------------------------------------------------------------------


def login_cookie() -> str:
    """A session of an operator (made in the database, as a login would)."""
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench-browser")
    user.groups.add(Group.objects.get(name="operator"))
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def page_paths() -> list[str]:
    from dispatch.models import DispatchTimeslot
    from meters.models import MarketGroup, Meter, RequiredAction

    meters = Meter.objects.order_by("partner_reference").values_list("pk", flat=True)
    meter = list(meters[:1001])[-1]
    group = MarketGroup.objects.order_by("name").values_list("pk", flat=True).first()
    action = RequiredAction.objects.filter(side="partner").values_list("pk", flat=True).first()
    slot = DispatchTimeslot.objects.values_list("event_id", flat=True).first()
    paths = ["/", "/meters/", "/meters/?page=40", "/meters/?q=orchard", "/meters/?region=CAISO&sort=-updated",
             f"/meters/{meter}/", "/actions/", "/groups/", "/dispatch/", "/dispatch/?view=day&by=meter",
             "/meters/sync/"]  # fmt: skip
    if group:
        paths.append(f"/groups/{group}/?day=1")
    if action:
        paths.append(f"/actions/{action}/")
    if slot:
        paths.append(f"/dispatch/events/{slot}/")
    return paths


def pages_only(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Part 1 alone, on the data a full run left: page p95, slowest pages, cores busy."""
    from django.db import connection

    from meters.models import Meter

    if not Meter.objects.exists():
        raise SystemExit("--pages-only needs the portfolio of a full run in this database")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")  # as after the full run's first import
    logdir = Path(tempfile.mkdtemp(prefix="mixed-load-pages-"))
    services = start_services(args, env, logdir)
    procs, port = services.procs, services.port
    try:
        cookie, pages = login_cookie(), page_paths()
        roots = [p.pid for p in procs.values()]
        before, t = cpu_seconds(roots), time.monotonic()
        browsing = Browsing(port, cookie, pages, args.users, args.think).warm_up().start()
        time.sleep(args.seconds)
        out = browsing.stop()
        wall = time.monotonic() - t
        out["every page (p95 ms)"] = {
            path: round(
                percentile(
                    [d * 1000 for q, d, st in browsing.samples if q == path and st == 200], 95
                ),
                1,
            )
            for path in pages
        }
        after = cpu_seconds(roots)
        names = {f"pid {p.pid}": k for k, p in procs.items()}
        out["cores busy"] = {
            names.get(k, k): round((after[k] - before[k]) / wall, 2) for k in after
        }
    finally:
        services.stop()
    print(f"machine: {machine()}; load average: {os.getloadavg()}")
    for key, value in out.items():
        print(f"{key}: {value}")


def burst_only(args: argparse.Namespace, env: dict[str, str], simulator: int) -> None:
    """Part 6 alone, on the portfolio a full run left, with no dispatch stored before it (so that
    runs of it compare): the burst's figures, cores busy, the CPU probe."""
    from django.db import connection

    from meters.models import Meter

    if not Meter.objects.exists():
        raise SystemExit("--burst-only needs the portfolio of a full run in this database")
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE dispatch_dispatchdelivery, dispatch_dispatchtimeslot, "
            "dispatch_dispatchtimeslotversion, dispatch_dispatchallocation CASCADE"
        )
    vacuum_analyze()
    logdir = Path(tempfile.mkdtemp(prefix="mixed-load-burst-"))
    services = start_services(args, env, logdir)
    try:
        parts = Parts(args, services, simulator)
        parts.meters = [str(m) for m in Meter.objects.values_list("pk", flat=True)]
        parts.measured("burst", parts.burst)
    finally:
        services.stop()
    print(f"machine: {machine()}; load average: {os.getloadavg()}; logs: {logdir}")


def bench_env(sim_url: str) -> dict[str, str]:
    """The environment gunicorn, the workers and this process run under: production settings."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leapportal.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "k" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "LEAP_SIMULATOR": "true",
        "LEAP_BASE_URL": sim_url,
        "LEAP_DISPATCH_WEBHOOK_SECRETS": SECRET,
        "LEAP_METER_WEBHOOK_SECRETS": "bench-meter-secret-0000000000001",
        "LOG_LEVEL": "WARNING",
        "CELERY_QUEUE": f"bench-mixed-{os.getpid()}",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "METERS_MISSING_HOLD_FRACTION": "1",
    }


def empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE dispatch_dispatchdelivery, dispatch_dispatchtimeslot, "
            "dispatch_dispatchtimeslotversion, dispatch_dispatchallocation, "
            "meters_syncrun, meters_meter CASCADE"
        )


def vacuum_analyze() -> None:
    """VACUUM ANALYZE as autovacuum would have by then (it may be off on the server, as it is on
    the project's machines): without statistics and the visibility map, the list pages' plans
    over 100,000 just-imported meters are not the ones production gets."""
    from django.db import connection

    connection.close()
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")


class Parts:
    """The measured parts of one run, each alone, then together, then the burst."""

    def __init__(self, args: argparse.Namespace, services: Services, simulator: int) -> None:
        self.args, self.procs, self.port = args, services.procs, services.port
        self.ingest = services.ingest_port  # Leap's notifications go to the receivers' pool
        # The stand-ins are measured too: the simulator (Leap's servers in production) and this
        # process (the users' browsers and Leap's senders) take the same two cores here.
        self.roots = [p.pid for p in self.procs.values()] + [simulator]
        self.simulator = simulator
        self.out: dict[str, dict] = {}

    def prepare(self) -> None:
        """The untimed first import, notifications to show, statistics, the users' pages."""
        from meters.models import Meter

        args = self.args
        print(f"first import (untimed): {run_full_sync()}", flush=True)
        self.meters = [str(m) for m in Meter.objects.values_list("pk", flat=True)]
        self.n = int(args.rate * args.seconds)
        plan = Plan(self.n * 11 + 200, self.meters, args.seed, gap=args.sender_threads * 2)
        self.bodies = iter(plan.bodies)
        self.cookie = login_cookie()
        # A few notifications first, so the dispatch pages have rows to show.
        Dispatching(self.ingest, self.take(200), 4, None).start().join()
        vacuum_analyze()
        self.pages = page_paths()

    def take(self, n: int) -> list[bytes]:
        return [next(self.bodies) for _ in range(n)]

    def cores(self, before: dict, wall: float) -> dict:
        after = cpu_seconds(self.roots)
        after["load generator"] = time.process_time()
        names = {f"pid {p.pid}": k for k, p in self.procs.items()}
        names[f"pid {self.simulator}"] = "simulator"
        names["postgres"] = "postgres"
        return {names.get(k, k): round((after[k] - before[k]) / wall, 2) for k in after}

    def measured(self, name: str, part) -> None:
        probe = machine_speed()
        before, t = cpu_seconds(self.roots), time.monotonic()
        before["load generator"] = time.process_time()
        ticks = machine_ticks()
        self.out[name] = part()
        wall = time.monotonic() - t
        self.out[name]["cores busy"] = self.cores(before, wall)
        whole = machine_cores(ticks, machine_ticks(), wall)
        self.out[name]["machine (cores)"] = {k: round(v, 2) for k, v in whole.items()}
        self.out[name]["probe before (ms CPU)"] = probe
        print(self.out[name], flush=True)

    def pages_alone(self) -> dict:
        browsing = (
            Browsing(self.port, self.cookie, self.pages, self.args.users, self.args.think)
            .warm_up()
            .start()
        )
        time.sleep(3 * self.args.seconds)
        return browsing.stop()

    def dispatch_alone(self) -> dict:
        sender = Dispatching(
            self.ingest, self.take(self.n), self.args.sender_threads, self.args.rate
        )
        return dispatch_figures(sender.start().join())

    def together(self) -> dict:
        """The full sync, with dispatch at the rate and the users browsing, until it finishes."""
        args = self.args
        browsing = (
            Browsing(self.port, self.cookie, self.pages, args.users, args.think).warm_up().start()
        )
        sender = Dispatching(self.ingest, self.take(self.n * 10), args.sender_threads, args.rate)
        sender.start()
        sync_result = run_full_sync()
        sent = sender.stop()
        self.out["together: pages"] = browsing.stop()
        self.out["together: dispatch"] = dispatch_figures(sent)
        return sync_result

    def burst(self) -> dict:
        from dispatch.models import DispatchDelivery

        args = self.args
        bodies = burst_bodies(self.meters, args.burst, args.burst_meters, args.seed + 1)
        t0 = time.monotonic()
        burst = Dispatching(self.ingest, bodies, args.sender_threads, None).start().join()
        posted = time.monotonic() - t0
        figures = dispatch_figures(burst, wait=600)
        delivered = DispatchDelivery.objects.filter(pk__in=[r[2] for r in burst if r[0] == 202])
        last = max(delivered.values_list("processed_at", flat=True), default=None)
        first_received = min(delivered.values_list("received_at", flat=True))
        figures["all posted after (s)"] = round(posted, 1)
        figures["all visible after (s)"] = (
            round((last - first_received).total_seconds(), 1) if last else None
        )
        figures["meter timeslots"] = args.burst * args.burst_meters
        return figures

    def run(self) -> dict[str, dict]:
        from bench.database import Autovacuum

        self.prepare()
        # Runs 1-19 analyzed once, here, with 200 notifications stored: by the together part
        # the dispatch pages planned over 20,000 with the statistics of 200.
        autovacuum = Autovacuum(os.environ["DATABASE_URL"], self.args.autovacuum_naptime)
        with autovacuum:
            self.measured("pages alone", self.pages_alone)
            self.measured("dispatch alone", self.dispatch_alone)
            self.measured("sync alone", run_full_sync)
            self.measured("together: sync", self.together)
            self.measured("sync alone after", run_full_sync)
            self.out["burst"] = self.burst()
        self.out["autovacuum"] = {"passes": autovacuum.runs, "vacuums": autovacuum.vacuums,
                                  "analyzes": autovacuum.analyzes}  # fmt: skip
        return self.out


def main() -> None:
    args = parse_args()
    from bench.database import bench_database

    bench_database("lp_bench_mixed")  # created if missing; refuses a name without "bench"
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        raise SystemExit("set CELERY_BROKER_URL to redis://... (the workers are real processes)")
    load_before = os.getloadavg()
    with SimulatorProcess(args.meters, args.seed, own_session=not args.sim_shares_session) as sim:
        env = bench_env(sim.url)
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)  # as a deployment does
        if args.pages_only:
            pages_only(args, env)
            return
        if args.burst_only:
            burst_only(args, env, sim.process.pid)
            return
        empty_tables()
        logdir = Path(tempfile.mkdtemp(prefix="mixed-load-"))
        services = start_services(args, env, logdir)
        try:
            out = Parts(args, services, sim.process.pid).run()
        finally:
            services.stop()
    report(out, load_before, logdir)


if __name__ == "__main__":
    main()
