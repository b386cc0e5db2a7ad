"""Plan and write one page of Leap's meter details: only what changed, in bulk.

For the meters whose payload changed, planning loads their stored columns, records a
MeterChange per changed field and a MeterEvent per transition, and returns a `DetailsPlan` that
writes the new rows with bulk upserts. A meter whose device capability changed is announced
(`meters.signals.capability_changed`) once its page is written, so dispatch re-plans it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from leap.schemas import MeterDetail
from meters.bulk import rows_for
from meters.models import Meter
from meters.signals import capability_changed
from meters.sync.context import Context, History
from meters.sync.meter_rows import (
    changed_meters,
    diff_columns,
    identity_events,
    meter_defaults,
    new_meter,
    returned,
    write_meters,
)
from meters.sync.snapshot import CAPABILITY_COLUMNS, DETAIL_COLUMNS, Prepared, prepare_details


@dataclass
class DetailsPlan:
    """A page of details to write: rows of meters we have, rows of new ones, and history."""

    updates: list[dict[str, Any]]
    inserts: list[dict[str, Any]]
    capable: list[uuid.UUID]  # meters whose device capability changed: dispatch re-plans them
    history: History

    def write(self, ctx: Context) -> None:
        """Write the rows and the history; announce the capability changes."""
        write_meters(self.updates, self.inserts, DETAIL_COLUMNS, "details")
        ctx.add_history(self.history)
        ctx.flush()
        if self.capable:
            capability_changed.send(sender=Meter, meter_ids=self.capable)


def write_details(ctx: Context, items: list[MeterDetail]) -> None:
    """Store one page of leap.schemas.MeterDetail objects."""
    plan = plan_details(ctx, [prepare_details(item) for item in items])
    if plan:
        plan.write(ctx)


def plan_details(ctx: Context, items: list[Prepared]) -> DetailsPlan | None:
    """Read and compare one page of prepared details (`prepare_details`); returns what writes it
    (None: nothing to write).

    Planning reads the stored state and counts the page on `ctx`; the returned plan writes the
    rows and the page's history with the context it is given (see `PagePlan`).
    """
    by_id, stored, todo = changed_meters(ctx, items, "details_hash")
    if not todo:
        return None
    names = ["meter_id", *DETAIL_COLUMNS]
    previous = {
        row[0]: dict(zip(names, row, strict=True))
        for row in rows_for(Meter, names, "meter_id", [m for m in todo if m in stored])
    }
    # Meters we have get their detail columns updated; new ones are inserted whole (an upsert:
    # a webhook's resync may insert the same meter meanwhile).
    plan = DetailsPlan(updates=[], inserts=[], capable=[], history=([], []))
    defaults = meter_defaults()
    for meter_id in todo:
        item = by_id[meter_id]
        columns = item.data
        if meter_id in stored:
            details_hash, missing_since = stored[meter_id]
            old = previous[meter_id]
            if any(old[c] != columns.get(c) for c in CAPABILITY_COLUMNS):
                plan.capable.append(meter_id)
            if details_hash:  # the first details of a meter are not a change of it
                diff_columns(ctx, meter_id, old, columns)
                identity_events(ctx, meter_id, old, columns)
            if missing_since is not None:
                returned(ctx, meter_id, missing_since)
        else:
            new_meter(ctx, meter_id, columns)
        meter_row = {
            "meter_id": meter_id,
            **columns,
            "details_raw": item.text,
            "details_hash": item.hash,
            "details_synced_at": ctx.now,
            "last_seen_at": ctx.now,
            "missing_since": None,
        }
        if meter_id in stored:
            plan.updates.append(meter_row)
        else:
            plan.inserts.append(defaults | meter_row | {"first_seen_at": ctx.now})
    plan.history = ctx.take_history()
    return plan
