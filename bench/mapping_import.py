"""How long the mapping CSV import takes for a big file: preview, apply, export, round trip.

Target (issue 7): a 100,000-row file previews within 30 s and applies within 30 s.

Builds a portfolio of N meters (bulk insert, not timed), maps 40% of them already, then writes a
file of N lines: 20% unchanged, 20% label updates, 60% new mappings; 80% of lines keyed by meter_id
and 20% by partner_reference. It times `preview_upload` (decode, parse, validate against every
meter and mapping, store the verdict of every line), `apply_import` (re-plan under the lock,
compare, upsert the mappings and write one audit row each, one transaction), the export, and a
preview of the export (the round trip: every line must come back "left alone").

It WIPES the meters and mapping tables of the database it runs on, so it refuses to run unless the
database name ends in "bench":

    createdb-style: python scripts/createdb.py postgresql://postgres@127.0.0.1:5432/lp_mapping_bench
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_mapping_bench python bench/mapping_import.py
    ... python bench/mapping_import.py --rows 10000 --rows 100000
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")
os.environ.setdefault("DEBUG", "true")  # settings need a SECRET_KEY otherwise; queries are reset

from bench.database import bench_database  # noqa: E402

bench_database("lp_mapping_bench")  # emptied: its name must contain "bench"

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.utils import timezone  # noqa: E402

from mapping import imports  # noqa: E402
from mapping.models import ImportRow, MappingChange, MappingImport, MeterMapping  # noqa: E402
from meters.models import Meter  # noqa: E402

TARGET_SECONDS = 30.0


def wipe() -> None:
    """Empty the tables this bench fills."""
    with connection.cursor() as cursor:
        for model in (ImportRow, MappingImport, MappingChange, MeterMapping):
            cursor.execute(f'TRUNCATE "{model._meta.db_table}" CASCADE')  # noqa: S608 - our names
    Meter.objects.all().delete()


def build(rows: int) -> bytes:
    """The portfolio, the existing mappings and the file to import; returns the file."""
    now = timezone.now()
    ids = [uuid.UUID(int=(i + 1) * 7919 + 12345) for i in range(rows)]
    Meter.objects.bulk_create(
        [Meter(meter_id=m, partner_reference=f"bench-{i:07d}") for i, m in enumerate(ids)],
        batch_size=5000,
    )
    mapped = int(rows * 0.4)
    MeterMapping.objects.bulk_create(
        [
            MeterMapping(
                meter_id=ids[i],
                customer_id=f"bench-{i:07d}",
                site_id=f"S{i:07d}",
                label="old label",
                created_at=now,
                updated_at=now,
            )
            for i in range(mapped)
        ],
        batch_size=5000,
    )
    lines = ["meter_id,partner_reference,customer_id,site_id,label"]
    for i, meter_id in enumerate(ids):
        label = "old label" if i < rows * 0.2 else f"Meter {i} – Lagerhalle"
        by_reference = i % 5 == 4
        key = f",bench-{i:07d}" if by_reference else f"{meter_id},bench-{i:07d}"
        lines.append(f"{key},bench-{i:07d},S{i:07d},{label}")
    return ("\n".join(lines) + "\n").encode()


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """(result, seconds)."""
    reset_queries()
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def run(rows: int) -> dict[str, object]:
    """One measurement at this many rows."""
    wipe()
    raw = build(rows)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    preview, t_preview = timed(imports.preview_upload, raw, filename="bench.csv", uploaded_by=user)
    assert preview.counts["error"] == 0 and preview.counts["conflict"] == 0, preview.counts
    written, t_apply = timed(imports.apply_import, preview.pk, actor=user, reason="bench")
    exported, t_export = timed(lambda: "".join(imports.export_rows()).encode())
    again, t_round = timed(
        imports.preview_upload, exported, filename="export.csv", uploaded_by=user
    )
    assert again.counts["unchanged"] == rows and again.counts["rows"] == rows, again.counts
    assert MappingChange.objects.count() == written
    return {
        "rows": rows,
        "MB": len(raw) / 1024 / 1024,
        "create": preview.counts["create"],
        "update": preview.counts["update"],
        "unchanged": preview.counts["unchanged"],
        "preview s": t_preview,
        "apply s": t_apply,
        "export s": t_export,
        "round-trip preview s": t_round,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="file size(s); default 100000")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    results = [run(n) for n in args.rows or [100_000]]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    print(f"command: python bench/mapping_import.py {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"date: {timezone.now():%Y-%m-%d %H:%M} UTC, commit {commit}, load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}"
    )
    headers = list(results[0])
    print("| " + " | ".join(headers) + " |")
    print("| " + " | ".join("---:" for _ in headers) + " |")
    for r in results:
        print(
            "| "
            + " | ".join(f"{v:.1f}" if isinstance(v, float) else f"{v:,}" for v in r.values())
            + " |"
        )
    worst = max(max(r["preview s"], r["apply s"]) for r in results)  # type: ignore[type-var]
    print(
        f"target: preview and apply each within {TARGET_SECONDS:.0f} s: {'met' if worst <= TARGET_SECONDS else 'MISSED'} (slowest {worst:.1f} s)"
    )


if __name__ == "__main__":
    main()
