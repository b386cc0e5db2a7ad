"""`make demo` for real: the embedded PostgreSQL, the simulator, seeding, web, worker and beat, then
a signal, after which nothing it started may be left running.

Each run has its own ports (DEMO_PORT / DEMO_SIM_PORT), data folder, broker folder and logs, so it
never meets a demo someone runs in the same checkout. Started as `nohup make demo &` would be
(SIGINT and SIGHUP ignored), only SIGTERM can stop it; started from a terminal that closes, SIGHUP.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from leapportal import embedded_db
from tests.conftest import REPO

pytestmark = pytest.mark.worker  # it runs a real worker (and a whole demo)

PASSWORD = "demo-test-password-1"  # noqa: S105 - a throwaway demo login


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ignore_int_and_hup() -> None:
    """What `nohup ... &` gives a non-interactive shell's background job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _default_signals() -> None:
    """What a shell in a terminal gets, even when pytest itself runs under nohup (an ignored
    signal stays ignored across exec, and bash cannot trap a signal ignored at its start)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _ours(tag: str) -> list[psutil.Process]:
    """Live processes whose environment carries this run's data folder (the embedded server too:
    pg_ctl passes the environment of `embedded_db start` on)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("EMBEDDED_POSTGRES_DIR") == tag:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _wait_for_text(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = path.read_text(errors="replace")
        if text in output:
            return output
        if proc.poll() is not None:
            raise AssertionError(f"the demo exited ({proc.returncode}) before {text!r}:\n{output}")
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} within {timeout} s:\n{path.read_text(errors='replace')}")


def _log_in(base_url: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, follow_redirects=True, timeout=30) as client:
        form = client.get("/accounts/login/")
        assert form.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token, form.text[:500]
        return client.post(
            "/accounts/login/",
            data={"username": "operator", "password": PASSWORD,
                  "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"{base_url}/accounts/login/"},
        )  # fmt: skip


@pytest.mark.parametrize(
    ("command", "nohup", "stop_signal"),
    [
        # `nohup make demo &`, then `kill <pid>`: make passes SIGTERM on to the script.
        (["make", "-s", "demo"], True, signal.SIGTERM),
        # The terminal it ran in was closed.
        (["bash", "scripts/demo.sh"], False, signal.SIGHUP),
    ],
    ids=["make-demo-in-the-background-stopped-by-SIGTERM", "demo-script-stopped-by-SIGHUP"],
)
def test_the_demo_comes_up_on_the_embedded_postgresql_and_a_signal_stops_all_it_started(
    tmp_path, embedded_pgdata, command, nohup, stop_signal
):
    pgdata = embedded_pgdata
    port, sim_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE",
                        "PYTEST_XDIST_WORKER", "LEAPPORTAL_TESTING", "LOG_LEVEL"}}  # fmt: skip
    env.update(
        EMBEDDED_POSTGRES_DIR=str(pgdata),
        CELERY_FILESYSTEM_DIR=str(tmp_path / "broker"),
        DEMO_LOG_DIR=str(tmp_path / "logs"),
        DEMO_PORT=str(port),
        DEMO_SIM_PORT=str(sim_port),
        DEMO_METERS="30",
        DEMO_PASSWORD=PASSWORD,
        DEMO_WORKER_CONCURRENCY="1",
    )
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        demo = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, preexec_fn=_ignore_int_and_hup if nohup else _default_signals,
        )  # fmt: skip
    try:
        output = _wait_for_text(out, "leapportal is running:", demo, timeout=300)
        url = f"http://127.0.0.1:{port}"
        assert f"leapportal is running:  {url}/" in output
        assert f"username operator  password {PASSWORD}" in output
        assert "database: embedded PostgreSQL" in output
        running = _ours(str(pgdata))
        assert embedded_db.url(pgdata) is not None
        commands = " ".join(" ".join(p.cmdline()) for p in running)
        for part in ("gunicorn", "celery", "worker", "beat", "leap_simulator", "postgres"):
            assert part in commands, f"{part} is not running: {commands}"

        page = _log_in(url)
        assert page.status_code == 200
        assert str(page.url).rstrip("/") != f"{url}/accounts/login"
        assert '<span class="who">operator</span>' in page.text

        demo.send_signal(stop_signal)
        demo.wait(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
        for proc in _ours(str(pgdata)):  # a failed test must not leave a demo behind
            if proc.name() != "postgres":  # the fixture stops the database cleanly
                proc.kill()

    output = out.read_text(errors="replace")
    assert "[demo] all stopped" in output, output
    assert "[embedded_db] PostgreSQL stopped" in output, output
    left = _ours(str(pgdata))
    assert not left, [" ".join(p.cmdline()) for p in left]
    assert embedded_db.url(pgdata) is None
    for port_in_use in (port, sim_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port_in_use)) != 0
    # Nothing confusing in what the person running it reads.
    for noise in ("Traceback", "No hostname was supplied", "(details + enrollments): 1\n",
                  "Warning", "WARNING", "ERROR"):  # fmt: skip
        assert noise not in output, output
