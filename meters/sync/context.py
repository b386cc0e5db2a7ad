"""What every page of one sync run shares: the run's context, the meters it saw, its failures.

`Context` carries the run, its clock and counters, and queues the history rows (MeterChange,
MeterEvent) a page's planning records until the page is written. `SeenSet` keeps the meters a run
saw in a temporary table. A page's plan (`PagePlan`) is what the planners of `details` and
`enrollments` return and the engine hands to its page writer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.db import connection
from django.utils import timezone

from leap import LeapBadPayload
from meters.bulk import write_rows
from meters.models import (
    ChangeSource,
    Meter,
    MeterChange,
    MeterEvent,
    ReasonCode,
    SyncFailure,
    SyncRun,
)
from meters.sync.snapshot import jsonable

History = tuple[list[dict[str, Any]], list[dict[str, Any]]]


class SeenSet:
    """The meters a run saw, and which of them it wrote: a temporary table, not process memory.

    It lives as long as the database connection (one run, one connection), so memory stays flat
    however large the portfolio, and it never leaves rows behind. A meter is added once per
    stream that saw it (no upsert: a page's ids go in by one COPY); the counts are distinct.
    """

    def __init__(self, name: str) -> None:
        self.table = connection.ops.quote_name(name)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.table} "
                f"(meter_id {Meter._meta.pk.db_type(connection)} NOT NULL, changed boolean NOT NULL)"
            )
            index = connection.ops.quote_name(f"{name}_meter")
            cursor.execute(f"CREATE INDEX {index} ON {self.table} (meter_id)")

    def add(self, meter_ids: Iterable[uuid.UUID], changed: Iterable[uuid.UUID] = ()) -> None:
        """Mark meters seen; `changed` ones also as written by this run."""
        changed = set(changed)
        meter_ids = list(meter_ids)
        if not meter_ids:
            return
        # UUIDs and booleans need no escaping in COPY's text format.
        data = "".join(f"{m}\t{'t' if m in changed else 'f'}\n" for m in meter_ids)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {self.table} (meter_id, changed) FROM STDIN") as copy,
        ):
            copy.write(data)

    def counts(self) -> tuple[int, int]:
        """(meters seen, meters written)."""
        with connection.cursor() as cursor:
            counted = "COUNT(DISTINCT CASE WHEN changed THEN meter_id END)"
            sql = f"SELECT COUNT(DISTINCT meter_id), {counted} FROM {self.table}"  # noqa: S608
            cursor.execute(sql)
            seen, changed = cursor.fetchone()
        return int(seen), int(changed)

    def unseen_present_meters(self) -> list[uuid.UUID]:
        """Present meters this run did not see (candidates for missing)."""
        with connection.cursor() as cursor:
            sql = (
                f"SELECT m.meter_id FROM {Meter._meta.db_table} m "  # noqa: S608
                f"WHERE m.missing_since IS NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {self.table} s WHERE s.meter_id = m.meter_id)"
            )
            cursor.execute(sql)
            field_ = Meter._meta.pk
            return [field_.to_python(row[0]) for row in cursor.fetchall()]

    def drop(self) -> None:
        """Remove the table (it would go with the connection anyway)."""
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")


@dataclass
class Context:
    """What every page of one run shares."""

    run: SyncRun | None
    source: str = ChangeSource.POLL
    now: datetime = field(default_factory=timezone.now)
    seen: SeenSet | None = None
    # The very first import writes no events: 100,000 "new meter" notices would bury real news.
    initial: bool = False
    created: int = 0
    failed: int = 0
    processed: int = 0
    gave_way: float = 0.0  # seconds waited for first-come work (leapportal/priority.py)
    unvalidated: int = 0  # objects Leap sent unchanged, not validated (meters/sync/known.py)
    known_codes: set[str] = field(default_factory=set)
    known_groups: dict[uuid.UUID, tuple[str, str, str]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.known_codes = set(ReasonCode.objects.values_list("code", flat=True))

    def change(self, meter_id: uuid.UUID, name: str, old: Any, new: Any) -> None:
        """Queue a MeterChange row."""
        self.changes.append(
            {
                "meter_id": meter_id,
                "field": name[:255],
                "old": jsonable(old),
                "new": jsonable(new),
                "changed_at": self.now,
                "source": self.source,
                "sync_run_id": self.run.pk if self.run else None,
            }
        )

    def event(
        self,
        meter_id: uuid.UUID,
        kind: str,
        *,
        deadline: datetime | None = None,
        details: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> None:
        """Queue a MeterEvent row (none during the initial import)."""
        if self.initial:
            return
        self.events.append(
            {
                "meter_id": meter_id,
                "kind": kind,
                "occurred_at": self.now,
                "deadline": deadline,
                "details": jsonable(details or {}),
                "source": self.source,
                "sync_run_id": self.run.pk if self.run else None,
                "dedupe_key": dedupe_key,
            }
        )

    def take_history(self) -> History:
        """The queued history rows, handed over (the queues start empty again)."""
        history = (self.changes, self.events)
        self.changes, self.events = [], []
        return history

    def add_history(self, history: History) -> None:
        """Queue history rows taken from another context (a planned page's)."""
        self.changes.extend(history[0])
        self.events.extend(history[1])

    def flush(self) -> None:
        """Write the queued history rows."""
        if self.changes:
            write_rows(MeterChange, self.changes)
            self.changes = []
        if self.events:
            # Deduplicated events (group changes) may already exist: those are skipped.
            write_rows(MeterEvent, self.events, ignore_conflicts=True)
            self.events = []


class PagePlan(Protocol):
    """One page, read and compared: `write` writes its rows and history with the context it is
    given (the run's own, or one with its own history queues in the thread that writes pages).
    The caller holds the transaction."""

    def write(self, ctx: Context) -> None:
        """Write the page's rows and its history."""


def record_failures(ctx: Context, stream: str, failures: Iterable[LeapBadPayload]) -> int:
    """Keep objects Leap sent that did not validate; they count as failed meters."""
    rows = []
    seen_ids = []
    for failure in failures:
        meter_id = None
        try:
            meter_id = uuid.UUID(str(failure.object_id)) if failure.object_id else None
        except ValueError:
            meter_id = None
        if meter_id:
            seen_ids.append(meter_id)  # Leap still has it: never mark it missing for this
        raw = failure.raw if isinstance(failure.raw, dict | list) else {"value": repr(failure.raw)}
        rows.append(
            SyncFailure(
                sync_run=ctx.run,
                meter_id=meter_id,
                stream=stream,
                raw=raw,
                error=str(failure),
                errors=jsonable(getattr(failure, "errors", [])),
                created_at=ctx.now,
            )
        )
    if rows:
        SyncFailure.objects.bulk_create(rows)
        if ctx.seen:
            ctx.seen.add(seen_ids)
        ctx.failed += len(rows)
    return len(rows)
