"""Meters' bulk writes and reads: the shared layer's primitives (leapportal/bulk.py).

The sync writes pages of meters, programs, actions, history and group assignments with
`write_rows` (COPY into a staging table, one INSERT .. SELECT, upsert or skip on conflict) and
`update_rows`, and reads stored state with `rows_for` / `select` (binary-bound parameters).
meters' own named SQL stays next to the code that runs it (meters/sync/details.py's seen-set,
meters/groups.py's assignments). These names are the ones meters' modules import.
"""

from __future__ import annotations

from leapportal.bulk import (
    JsonText,
    dumps,
    rows_for,
    stage_rows,
    update_rows,
    write_rows,
)
from leapportal.bulk import select_binary as select

__all__ = ["JsonText", "dumps", "rows_for", "select", "stage_rows", "update_rows", "write_rows"]
