"""Every benchmark creates the database it needs (bench/database.py), on the suite's PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from urllib.parse import urlparse

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from tests.conftest import REPO, _database_url


@pytest.fixture
def fresh_bench_url(django_db_setup, django_db_blocker):
    """The URL of a database that does not exist yet on the suite's server; dropped afterwards."""
    name = f"lp_probe_bench_{uuid.uuid4().hex[:8]}"
    url = urlparse(_database_url(connection.settings_dict))._replace(path=f"/{name}").geturl()
    admin = urlparse(url)._replace(path="/postgres").geturl()
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _exists(url: str) -> bool:
    name = urlparse(url).path.lstrip("/")
    admin = urlparse(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def test_a_benchmark_creates_its_missing_database_and_runs(fresh_bench_url):
    """bench/mapping_import.py used to stop at "database does not exist" on a fresh machine."""
    assert not _exists(fresh_bench_url)
    env = {**os.environ, "DATABASE_URL": fresh_bench_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the bench's own settings, as run by hand
    run = subprocess.run(
        [sys.executable, "bench/mapping_import.py", "--rows", "50"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    assert _exists(fresh_bench_url)
    assert f"created database {urlparse(fresh_bench_url).path.lstrip('/')}" in run.stdout
    assert re.search(r"^\| 50 \| ", run.stdout, re.MULTILINE), run.stdout


def test_a_benchmark_that_empties_its_database_refuses_one_not_named_bench():
    run = subprocess.run(
        [sys.executable, "-c", "from bench.database import bench_database; bench_database('x')"],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/lp_work"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert run.returncode == 1
    assert "refusing 'lp_work': this benchmark empties its database" in run.stderr


def test_every_bench_script_that_uses_django_gets_its_database_from_the_shared_helper():
    for script in sorted((REPO / "bench").glob("*.py")):
        text = script.read_text()
        uses_django = "django.setup()" in text or "django_setup(" in text
        if script.name == "database.py" or not uses_django:
            continue
        assert "bench_database(" in text, (
            f"bench/{script.name} sets Django up without bench.database.bench_database(...), "
            "which creates the database a benchmark needs"
        )


def test_the_autovacuum_stand_in_vacuums_and_analyzes_what_autovacuum_would(fresh_bench_url):
    """bench/mixed_load.py runs on a server with autovacuum off: the stand-in does its work, by
    its thresholds (50 + 10% of the rows changed for ANALYZE, 1,000 + 20% inserted for VACUUM),
    on the tables past them and on no other."""
    from bench.database import Autovacuum

    admin = urlparse(fresh_bench_url)._replace(path="/postgres").geturl()
    name = urlparse(fresh_bench_url).path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(fresh_bench_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE grown (n int); CREATE TABLE quiet (n int)")
        conn.execute("INSERT INTO grown SELECT generate_series(1, 5000)")
        conn.execute("INSERT INTO quiet VALUES (1)")
    stats = "SELECT relname, last_vacuum IS NOT NULL, last_analyze IS NOT NULL, n_mod_since_analyze FROM pg_stat_user_tables ORDER BY relname"  # noqa: E501
    with psycopg.connect(fresh_bench_url, autocommit=True) as conn:
        for _ in range(50):  # the inserting session's counters reach the statistics shortly after
            if conn.execute(stats).fetchall() == [("grown", False, False, 5000),
                                                  ("quiet", False, False, 1)]:  # fmt: skip
                break
            conn.execute("SELECT pg_stat_clear_snapshot(), pg_sleep(0.1)")
        autovacuum = Autovacuum(fresh_bench_url)
        autovacuum.analyze()  # one pass
        conn.execute("SELECT pg_stat_clear_snapshot()")
        assert conn.execute(stats).fetchall() == [
            ("grown", True, True, 0),
            ("quiet", False, False, 1),
        ]
        assert (autovacuum.runs, autovacuum.vacuums, autovacuum.analyzes) == (1, 1, 1)
        autovacuum.analyze()  # nothing is due any more
        assert (autovacuum.runs, autovacuum.vacuums, autovacuum.analyzes) == (2, 1, 1)
