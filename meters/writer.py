"""Write one page of Leap meter details or enrollments: only what changed, in bulk.

A page costs one SELECT when nothing changed (the stored content hashes). For the meters whose
payload changed it loads their stored state, writes the new state with bulk upserts, records a
MeterChange per changed field and a MeterEvent per transition. The caller wraps each page in a
transaction, so a page is written whole or not at all.
"""

from __future__ import annotations

import copy
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection
from django.utils import timezone

from meters import groups
from meters.bulk import rows_for, update_rows, write_rows
from meters.models import (
    ChangeSource,
    EnrollmentStatus,
    MarketGroup,
    Meter,
    MeterChange,
    MeterEvent,
    ParticipationPreference,
    ProgramEnrollment,
    ReasonCode,
    RequiredAction,
    SyncFailure,
    SyncRun,
)
from meters.signals import capability_changed
from meters.snapshot import (
    AUDIT_COLUMNS,
    CAPABILITY_COLUMNS,
    DETAIL_COLUMNS,
    ENROLLMENT_COLUMNS,
    SHARED_COLUMNS,
    EnrollmentSnapshot,
    Prepared,
    jsonable,
    prepare_details,
    prepare_enrollment,
)

BOOKKEEPING = ["last_seen_at", "missing_since"]


def meter_defaults() -> dict[str, Any]:
    """Every Meter column with its default: a row COPY inserts must be complete."""
    return {f.attname: f.get_default() for f in Meter._meta.concrete_fields if not f.primary_key}


# What the enrollment writer reads back of a meter's stored programs and actions: the rows'
# columns in this order ("id" is the pk).
class StoredProgram(NamedTuple):
    pk: int
    meter_id: uuid.UUID
    program_identifier: str
    delivery_period: str
    delivery_period_start: datetime | None
    delivery_period_end: datetime | None
    enrollment_status: str
    enrollment_deadlines: list[Any]
    market_group_id: uuid.UUID | None
    market_group_name: str


class StoredAction(NamedTuple):
    pk: int
    meter_id: uuid.UUID
    side: str
    code: str
    program_identifier: str
    delivery_period: str
    action_type: str
    description: str
    deadline: datetime | None
    first_seen_at: datetime
    resolved_at: datetime | None


PROGRAM_FIELDS = ["id", *StoredProgram._fields[1:]]
ACTION_FIELDS = ["id", *StoredAction._fields[1:]]

ENROLLMENT_METER_COLUMNS = ENROLLMENT_COLUMNS + list(SHARED_COLUMNS) + sorted(AUDIT_COLUMNS)

_ENROLLMENT_NAMES = frozenset(ENROLLMENT_METER_COLUMNS)


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

    def take_history(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The queued history rows, handed over (the queues start empty again)."""
        history = (self.changes, self.events)
        self.changes, self.events = [], []
        return history

    def add_history(self, history: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        """Queue history rows taken from another context (a planned page's)."""
        self.changes.extend(history[0])
        self.events.extend(history[1])

    def fork(self) -> Context:
        """A context sharing this run's settings with its own history queues (another thread's)."""
        forked = copy.copy(self)
        forked.changes, forked.events = [], []
        return forked

    def flush(self) -> None:
        """Write the queued history rows."""
        if self.changes:
            write_rows(MeterChange, self.changes)
            self.changes = []
        if self.events:
            # Deduplicated events (group changes) may already exist: those are skipped.
            write_rows(MeterEvent, self.events, ignore_conflicts=True)
            self.events = []


# What planning a page returns: called with a context (the run's own, or a fork of it in the
# thread that writes pages), it writes the page's rows and history. The caller holds the
# transaction.
Apply = Callable[[Context], None]


def _diff_columns(
    ctx: Context, meter_id: uuid.UUID, old: dict[str, Any], new: dict[str, Any]
) -> None:
    for name, value in new.items():
        if name in old and old[name] != value:
            ctx.change(meter_id, name, old[name], value)


def _identity_events(
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


def _returned(ctx: Context, meter_id: uuid.UUID, missing_since: datetime) -> None:
    ctx.change(meter_id, "missing_since", missing_since, None)
    ctx.event(meter_id, MeterEvent.Kind.RETURNED, details={"missing_since": missing_since})


def record_failures(ctx: Context, stream: str, failures: Iterable[Any]) -> int:
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


def _write_meters(
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


# --- meter details -------------------------------------------------------------------------------


def _changed_meters(
    ctx: Context, items: list[Prepared], hash_field: str
) -> tuple[dict[Any, Prepared], dict[Any, tuple], list[Any]]:
    """Index one page by meter id and pick the meters to write: new, changed, or back from missing.

    Every meter of the page counts as processed and as seen by the run; only the returned `todo`
    list is written. `stored` maps a known meter to (stored hash, missing_since).
    """
    by_id = {item.meter_id: item for item in items}
    if not by_id:
        return by_id, {}, []
    ctx.processed += len(by_id)
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
    if ctx.seen:
        ctx.seen.add(by_id, changed=todo)
    return by_id, stored, todo


def write_details(ctx: Context, items: list[Any]) -> None:
    """Store one page of leap.schemas.MeterDetail objects."""
    apply = plan_details(ctx, [prepare_details(item) for item in items])
    if apply:
        apply(ctx)


def plan_details(ctx: Context, items: list[Prepared]) -> Apply | None:
    """Read and compare one page of prepared details (`prepare_details`); returns what writes it
    (None: nothing to write).

    Planning reads the stored state and counts the page on `ctx`; the returned call writes the
    rows and the page's history with the context it is given (see `Apply`).
    """
    by_id, stored, todo = _changed_meters(ctx, items, "details_hash")
    if not todo:
        return None
    names = ["meter_id", *DETAIL_COLUMNS]
    previous = {
        row[0]: dict(zip(names, row, strict=True))
        for row in rows_for(Meter, names, "meter_id", [m for m in todo if m in stored])
    }
    # Meters we have get their detail columns updated; new ones are inserted whole (an upsert:
    # a webhook's resync may insert the same meter meanwhile).
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    capable: list[Any] = []  # meters whose device capability changed: dispatch re-plans them
    defaults = meter_defaults()
    for meter_id in todo:
        item = by_id[meter_id]
        columns = item.data
        if meter_id in stored:
            details_hash, missing_since = stored[meter_id]
            old = previous[meter_id]
            if any(old[c] != columns.get(c) for c in CAPABILITY_COLUMNS):
                capable.append(meter_id)
            if details_hash:  # the first details of a meter are not a change of it
                _diff_columns(ctx, meter_id, old, columns)
                _identity_events(ctx, meter_id, old, columns)
            if missing_since is not None:
                _returned(ctx, meter_id, missing_since)
        else:
            ctx.created += 1
            ctx.event(
                meter_id,
                MeterEvent.Kind.NEW_METER,
                details={"partner_reference": columns.get("partner_reference")},
            )
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
            updates.append(meter_row)
        else:
            inserts.append(defaults | meter_row | {"first_seen_at": ctx.now})
    history = ctx.take_history()

    def apply(wctx: Context) -> None:
        _write_meters(updates, inserts, DETAIL_COLUMNS, "details")
        wctx.add_history(history)
        wctx.flush()
        if capable:
            capability_changed.send(sender=Meter, meter_ids=capable)

    return apply


# --- meter enrollments ---------------------------------------------------------------------------


def _ensure_reason_codes(ctx: Context, snapshots: Iterable[EnrollmentSnapshot]) -> None:
    """A code or action type never seen before gets a catalogue row marked as lacking guidance."""
    new: dict[str, ReasonCode] = {}
    for snap in snapshots:
        for action in snap.actions.values():
            for code, kind in (
                (action.code, ReasonCode.Kind.ACTION_CODE),
                (action.action_type, ReasonCode.Kind.ACTION_TYPE),
            ):
                if code and code not in ctx.known_codes and code not in new:
                    new[code] = ReasonCode(
                        code=code,
                        kind=kind,
                        who_acts=action.side if kind == ReasonCode.Kind.ACTION_CODE else "unknown",
                        needs_guidance=True,
                        example_description=action.description[:2000],
                        first_seen_at=ctx.now,
                    )
    if new:
        ReasonCode.objects.bulk_create(new.values(), ignore_conflicts=True)
        ctx.known_codes |= set(new)


def _ensure_groups(ctx: Context, region_of: dict[uuid.UUID, str], snaps: dict) -> None:
    """Create or rename the market groups the enrollments name (before rows point at them)."""
    wanted: dict[uuid.UUID, tuple[str, str, str]] = {}
    for meter_id, snap in snaps.items():
        for row in snap.programs.values():
            if row.market_group_id:
                wanted[row.market_group_id] = (
                    row.market_group_name,
                    region_of.get(meter_id, ""),
                    row.program_identifier,
                )
    missing = [g for g in wanted if g not in ctx.known_groups]
    if missing:
        for group_id, name, region, program in MarketGroup.objects.filter(
            market_group_id__in=missing
        ).values_list("market_group_id", "name", "region", "program_identifier"):
            ctx.known_groups[group_id] = (name, region, program)
    stale = []
    for group_id, (name, region, program) in wanted.items():
        known = ctx.known_groups.get(group_id)
        merged = (
            name or (known[0] if known else ""),
            region or (known[1] if known else ""),
            program or (known[2] if known else ""),
        )
        if known != merged:
            stale.append(
                MarketGroup(
                    market_group_id=group_id,
                    name=merged[0],
                    region=merged[1],
                    program_identifier=merged[2],
                    first_seen_at=ctx.now,
                    updated_at=ctx.now,
                )
            )
            ctx.known_groups[group_id] = merged
    if stale:
        MarketGroup.objects.bulk_create(
            stale,
            update_conflicts=True,
            unique_fields=["market_group_id"],
            update_fields=["name", "region", "program_identifier", "updated_at"],
        )


def _participation_key(rows: list[dict[str, Any]]) -> list[tuple]:
    return [
        (r["participation_preference"], r["start_time"], r["end_time"], r["reason"] or None)
        for r in rows
    ]


def write_enrollments(ctx: Context, items: list[Any]) -> None:
    """Store one page of leap.schemas.MeterEnrollment objects."""
    apply = plan_enrollments(ctx, [prepare_enrollment(item) for item in items])
    if apply:
        apply(ctx)


def plan_enrollments(ctx: Context, items: list[Prepared]) -> Apply | None:
    """Read and compare one page of prepared enrollments (`prepare_enrollment`); returns what
    writes it (see `plan_details`).

    Market groups and reason codes the page names are created while planning (rows written
    later point at them).
    """
    by_id, stored, todo = _changed_meters(ctx, items, "enrollment_hash")
    if not todo:
        return None

    snaps: dict[uuid.UUID, EnrollmentSnapshot] = {
        meter_id: by_id[meter_id].data for meter_id in todo
    }
    existing = [m for m in todo if m in stored]
    # Program, action and participation rows are written here only, together with the meter's
    # enrollment hash: a meter without one has none to read back (on a first import, none do).
    enrolled = [m for m in existing if stored[m][0]]
    # The stored columns serve the history (diffs, transitions) and fill the columns an
    # enrollment leaves out. A first import records no history and has no enrollments stored:
    # only a meter whose enrollment leaves a column out needs them read back.
    wanted = [
        m
        for m in existing
        if not ctx.initial or stored[m][0] or not snaps[m].columns.keys() >= _ENROLLMENT_NAMES
    ]
    names = ["meter_id", *ENROLLMENT_METER_COLUMNS]
    previous = {
        row[0]: dict(zip(names, row, strict=True))
        for row in rows_for(Meter, names, "meter_id", wanted)
    }
    old_programs: dict[uuid.UUID, dict[str, StoredProgram]] = defaultdict(dict)
    for stored_program in map(
        StoredProgram._make, rows_for(ProgramEnrollment, PROGRAM_FIELDS, "meter_id", enrolled)
    ):
        old_programs[stored_program.meter_id][
            f"{stored_program.program_identifier}/{stored_program.delivery_period}"
        ] = stored_program
    old_actions: dict[uuid.UUID, dict[tuple[str, str, str, str], StoredAction]] = defaultdict(dict)
    for stored_action in map(
        StoredAction._make, rows_for(RequiredAction, ACTION_FIELDS, "meter_id", enrolled)
    ):
        old_actions[stored_action.meter_id][
            (
                stored_action.side,
                stored_action.code,
                stored_action.program_identifier,
                stored_action.delivery_period,
            )
        ] = stored_action
    old_participation: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for meter_id, preference, start, end, reason in rows_for(
        ParticipationPreference,
        ["meter_id", "participation_preference", "start_time", "end_time", "reason"],
        "meter_id",
        enrolled,
    ):
        old_participation[meter_id].append(
            {
                "participation_preference": preference,
                "start_time": start,
                "end_time": end,
                "reason": reason,
            }
        )

    _ensure_reason_codes(ctx, snaps.values())
    region_of = {
        m: snaps[m].columns.get("transmission_region") or "" for m in todo
    }  # enrollments always carry the region
    _ensure_groups(ctx, region_of, snaps)

    updates: list[dict[str, Any]] = []  # meters we have: their enrollment columns
    inserts: list[dict[str, Any]] = []  # meters new to us: whole rows (upserted)
    program_upserts: list[dict[str, Any]] = []
    program_deletes: list[int] = []
    action_upserts: list[dict[str, Any]] = []
    action_resolves: list[int] = []
    participation_meters: list[uuid.UUID] = []
    participation_rows: list[dict[str, Any]] = []
    defaults = meter_defaults()

    for meter_id in todo:
        snap = snaps[meter_id]
        is_new = meter_id not in stored
        first_enrollment = is_new or not stored[meter_id][0]
        old = previous.get(meter_id, {})
        columns = dict(snap.columns)
        # Fields this enrollment leaves out keep their stored values (see SHARED_COLUMNS).
        for name in ENROLLMENT_METER_COLUMNS:
            if name not in columns:
                columns[name] = old.get(name, Meter._meta.get_field(name).get_default())  # type: ignore[union-attr]  # a column

        if is_new:
            ctx.created += 1
            ctx.event(
                meter_id,
                MeterEvent.Kind.NEW_METER,
                details={"partner_reference": columns.get("partner_reference")},
            )
        elif not first_enrollment:
            _diff_columns(ctx, meter_id, old, snap.columns)
            _identity_events(ctx, meter_id, old, snap.columns)
        if not is_new and stored[meter_id][1] is not None:
            _returned(ctx, meter_id, stored[meter_id][1])
        if columns["global_enrollment_status"] == EnrollmentStatus.ACTIVE and (
            first_enrollment or old.get("global_enrollment_status") != EnrollmentStatus.ACTIVE
        ):
            ctx.event(
                meter_id,
                MeterEvent.Kind.BECAME_ACTIVE,
                details={"from": old.get("global_enrollment_status") or None},
            )

        # program x delivery period rows
        before = old_programs.get(meter_id, {})
        for key, row in snap.programs.items():
            prior = before.get(key)
            prior_tracked = _program_tracked(prior) if prior else None
            if (
                prior is not None
                and prior_tracked == row.tracked()
                and prior.market_group_name == row.market_group_name
            ):
                continue
            if not first_enrollment:
                _diff_program(ctx, meter_id, key, prior_tracked, row.tracked())
            program_upserts.append(
                {
                    "meter_id": meter_id,
                    "program_identifier": row.program_identifier,
                    "delivery_period": row.delivery_period,
                    "delivery_period_start": row.delivery_period_start,
                    "delivery_period_end": row.delivery_period_end,
                    "enrollment_status": row.enrollment_status,
                    "enrollment_deadlines": row.enrollment_deadlines,
                    "next_deadline": row.next_deadline,
                    "market_group_id": row.market_group_id,
                    "market_group_name": row.market_group_name,
                    "first_seen_at": ctx.now,
                    "updated_at": ctx.now,
                }
            )
        for key, prior in before.items():
            if key not in snap.programs:
                program_deletes.append(prior.pk)
                ctx.change(meter_id, f"program.{key}", _program_tracked(prior), None)

        # required actions
        prior_actions = old_actions.get(meter_id, {})
        for action_key, action in snap.actions.items():
            prior_action = prior_actions.get(action_key)
            opened = prior_action is None or prior_action.resolved_at is not None
            if opened:
                if not first_enrollment or prior_action is not None:
                    ctx.change(meter_id, action.label, None, action.description)
                if action.side == "partner":
                    ctx.event(
                        meter_id,
                        MeterEvent.Kind.ACTION_OPENED,
                        deadline=action.deadline,
                        details={
                            "code": action.code,
                            "action_type": action.action_type,
                            "program": action.program_identifier,
                            "delivery_period": action.delivery_period,
                            "description": action.description,
                        },
                    )
            elif prior_action is not None and (
                prior_action.description,
                prior_action.deadline,
                prior_action.action_type,
            ) != (
                action.description,
                action.deadline,
                action.action_type,
            ):
                ctx.change(
                    meter_id,
                    action.label,
                    {"description": prior_action.description, "deadline": prior_action.deadline},
                    {"description": action.description, "deadline": action.deadline},
                )
            action_upserts.append(
                {
                    "meter_id": meter_id,
                    "side": action.side,
                    "program_identifier": action.program_identifier,
                    "delivery_period": action.delivery_period,
                    "action_type": action.action_type,
                    "code": action.code,
                    "description": action.description,
                    "deadline": action.deadline,
                    "first_seen_at": ctx.now,
                    "last_seen_at": ctx.now,
                    "resolved_at": None,
                }
            )
        for action_key, prior_action in prior_actions.items():
            if prior_action.resolved_at is None and action_key not in snap.actions:
                action_resolves.append(prior_action.pk)
                label = f"action.{prior_action.side}.{prior_action.code}.{prior_action.program_identifier}/{prior_action.delivery_period}"
                ctx.change(meter_id, label, prior_action.description, None)
                if prior_action.side == "partner":
                    ctx.event(
                        meter_id,
                        MeterEvent.Kind.ACTION_RESOLVED,
                        details={
                            "code": prior_action.code,
                            "action_type": prior_action.action_type,
                            "program": prior_action.program_identifier,
                            "delivery_period": prior_action.delivery_period,
                            "open_since": prior_action.first_seen_at,
                        },
                    )

        # participation windows: replaced as a whole when they differ
        if _participation_key(snap.participation) != _participation_key(
            old_participation.get(meter_id, [])
        ):
            if not first_enrollment:
                ctx.change(
                    meter_id,
                    "participation_preferences",
                    old_participation.get(meter_id, []),
                    snap.participation,
                )
            participation_meters.append(meter_id)
            participation_rows.extend({"meter_id": meter_id, **row} for row in snap.participation)

        meter_row = {
            "meter_id": meter_id,
            **{name: columns[name] for name in ENROLLMENT_METER_COLUMNS},
            "enrollment_raw": by_id[meter_id].text,
            "enrollment_hash": by_id[meter_id].hash,
            "enrollment_synced_at": ctx.now,
            "last_seen_at": ctx.now,
            "missing_since": None,
        }
        if is_new:
            inserts.append(defaults | columns | meter_row | {"first_seen_at": ctx.now})
        else:
            updates.append(meter_row)

    history = ctx.take_history()
    windows = {
        meter_id: (
            region_of[meter_id],
            [
                (row.delivery_period_start, row.delivery_period_end, row.market_group_id)
                for row in snaps[meter_id].programs.values()
            ],
        )
        for meter_id in todo
    }

    def apply(wctx: Context) -> None:
        wctx.add_history(history)
        _write_meters(updates, inserts, ENROLLMENT_METER_COLUMNS, "enrollment")
        if program_deletes:
            ProgramEnrollment.objects.filter(pk__in=program_deletes).delete()
        write_rows(
            ProgramEnrollment,
            program_upserts,
            conflict=["meter_id", "program_identifier", "delivery_period"],
            update=[
                "delivery_period_start",
                "delivery_period_end",
                "enrollment_status",
                "enrollment_deadlines",
                "next_deadline",
                "market_group_id",
                "market_group_name",
                "updated_at",
            ],
        )
        if action_resolves:
            RequiredAction.objects.filter(pk__in=action_resolves).update(resolved_at=wctx.now)
        write_rows(
            RequiredAction,
            action_upserts,
            conflict=["meter_id", "side", "code", "program_identifier", "delivery_period"],
            update=["action_type", "description", "deadline", "last_seen_at", "resolved_at"],
        )
        replaced = [m for m in participation_meters if m in old_participation]
        if replaced:
            ParticipationPreference.objects.filter(meter_id__in=replaced).delete()
        write_rows(ParticipationPreference, participation_rows)

        groups.derive_from_enrollments(wctx, windows)
        wctx.flush()

    return apply


def _program_tracked(row: StoredProgram) -> dict[str, Any]:
    return {
        "status": row.enrollment_status,
        "market_group": str(row.market_group_id) if row.market_group_id else None,
        "start": jsonable(row.delivery_period_start),
        "end": jsonable(row.delivery_period_end),
        "deadlines": row.enrollment_deadlines,
    }


def _diff_program(
    ctx: Context,
    meter_id: uuid.UUID,
    key: str,
    old: dict[str, Any] | None,
    new: dict[str, Any],
) -> None:
    if old is None:
        ctx.change(meter_id, f"program.{key}", None, new)
        return
    for name, value in new.items():
        if old.get(name) != value:
            ctx.change(meter_id, f"program.{key}.{name}", old.get(name), value)
