"""Create the PostgreSQL database named in a URL if it does not exist."""

from __future__ import annotations

import sys
from urllib.parse import urlparse

import psycopg
from psycopg import sql


def main(url: str) -> None:
    """Connect to the server's `postgres` database and create the named one if missing."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "pgsql"}:
        sys.exit(f"not a PostgreSQL URL (leapportal runs on PostgreSQL only): {url}")
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"[services] created database {name}")


if __name__ == "__main__":
    main(sys.argv[1])
