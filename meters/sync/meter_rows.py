"""What the planners of both streams share: a page's changed meters, their diffs, their rows.

A page costs one SELECT when nothing changed: `changed_meters` compares the page's content
hashes with the stored ones and returns only the meters to write (new, changed, or back from
missing). The diff and transition helpers queue history on the run's context; `write_meters`
writes one stream's meter rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from leap.errors import LeapBadPayload
from meters.bulk import rows_for, update_rows, write_rows
from meters.models import Meter, MeterEvent
from meters.sync.context import Context, record_failures
from meters.sync.known import complete
from meters.sync.searches import PREPARE
from meters.sync.snapshot import Prepared

BOOKKEEPING = ["last_seen_at", "missing_since"]


def meter_defaults() -> dict[str, Any]:
    """Every Meter column with its default: a row COPY inserts must be complete."""
    return {f.attname: f.get_default() for f in Meter._meta.concrete_fields if not f.primary_key}


def diff_columns(
    ctx: Context, meter_id: uuid.UUID, old: dict[str, Any], new: dict[str, Any]
) -> None:
    """A MeterChange for every column whose stored value differs from the new one."""
    for name, value in new.items():
        if name in old and old[name] != value:
            ctx.change(meter_id, name, old[name], value)


def identity_events(
    ctx: Context, meter_id: uuid.UUID, old: dict[str, Any], new: dict[str, Any]
) -> None:
    """Transitions both payloads can reveal: partner_reference set by Leap, archived."""
    if "partner_reference" in new and new["partner_reference"] != old.get("partner_reference"):
        if new["partner_reference"]:
            ctx.event(
                meter_id,
                MeterEvent.Kind.PARTNER_REFERENCE_SET,
                details={"old": old.get("partner_reference"), "new": new["partner_reference"]},
            )
    if new.get("is_archived") and not old.get("is_archived"):
        ctx.event(meter_id, MeterEvent.Kind.ARCHIVED)


def returned(ctx: Context, meter_id: uuid.UUID, missing_since: datetime) -> None:
    """A meter marked missing is back in Leap's answer."""
    ctx.change(meter_id, "missing_since", missing_since, None)
    ctx.event(meter_id, MeterEvent.Kind.RETURNED, details={"missing_since": missing_since})


def new_meter(ctx: Context, meter_id: uuid.UUID, columns: dict[str, Any]) -> None:
    """Count a meter new to us and queue its event."""
    ctx.created += 1
    ctx.event(
        meter_id,
        MeterEvent.Kind.NEW_METER,
        details={"partner_reference": columns.get("partner_reference")},
    )


def write_meters(
    updates: list[dict[str, Any]], inserts: list[dict[str, Any]], columns: list[str], stream: str
) -> None:
    """One stream's meter rows: its columns on meters we have, whole rows for new ones (an
    upsert: a webhook's resync may insert the same meter meanwhile)."""
    update_rows(Meter, updates, key="meter_id")
    write_rows(
        Meter,
        inserts,
        conflict=["meter_id"],
        update=columns + [f"{stream}_raw", f"{stream}_hash", f"{stream}_synced_at"] + BOOKKEEPING,
    )


def changed_meters(
    ctx: Context, items: list[Prepared], hash_field: str
) -> tuple[dict[Any, Prepared], dict[Any, tuple], list[Any]]:
    """Index one page by meter id and pick the meters to write: new, changed, or back from missing.

    Every meter of the page counts as processed and as seen by the run; only the returned `todo`
    list is written. `stored` maps a known meter to (stored hash, missing_since). An item to
    write that came without data (passed as unchanged, meters/sync/known.py) is prepared here;
    one that no longer validates is kept as a failure instead. Those left without data were
    never validated: the run counts them (`ctx.unvalidated`, shown on sync health).
    """
    by_id = {item.meter_id: item for item in items}
    if not by_id:
        return by_id, {}, []
    stored = {
        row[0]: row[1:]
        for row in rows_for(Meter, ["meter_id", hash_field, "missing_since"], "meter_id", by_id)
    }
    todo = [
        meter_id
        for meter_id, item in by_id.items()
        if meter_id not in stored
        or stored[meter_id][0] != item.hash
        or stored[meter_id][1] is not None
    ]
    stream = hash_field.removesuffix("_hash")
    for meter_id in [m for m in todo if by_id[m].data is None]:
        # Passed unvalidated as unchanged (meters/sync/known.py), changed since all the same.
        try:
            by_id[meter_id] = complete(stream, by_id[meter_id], PREPARE[stream])
        except LeapBadPayload as failure:
            del by_id[meter_id]
            todo.remove(meter_id)
            record_failures(ctx, stream, [failure])
    ctx.processed += len(by_id)
    ctx.unvalidated += sum(1 for item in by_id.values() if item.data is None)
    if ctx.seen:
        ctx.seen.add(by_id, changed=todo)
    return by_id, stored, todo
