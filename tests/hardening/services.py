"""Throwaway copies of our own services, for tests that stop and start them.

The machine's PostgreSQL (5432) and Redis (6379) are shared with other test runs and are never
stopped by a test. A test about an outage starts its own:

- `ThrowawayRedis`: a `redis-server` on a free loopback port, no persistence (like a Redis
  restarted without its data: anything queued there is gone, which is the harder case);
- `ThrowawayPostgres`: an `initdb` cluster under /tmp (as the postgres user when we are root),
  on a free port, fsync off;
- `WebServer`: our WSGI app under gunicorn (as in production), with a given environment;
- `run_python`: a one-off Django process (the sweep as beat would send it, migrate, ...);
- `queue_workers`: a sync worker and a dispatch worker, each on its own queues, as in production.

Each records its log under var/test-services/ and stops what it started (its own process ids only).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from glob import glob
from pathlib import Path

import httpx

from tests.conftest import REPO, CeleryWorker

LOG_DIR = REPO / "var" / "test-services"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.1):
    """Poll `predicate` until truthy; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f}s for {what}")
        time.sleep(interval)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


class ThrowawayRedis:
    """A redis-server of our own on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lp-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"redis-{os.getpid()}-{self.port}.log"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> ThrowawayRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/services.sh installs it)")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_until(lambda: _port_open(self.port), timeout=20, what=f"redis on {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None
        wait_until(lambda: not _port_open(self.port), timeout=10, what="redis to stop")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bindir() -> Path:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
        )
    return Path(found[-1]).parent


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own (initdb + pg_ctl) on a free port, trust auth, fsync off."""

    def __init__(self) -> None:
        self.port = free_port()
        # Under /tmp with open permissions: the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="lp-pg-", dir="/tmp"))
        self.data = self.root / "data"
        os.chmod(self.root, 0o777)
        self.bindir = _pg_bindir()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.server_log = self.root / "server.log"

    def _as_postgres(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            import shlex

            command = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def init(self) -> ThrowawayPostgres:
        result = self._as_postgres(self.bindir / "initdb", "-D", self.data, "-A", "trust",
                                   "-U", "postgres", "--no-sync")  # fmt: skip
        if result.returncode:
            raise RuntimeError(f"initdb failed: {result.stdout}{result.stderr}")
        return self

    def start(self) -> ThrowawayPostgres:
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")  # fmt: skip
        result = self._as_postgres(self.bindir / "pg_ctl", "-D", self.data, "-l",
                                   self.server_log, "-w", "-t", "60", "-o", options, "start")  # fmt: skip
        if result.returncode:
            raise RuntimeError(f"pg_ctl start failed: {result.stdout}{result.stderr}")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back and disconnect sessions; immediate: like a crash)."""
        self._as_postgres(self.bindir / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')


def run_python(code: str, env: dict[str, str], *, timeout: float = 300) -> str:
    """Run Python code in a fresh Django process with `env`; its stdout (fails loudly)."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if result.returncode:
        raise AssertionError(f"process failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    return result.stdout


class WebServer:
    """Our WSGI app under gunicorn on a free port, in its own process group."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 2,
        name: str = "web",
        app: str = "leapportal.wsgi:application",
    ) -> None:
        self.port = free_port()
        self.app = app
        self.env = {**env, "ALLOWED_HOSTS": "127.0.0.1,localhost"}
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}-{os.getpid()}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", self.app,
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
             "--timeout", "60", "--graceful-timeout", "5", "--access-logfile", "-"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()

        def up() -> bool:
            if self.process is None or self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.log_tail()}")
            try:
                return httpx.get(self.url + "/healthz", timeout=2).status_code < 500
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=60, what="gunicorn to answer /healthz")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def queue_workers(env: dict[str, str], tag: str) -> tuple[CeleryWorker, CeleryWorker]:
    """(sync worker, dispatch worker), not started: the sync one takes the sync and default
    queues, the dispatch one the dispatch queue (leapportal/queues.py), each with its own log."""
    from django.conf import settings

    from leapportal import queues

    names = queues.names(settings.CELERY_TASK_DEFAULT_QUEUE)
    sync, dispatch = (
        CeleryWorker(
            hostname=f"{kind}-{os.getpid()}@{socket.gethostname()}",
            queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            env=env,
            log_path=REPO / "var" / "test-workers" / f"{tag}{kind}-{os.getpid()}.log",
            ready="log",
            queues=qs,
        )
        for kind, qs in (
            ("sync", f"{names['sync']},{names['default']}"),
            ("dispatch", names["dispatch"]),
        )
    )
    return sync, dispatch
