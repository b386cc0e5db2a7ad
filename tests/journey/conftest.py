"""What `make demo` builds, for the journey test: its database, the simulator, the web server,
the demo data and a worker, each a real process as in scripts/demo.sh.

`demo_stack` (module scope) starts, in the order demo.sh does:
- the database (`journey_database`): the embedded PostgreSQL from the pip wheel, fresh;
- migrate and the three demo logins (password "pw");
- the Leap simulator (`manage.py leap_simulator`, 200 meters, seed 42) on a free port;
- the web server (gunicorn, two workers, DEBUG=true as in the demo) on a free port;
- `manage.py seed_demo` (while the web server is up, so dispatch webhooks reach it);
- a Celery worker on kombu's filesystem transport (the demo's default broker: no server).
Every process logs into var/test-journey/<pid>/; `stack.server_errors()` reads them all.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, CeleryWorker, skip_or_fail

METERS = 200
PASSWORD = "pw"
ADMIN_TOKEN = "journey-admin-token-0000"
# Lines of a process log that mean a server-side failure: Django logs a 500 as
# "ERROR django.request Internal Server Error: ...", Celery a failed task as "ERROR ...", gunicorn
# a crashed worker as "[ERROR]". (A 403 or 404 is a WARNING, with a traceback: not a failure.)
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until something listens on the port; fail with the log if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise RuntimeError(f"{log.stem} exited at start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    raise RuntimeError(f"{log.stem} did not listen on {port} in {timeout:.0f}s")


@pytest.fixture(scope="module")
def journey_database() -> Iterator[str]:
    """DATABASE_URL of the embedded PostgreSQL `make demo` runs, fresh, in a folder of its own.

    leapportal/embedded_db.py is the one way the demo, seed_demo and runserver get it; here with
    its data under /tmp (as root the server runs as its own user, which must reach the folder:
    see the `embedded_pgdata` fixture), stopped and deleted at the end.
    """
    import tempfile

    from leapportal import embedded_db

    folder = Path(tempfile.mkdtemp(prefix="leapportal-journey-")) / "pg"
    try:
        yield embedded_db.ensure_running(folder)
    finally:
        try:
            embedded_db.stop(folder)
        finally:
            shutil.rmtree(folder.parent, ignore_errors=True)


@dataclass
class DemoStack:
    """The running demo: its URL, its processes and their logs."""

    url: str
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    worker: CeleryWorker | None = None
    seed_output: str = ""

    def logs(self) -> dict[str, str]:
        """Every process log by name (web, worker, simulator, seed...)."""
        return {
            path.stem: path.read_text(errors="replace")
            for path in sorted(self.log_dir.glob("*.log"))
        }

    def server_errors(self) -> list[str]:
        """Lines of any log that report a server-side error or a traceback."""
        found = []
        for name, text in self.logs().items():
            if name == "access":
                found += [
                    f"access: {line}" for line in text.splitlines() if re.search(r'" 5\d\d ', line)
                ]
                continue
            found += [f"{name}: {line}" for line in text.splitlines() if ERROR_LINE.search(line)]
        return found

    def manage(self, *args: str, timeout: float = 180) -> str:
        """Run a manage.py command of the demo; its output (failing on a non-zero exit)."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        output = done.stdout + done.stderr
        (self.log_dir / f"{args[0]}.log").open("a").write(output)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{output}")
        return output

    def start(self, name: str, command: list[str], port: int) -> None:
        """Start a long-running process in its own session and wait for its port."""
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.processes[name] = process
        wait_for_port(port, process, log, timeout=60)

    def stop(self) -> None:
        """Stop everything started, the last started first (SIGTERM, then SIGKILL)."""
        if self.worker is not None:
            self.worker.stop()
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.fixture(scope="module")
def demo_stack(journey_database) -> Iterator[DemoStack]:
    """The demo as scripts/demo.sh builds it (see the module docstring)."""
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        skip_or_fail("gunicorn is not installed in this virtualenv (make install)")
    logs = REPO / "var" / "test-journey"
    for old in logs.glob("*"):  # logs of runs older than a day (parallel runs keep theirs)
        if old.stat().st_mtime < time.time() - 24 * 3600:
            shutil.rmtree(old, ignore_errors=True)
    log_dir = logs / str(os.getpid())
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    web_port, sim_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leapportal.settings",  # the demo's settings, not the tests'
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": journey_database,
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_DIR": str(log_dir / "broker"),
        "LEAP_SIMULATOR": "true",
        "LEAP_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "LEAP_SIMULATOR_METERS": str(METERS),
        "LEAP_SIMULATOR_SEED": "42",
        "LEAP_SIMULATOR_ADMIN_TOKEN": ADMIN_TOKEN,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    for name in ("PYTEST_XDIST_WORKER", "LEAPPORTAL_TESTING", "CELERY_QUEUE", "LEAP_API_KEY"):
        env.pop(name, None)
    stack = DemoStack(url=f"http://127.0.0.1:{web_port}", env=env, log_dir=log_dir)
    try:
        stack.manage("migrate", "--noinput", "-v0")
        stack.manage("demo_logins", "--password", PASSWORD)
        stack.start(
            "simulator",
            [sys.executable, "manage.py", "leap_simulator", "--port", str(sim_port),
             "--meters", str(METERS), "--seed", "42"],
            sim_port,
        )  # fmt: skip
        stack.start(
            "web",
            [str(Path(sys.executable).parent / "gunicorn"), "leapportal.wsgi:application",
             "--bind", f"127.0.0.1:{web_port}", "--workers", "2", "--graceful-timeout", "5",
             "--access-logfile", str(log_dir / "access.log")],
            web_port,
        )  # fmt: skip
        stack.seed_output = stack.manage("seed_demo", timeout=300)
        stack.worker = CeleryWorker(
            hostname=f"journey-{os.getpid()}@{socket.gethostname()}",
            queue="celery",
            env=env,
            log_path=log_dir / "worker.log",
            ready="log",
        )
        stack.worker.start(timeout=90)
        yield stack
    finally:
        stack.stop()
