"""make demo's seeding on its embedded default (embedded PostgreSQL, filesystem broker), end to end.

This runs what scripts/demo.sh runs without DATABASE_URL, each as its own process: the embedded
PostgreSQL from the pip wheel, migrate, the simulator, then seed_demo.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psycopg

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


def test_the_demo_seeds_its_data_on_the_embedded_postgresql(tmp_path, embedded_pgdata):
    port = _free_port()
    pgdata = embedded_pgdata
    env = {
        **os.environ,
        "EMBEDDED_POSTGRES_DIR": str(pgdata),
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
    env.pop("DATABASE_URL", None)  # as a newcomer runs it: the settings find the embedded server
    started = subprocess.run([sys.executable, "manage.py", "embedded_db", "start"], cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert started.returncode == 0, started.stderr
    _migrate_and_seed(env, port, tmp_path)
    with psycopg.connect(started.stdout.strip()) as db:
        meters = db.execute("SELECT COUNT(*) FROM meters_meter").fetchone()[0]
        timeslots = db.execute("SELECT COUNT(*) FROM dispatch_dispatchtimeslot").fetchone()[0]
        allocations = db.execute("SELECT COUNT(*) FROM dispatch_dispatchallocation").fetchone()
    assert meters == 30
    assert timeslots > 0
    assert allocations[0] > 0


def _migrate_and_seed(env: dict[str, str], port: int, tmp_path) -> None:
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
    # What the sync did, not the id of its run ("full meter sync (details + enrollments): 1").
    assert "full meter sync (details + enrollments): sync run done: 30 meters created" in output
    assert "No hostname was supplied" not in output  # kombu, on a filesystem:// URL without host
    assert "seeded: dispatch reconcile" in output, output
