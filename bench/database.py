"""The database a benchmark runs on: DATABASE_URL (or the bench's default), created if missing.

Every bench script that needs a database calls this once, before Django connects, so a benchmark
runs on a machine where nobody created its database first:

    from bench.database import bench_database
    bench_database("lp_sync_bench")    # -> the URL, also put in os.environ["DATABASE_URL"]

Without DATABASE_URL the database is `<default name>` on the PostgreSQL of `make test`
(postgres@127.0.0.1:5432). A bench that empties tables refuses a database whose name lacks
"bench", so it never wipes a database someone works in.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"


def _create_database(url: str) -> None:
    """scripts/createdb.py (the one `make test` uses): CREATE DATABASE unless it exists."""
    spec = importlib.util.spec_from_file_location("createdb", REPO / "scripts" / "createdb.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(url)


def bench_database(default_name: str, *, wiped: bool = True) -> str:
    """Check DATABASE_URL (default: `default_name` on 127.0.0.1:5432), create it, return it."""
    import psycopg

    url = os.environ.get("DATABASE_URL") or f"{DEFAULT_SERVER}/{default_name}"
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if parsed.scheme not in {"postgres", "postgresql", "pgsql"} or not name:
        sys.exit(f"bench: DATABASE_URL must name a PostgreSQL database, got {url!r}")
    if wiped and "bench" not in name:
        sys.exit(
            f"bench: refusing {name!r}: this benchmark empties its database; use one whose name "
            f"contains 'bench' (default {DEFAULT_SERVER}/{default_name})"
        )
    try:
        _create_database(url)
    except psycopg.OperationalError as exc:
        sys.exit(
            f"bench: cannot reach PostgreSQL for {url}: {exc}\n"
            "start it (`make services` starts one on 127.0.0.1:5432) or set DATABASE_URL"
        )
    os.environ["DATABASE_URL"] = url
    return url


class Analyzer:
    """ANALYZE some tables every `every` seconds while a benchmark runs (autovacuum's part).

    Production's PostgreSQL has autovacuum on: it re-analyzes a table once a tenth of it has
    changed, so the planner always knows roughly how big the tables are. The PostgreSQL of this
    project's machines runs with autovacuum off (CI's conf.d), so a bench that grows tables from
    empty to tens of thousands of rows plans its last queries with the statistics of empty
    tables: sequential scans and hash joins where an index lookup costs a hundredth. A run that
    does not stand in for autovacuum measures that, not the code. `every=0` turns it off.
    """

    def __init__(self, url: str, tables: list[str], every: float) -> None:
        self.url, self.tables, self.every = url, tables, every
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="analyzer", daemon=True)

    def analyze(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, self.tables)))
            )
        self.runs += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.analyze()

    def __enter__(self) -> Analyzer:
        if self.every > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


# PostgreSQL's defaults (autovacuum_*_threshold and *_scale_factor, autovacuum_naptime).
_DUE = """
SELECT s.schemaname, s.relname,
       s.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0)
         OR s.n_ins_since_vacuum > 1000 + 0.2 * greatest(c.reltuples, 0) AS vacuum,
       s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0) AS analyze
  FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
"""


class Autovacuum(Analyzer):
    """What autovacuum would do, on a server where it is off: every `naptime` seconds (its
    default 60), VACUUM the tables with more dead or newly inserted rows than its thresholds and
    ANALYZE those changed past its threshold (50 rows plus a tenth of the table), by the same
    counters (pg_stat_user_tables). Its work runs in PostgreSQL and counts in PostgreSQL's CPU,
    as autovacuum's does. `vacuums` and `analyzes` count what it did."""

    def __init__(self, url: str, naptime: float = 60.0) -> None:
        super().__init__(url, [], naptime)
        self.vacuums = self.analyzes = 0

    def analyze(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema, table, vacuum, analyze in conn.execute(_DUE).fetchall():
                if not (vacuum or analyze):
                    continue
                verb = {(True, True): "VACUUM ANALYZE", (True, False): "VACUUM"}.get(
                    (vacuum, analyze), "ANALYZE"
                )
                conn.execute(sql.SQL(verb + " {}").format(sql.Identifier(schema, table)))
                self.vacuums += bool(vacuum)
                self.analyzes += bool(analyze)
        self.runs += 1
