"""Fixtures shared by the whole suite.

- Roles: `make_user`, `viewer_client`, `operator_client`, `admin_client_role`.
- Browser (Playwright, headless Debian Chromium): `page` and `live_server` come from the plugins;
  `screenshot(page, name)` saves a PNG into test-artifacts/screenshots/.
- A real Celery worker: `celery_worker` (see "Real Celery worker" below for the whole story).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from leapportal import queues

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
# thread with a running loop unless told otherwise. Tests only, never in settings.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOT_DIR = REPO / "test-artifacts" / "screenshots"


def skip_or_fail(reason: str) -> None:
    """Skip the test locally; under CI=true fail it, so CI never passes by skipping."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run in CI)", pytrace=False)
    pytest.skip(reason)


# --- browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch Debian's Chromium: Playwright's own browser download is not reachable here."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "chromium_sandbox": False,
    }


def pytest_collection_modifyitems(config, items):
    """Skip browser tests without Chromium (fail the run instead under CI=true)."""
    if os.path.exists(CHROMIUM):
        return
    if IN_CI:
        raise pytest.UsageError(f"CI=true but no Chromium at {CHROMIUM}: apt-get install chromium")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def save_screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of `page` as test-artifacts/screenshots/<name>.png and return its path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "screenshot"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """`screenshot(page, "meters-list")` -> test-artifacts/screenshots/meters-list.png."""
    return save_screenshot


# --- users and roles -----------------------------------------------------------------------------


@pytest.fixture
def make_user(db, django_user_model):
    """make_user("operator") -> a user in that role's group (password "pw")."""
    from django.contrib.auth.models import Group

    def make(role: str | None = None, username: str | None = None, **extra):
        """Create the user, in the role's group when a role is given."""
        user = django_user_model.objects.create_user(
            username=username or f"{role or 'nobody'}-user", password="pw", **extra
        )
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def viewer_client(client, make_user):
    """A test client logged in as a member of the viewer role."""
    client.force_login(make_user("viewer"))
    return client


@pytest.fixture
def operator_client(client, make_user):
    """A test client logged in as a member of the operator role."""
    client.force_login(make_user("operator"))
    return client


@pytest.fixture
def admin_client_role(client, make_user):
    """A client logged in as a member of the admin role (not a superuser)."""
    client.force_login(make_user("admin", is_staff=True))
    return client


# --- Real Celery worker ----------------------------------------------------------------------------
#
# Unit tests run tasks eagerly (CELERY_TASK_ALWAYS_EAGER is on under pytest). Tests about the worker
# itself (acks_late redelivery, a worker killed mid-run, beat) use a real `celery worker` process:
#
#     @pytest.mark.worker
#     @pytest.mark.django_db(transaction=True)      # the worker must see committed rows
#     def test_it_runs_in_the_worker(celery_worker):
#         run = SyncRun.objects.create(...)
#         run_sync.delay(run.pk)                    # eager is off while celery_worker is in use
#         celery_worker.wait_for(lambda: SyncRun.objects.get(pk=run.pk).status == "done")
#
# - The worker runs `python -m celery -A leapportal worker --pool=solo` in its own process group,
#   against the pytest TEST database (its URL is built from connection.settings_dict after
#   django_db_setup) and the broker of CELERY_BROKER_URL, consuming only this pytest process's own
#   queue (settings.CELERY_TASK_DEFAULT_QUEUE, unique per process), so parallel runs on one Redis
#   db do not steal each other's tasks.
# - One worker is shared by the session; `celery_worker` restarts it if a test killed it and
#   purges the queue before each test.
# - `celery_worker.kill()` SIGKILLs it (a crash mid-task); `.stop()` is a warm shutdown;
#   `.start()` / `.ensure_running()` bring it back; `.log_tail()` shows its log (also in
#   var/test-workers/); `.wait_for(predicate)` polls until true or fails with the log tail.
# - Need other settings in the worker (a simulator served over HTTP, say)? Call
#   `celery_workers.get(extra_env={"LEAP_BASE_URL": url})` with the session fixture `celery_workers`
#   and `celery_eager_off`: at most one worker consumes the queue at a time, so asking for a
#   different environment stops the current one first.
# - Skipped when no broker is reachable; under CI=true that fails instead.


@dataclass
class CeleryWorker:
    """A real `celery worker` subprocess; see the comment above for how tests use it."""

    hostname: str
    queue: str
    env: dict[str, str]
    log_path: Path
    ready: str = "ping"  # "ping" (remote control over the broker) or "log" (transports without it)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    # -Q: by default the queue and its dispatch and sync queues (leapportal/queues.py).
    queues: str | None = None

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs."""
        return self.process.pid if self.process else None

    def command(self) -> list[str]:
        """The command line that starts this worker."""
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "leapportal",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            self.queues or queues.all_of(self.queue),
            "-n",
            self.hostname,
            *self.extra_args,
        ]

    def start(self, timeout: float = 60.0) -> CeleryWorker:
        """Spawn the worker and wait until it answers (ping) or logs that it is ready."""
        if self.is_alive():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log.write(f"\n--- start {time.strftime('%H:%M:%S')}: {' '.join(self.command())}\n".encode())
        log.flush()
        # Own process group: Ctrl-C on pytest does not hit it, and kill() takes the whole group.
        self.process = subprocess.Popen(
            self.command(),
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_alive():
                raise RuntimeError(f"celery worker exited at start:\n{self.log_tail()}")
            if self._is_ready():
                return self
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"celery worker not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def _is_ready(self) -> bool:
        """Ready by the chosen check: a ping reply, or the "ready." line in the log."""
        if self.ready == "log":
            return f"{self.hostname} ready." in self.log_text()
        return self.ping()

    def ping(self, timeout: float = 0.5) -> bool:
        """True when this worker answers a remote-control ping through the broker."""
        from leapportal.celery import app

        replies = app.control.ping(destination=[self.hostname], timeout=timeout)
        return any(self.hostname in reply for reply in replies)

    def is_alive(self) -> bool:
        """True while the worker process runs."""
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> CeleryWorker:
        """Start the worker again if it is not running (a test killed it, say)."""
        return self if self.is_alive() else self.start()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` (default SIGKILL: a crash, no cleanup) to the worker's process group."""
        if not self.is_alive():
            return
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM: finish the current task), SIGKILL after `timeout`."""
        if not self.is_alive():
            return
        assert self.process is not None
        self.kill(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        """The worker's whole log."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the worker's log, for failure messages."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for(
        self,
        predicate: Callable[[], Any],
        *,
        timeout: float = 30.0,
        interval: float = 0.1,
        what: str = "the condition",
    ) -> Any:
        """Poll `predicate` until it returns something truthy; fail with the worker log if not."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(
                    f"waited {timeout:.0f}s for {what}; worker alive={self.is_alive()}; "
                    f"log tail:\n{self.log_tail()}",
                    pytrace=False,
                )
            time.sleep(interval)


class CeleryWorkers:
    """The session's worker(s) on the test queue: at most one runs at a time."""

    def __init__(self, base_env: dict[str, str], queue: str, log_dir: Path) -> None:
        """Workers get base_env, consume `queue` and log into log_dir."""
        self.base_env = base_env
        self.queue = queue
        self.log_dir = log_dir
        self._forget_old_logs()
        self.current: CeleryWorker | None = None
        self._numbers = count(1)

    LOG_KEEP_SECONDS = 24 * 3600

    def _forget_old_logs(self) -> None:
        """Delete worker logs of sessions older than a day: they piled up in var/ forever.

        By age, not by owner: parallel pytest processes share the folder, and a log another
        session is writing now is recent.
        """
        cutoff = time.time() - self.LOG_KEEP_SECONDS
        for old in self.log_dir.glob("worker-*.log"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:
                continue  # gone meanwhile, or not ours to delete

    def get(self, extra_env: dict[str, str] | None = None) -> CeleryWorker:
        """A running worker with base_env + extra_env (reused if the same env is running)."""
        env = {**self.base_env, **(extra_env or {})}
        if self.current is not None and self.current.env == env:
            return self.current.ensure_running()
        self.stop()
        number = next(self._numbers)
        hostname = f"test{number}-{os.getpid()}@{socket.gethostname()}"
        self.current = CeleryWorker(
            hostname=hostname,
            queue=self.queue,
            env=env,
            log_path=self.log_dir / f"worker-{os.getpid()}-{number}.log",
        )
        return self.current.start()

    def purge(self) -> int:
        """Drop every message waiting on the test queue; return how many."""
        from dispatch import wakeup
        from leapportal.celery import app

        purged = 0
        with app.connection_for_write() as conn:
            for queue in queues.names(self.queue).values():
                purged += conn.default_channel.queue_purge(queue) or 0
        wakeup.forget()  # a drain flag whose task was just purged would silence the receivers
        return purged

    def stop(self) -> None:
        """Stop the running worker, if any."""
        if self.current is not None:
            self.current.stop()


def _database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for the database pytest-django set up (the test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        host = quote(host, safe="")  # a Unix socket folder (the embedded PostgreSQL's)
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgresql://{auth}{host}{port}/{quote(settings_dict['NAME'], safe='')}"


def _broker_problem(broker_url: str) -> str | None:
    """Why no worker can use this broker, or None when it answers."""
    if not broker_url or broker_url.startswith("memory://"):
        return "no broker: set CELERY_BROKER_URL=redis://127.0.0.1:6379/N to run worker tests"
    from leapportal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
    except Exception as exc:  # any failure means "not reachable"; the message says which
        return f"broker {broker_url} is not reachable: {exc}"
    return None


@pytest.fixture(scope="session")
def celery_workers(django_db_setup, django_db_blocker) -> Iterator[CeleryWorkers]:
    """Session-wide manager of the real worker (depends on django_db_setup: the test DB exists,
    and the worker is stopped before pytest-django drops it)."""
    from django.conf import settings
    from django.db import connection

    problem = _broker_problem(settings.CELERY_BROKER_URL)
    if problem:
        skip_or_fail(problem)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # The worker imports tests.settings like the test process, without pytest loaded.
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "LEAPPORTAL_TESTING": "true",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        # Tests count the heartbeats they send; the start-up one is tested on its own.
        "WORKER_STARTUP_HEARTBEAT": "false",
    }
    env.pop("PYTEST_XDIST_WORKER", None)  # the queue is passed explicitly
    workers = CeleryWorkers(env, settings.CELERY_TASK_DEFAULT_QUEUE, REPO / "var" / "test-workers")
    yield workers
    workers.stop()


@pytest.fixture
def celery_eager_off() -> Iterator[None]:
    """Send tasks to the broker during this test instead of running them in-process."""
    from leapportal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def celery_worker(celery_workers, celery_eager_off) -> Iterator[CeleryWorker]:
    """A running real worker on an empty test queue, with eager mode off for this test."""
    worker = celery_workers.get()
    celery_workers.purge()
    yield worker
    # A test that leaves tasks queued must not hand them to the next test.
    celery_workers.purge()


# --- embedded PostgreSQL -------------------------------------------------------------------------


@pytest.fixture
def embedded_pgdata() -> Iterator[Path]:
    """A data folder for one test's embedded PostgreSQL (leapportal/embedded_db.py): start it with
    `embedded_db.ensure_running(embedded_pgdata)` or EMBEDDED_POSTGRES_DIR; whatever server runs
    there is stopped at the end and the folder deleted.

    Under /tmp, not tmp_path: as root the server runs as its own user, and pytest closes
    /tmp/pytest-of-root to other users again whenever a session starts (sessions run in parallel).
    """
    import tempfile

    from leapportal import embedded_db

    folder = Path(tempfile.mkdtemp(prefix="leapportal-embedded-")) / "pg"
    yield folder
    try:
        embedded_db.stop(folder)
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


# --- Leap simulator ------------------------------------------------------------------------------
# `leap_sim`: a fresh in-process Leap (leap.simulator.Simulator) mounted as the transport of every
# leap.get_client() in the test, so the real client talks to it. Every response it gives is checked
# against Leap's OpenAPI specs; a response that breaks them fails the test that produced it.
#
# Defaults: 40 meters, seed 42, `now` = the current UTC minute (so code that reads the real clock,
# e.g. dispatch polling windows, sees the simulator's events). The client's retry sleeps are skipped.
# Override per test:  @pytest.mark.leap_sim(meters=200, seed=7, now=datetime(2026, 1, 5, tzinfo=UTC),
#                     changes_per_hour=0, validate=False)
# Webhooks: `leap_sim.deliver_to = leap_sim_django_sender(client)` posts them through Django's test
# client; otherwise deliver_due() POSTs over HTTP (e.g. to live_server.url).


@pytest.fixture
def leap_sim(request):
    """A fresh Leap simulator, mounted with leap.use_transport; responses validated against the specs."""
    from datetime import UTC, datetime

    import leap
    from leap.simulator import Simulator
    from leap.specs import specs_available

    marker = request.node.get_closest_marker("leap_sim")
    options = dict(marker.kwargs) if marker else {}
    validate = options.pop("validate", True)
    options.setdefault("meters", 40)
    options.setdefault("seed", 42)
    options.setdefault("now", datetime.now(UTC).replace(second=0, microsecond=0))
    sim = Simulator(**options)
    transport = sim.transport()
    sim.validator = None
    if validate and specs_available():
        from leap.simulator.contract import ValidatingTransport

        transport = ValidatingTransport(transport)
        sim.validator = transport
        request.node._leap_sim_validator = transport
    with leap.use_transport(transport, sleep=lambda seconds: None):
        yield sim


@pytest.fixture
def leap_sim_django_sender():
    """leap_sim_django_sender(client) -> a deliver_to callable posting through Django's test client."""
    from leap.simulator.testing import django_sender

    return django_sender


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail a test whose simulator answered something Leap's specs do not allow."""
    result = yield
    validator = getattr(item, "_leap_sim_validator", None)
    if validator is not None and validator.failures:
        shown = "\n".join(validator.failures[:20])
        raise AssertionError(
            f"{len(validator.failures)} Leap simulator response(s) broke Leap's OpenAPI specs:\n{shown}"
        )
    return result


@pytest.fixture(autouse=True)
def _fresh_mapping_convention():
    """Each test decides the refId = customer id convention from its own data (mapping.flags)."""
    from mapping.flags import forget_convention
    from meters import choices

    forget_convention()
    choices.forget()  # and the filters' stored values from its own meters
    yield
    forget_convention()
    choices.forget()
