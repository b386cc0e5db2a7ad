"""The processes bench/mixed_load.py measures, as production runs them (README, production notes).

- "gunicorn": the pages (the dashboard people use);
- "ingest": a second gunicorn for Leap's webhooks (both dispatch receivers and the meter event
  receiver), when `--ingest-workers` is above 0. In production a proxy routes `/dispatch/webhooks/`
  and `/meters/webhooks/` to it. Runs 1-14 served both from one pool (`--ingest-workers 0`);
  from run 29 it runs `leapportal.wsgi_ingest` (the receivers' lean middleware chain,
  `--ingest-app`);
- "dispatch worker": the dispatch queue, one process;
- "sync worker": the sync and default queues, one process, at `--sync-nice`.

Each starts in its own session, which on Linux is its own autogroup: the kernel shares the cores
between autogroups first (bench/cpu.py), so the pages get a share of their own, not a share of
whatever the webhook threads leave in the same processes.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import autogroup_nice
from bench.webhook_load import stop

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Services:
    """The running processes by name, and where to reach the pages and the webhook receivers."""

    procs: dict[str, subprocess.Popen]
    port: int  # the pages
    ingest_port: int  # the receivers (the same port when one pool serves both)

    def stop(self) -> None:
        stop(list(self.procs.values()))


def _gunicorn(args, port: int, workers: int, nice: int, app: str = "leapportal.wsgi:application"):
    return ["nice", "-n", str(nice), sys.executable, "-m", "gunicorn", app,
            "-b", f"127.0.0.1:{port}", "-w", str(workers),
            "--worker-class", "gthread", "--threads", str(args.gunicorn_threads),
            "--backlog", "2048", "--log-level", "warning"]  # fmt: skip


def _answers(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            time.sleep(0.3)
    return False


def start_services(args, env: dict[str, str], logdir: Path) -> Services:
    """Start every process, each in its own process group; wait until the web pools answer."""
    from leapportal import queues

    names = queues.names(env["CELERY_QUEUE"])
    py = sys.executable
    port = free_port()
    ingest_port = free_port() if args.ingest_workers else port
    commands = {"gunicorn": (_gunicorn(args, port, args.gunicorn_workers, args.web_nice),
                             args.web_nice)}  # fmt: skip
    if args.ingest_workers:
        commands["ingest"] = (
            _gunicorn(args, ingest_port, args.ingest_workers, args.ingest_nice, args.ingest_app),
            args.ingest_nice,
        )
    commands["dispatch worker"] = (
        [py, "-m", "celery", "-A", "leapportal", "worker", "-Q", names["dispatch"], "-c", "1",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
         "-n", f"bench-dispatch-{os.getpid()}@%h"], 0,
    )  # fmt: skip
    commands["sync worker"] = (
        ["nice", "-n", str(args.sync_nice), py, "-m", "celery", "-A", "leapportal", "worker",
         "-Q", f"{names['sync']},{names['default']}", "-c", "1", "--loglevel", "WARNING",
         "--without-gossip", "--without-mingle", "-n", f"bench-sync-{os.getpid()}@%h"],
        args.sync_nice,
    )  # fmt: skip
    procs = {}
    for name, (cmd, nice) in commands.items():
        log = (logdir / f"{name.replace(' ', '-')}.log").open("wb")
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        autogroup_nice(procs[name].pid, nice)
    services = Services(procs, port, ingest_port)
    deadline = time.monotonic() + 60
    if not (_answers(port, deadline) and _answers(ingest_port, deadline)):
        services.stop()
        raise SystemExit(f"gunicorn did not answer; logs in {logdir}")
    time.sleep(3)  # the workers connect to the broker
    return services
