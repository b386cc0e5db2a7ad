"""CPU cost per dispatch notification, in one process (no HTTP, no other process's CPU counted).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_bench_dispatchperf \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/9 \
    python bench/dispatch_cpu.py --notifications 3000 [--profile receiver|process]

The same Leap-shaped notifications as bench/webhook_load.py (same Plan and seed). Phase 1 POSTs
every one through Django's full handler and middleware (django.test.Client) with the real wake-up
on commit (dispatch.wakeup: one publish, then the pending flag); phase 2 runs the drain task's
body (inbox.process_waiting, batches of DISPATCH_PROCESS_BATCH) until every delivery is handled. Each phase reports time.process_time() per notification: CPU of this process,
so it is meaningful on a shared machine where wall clock is not. PostgreSQL's own CPU is not in it.

The database is wiped of dispatch rows and meters first: its name must contain "bench".
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from webhook_load import SECRET, Plan, django_setup, prepare_database  # noqa: E402

from bench.database import bench_database  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--notifications", type=int, default=3000)
    p.add_argument("--meters", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--profile", choices=("receiver", "process"), default=None)
    p.add_argument("--top", type=int, default=25, help="lines of the profile to print")
    return p.parse_args()


def measure(label: str, fn, n: int, profile: bool, top: int) -> float:
    """Run fn() under process_time (and cProfile if asked); print and return ms CPU each."""
    prof = cProfile.Profile(time.process_time) if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    fn()
    if prof:
        prof.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per = cpu / n * 1000
    print(f"{label}: {n} notifications, {per:.2f} ms CPU each ({wall / n * 1000:.2f} ms wall)")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(top)
        pstats.Stats(prof).sort_stats("tottime").print_stats(top)
    return per


def main() -> None:
    args = parse_args()
    bench_database("lp_bench_dispatchperf")  # wiped: its name must contain "bench"
    queue = f"bench-dispatch-cpu-{os.getpid()}"
    django_setup(
        {
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + "k" * 60,
            "ALLOWED_HOSTS": "testserver,127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "LEAP_SIMULATOR": "true",
            "LEAP_DISPATCH_WEBHOOK_SECRETS": SECRET,
            "LEAP_METER_WEBHOOK_SECRETS": "bench-meter-secret-0000000000001",
            "LOG_LEVEL": "WARNING",
            "CELERY_QUEUE": queue,
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
    )
    from django.db.models import Count
    from django.test import Client

    from dispatch import inbox, wakeup
    from dispatch.models import DispatchDelivery
    from leapportal.celery import app

    meters = prepare_database(args.meters)
    plan = Plan(args.notifications, meters, args.seed, gap=32)
    client = Client()
    ids: list[int] = []

    def receive() -> None:
        for body in plan.bodies:
            response = client.post(
                "/dispatch/webhooks/meter",
                body,
                content_type="application/json",
                headers={"x-leapportal-secret": SECRET},
            )
            assert response.status_code == 202, response.content
            ids.append(response.json()["delivery_id"])

    def process() -> None:
        # What the drain task does (dispatch.tasks.drain_deliveries), with the real flag.
        drained = inbox.process_waiting(
            keep_pending=wakeup.keep_pending, clear_pending=wakeup.clear_pending
        )
        assert drained == (len(ids), [], True), drained

    n = len(plan.bodies)
    try:
        measure("receiver", receive, n, args.profile == "receiver", args.top)
        measure("processing", process, n, args.profile == "process", args.top)
    finally:
        from leapportal import queues

        with app.connection_for_write() as conn:
            for name in queues.names(queue).values():
                conn.default_channel.queue_purge(name)
        wakeup.forget()
    left = DispatchDelivery.objects.filter(status="received").count()
    statuses = dict(
        DispatchDelivery.objects.values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    print(f"deliveries by status: {statuses}; left unprocessed: {left}")


if __name__ == "__main__":
    main()
