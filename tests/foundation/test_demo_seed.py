"""make demo's seeding on its embedded default (SQLite, filesystem broker), end to end.

Every app's raw SQL for PostgreSQL needs a path that works on SQLite: a read written with `::`
casts once made the demo start without any demo data while the whole suite (on PostgreSQL)
stayed green. This runs what scripts/demo.sh runs: migrate, the simulator, then seed_demo.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time

from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the simulator did not listen on {port} within {timeout} s")


def test_the_demo_seeds_its_data_on_sqlite(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_DIR": str(tmp_path / "broker"),
        "DJANGO_SETTINGS_MODULE": "leapportal.settings",
        "DEBUG": "true",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "LEAP_SIMULATOR": "true",
        "LEAP_BASE_URL": f"http://127.0.0.1:{port}",
        "LEAP_SIMULATOR_METERS": "30",
        "LEAP_SIMULATOR_SEED": "42",
        "LEAP_SIMULATOR_ADMIN_TOKEN": "test-demo-admin",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    run = {"cwd": REPO, "env": env, "capture_output": True, "text": True}
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], timeout=180, **run)
    assert migrated.returncode == 0, migrated.stderr
    log = (tmp_path / "simulator.log").open("w")
    simulator = subprocess.Popen(
        [sys.executable, "manage.py", "leap_simulator", "--port", str(port), "--meters", "30"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for(port, 60)
        seeded = subprocess.run([sys.executable, "manage.py", "seed_demo"], timeout=300, **run)
    finally:
        simulator.terminate()
        simulator.wait(timeout=20)
        log.close()

    output = seeded.stdout + seeded.stderr
    assert seeded.returncode == 0, output
    assert "Traceback" not in output, output
    assert "seeded: full meter sync" in output, output
    assert "seeded: dispatch reconcile" in output, output
    with sqlite3.connect(tmp_path / "demo.sqlite3") as db:
        meters = db.execute("SELECT COUNT(*) FROM meters_meter").fetchone()[0]
        timeslots = db.execute("SELECT COUNT(*) FROM dispatch_dispatchtimeslot").fetchone()[0]
        allocations = db.execute("SELECT COUNT(*) FROM dispatch_dispatchallocation").fetchone()[0]
    assert meters == 30
    assert timeslots > 0
    assert allocations > 0
