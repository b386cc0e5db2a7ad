"""Plan and write one page of Leap's meter enrollments: only what changed, in bulk.

A changed meter's enrollment is compared in four steps, each recording its own history: the
meter's enrollment columns (`_plan_meter`), its program x delivery period rows
(`_plan_programs`), its required actions (`_plan_actions`) and its participation windows
(`_plan_participation`). The market groups and reason codes a page names are created while
planning (rows written later point at them); `EnrollmentPlan.write` writes the rest, then
re-derives the meters' group assignments (meters/groups.py).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from leap.schemas import MeterEnrollment
from meters import groups
from meters.bulk import rows_for, write_rows
from meters.models import (
    EnrollmentStatus,
    Meter,
    MeterEvent,
    ParticipationPreference,
    ProgramEnrollment,
    RequiredAction,
)
from meters.sync.catalogue import ensure_groups, ensure_reason_codes
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
from meters.sync.snapshot import (
    AUDIT_COLUMNS,
    ENROLLMENT_COLUMNS,
    SHARED_COLUMNS,
    ActionRow,
    EnrollmentSnapshot,
    Prepared,
    ProgramRow,
    jsonable,
    prepare_enrollment,
)


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
PARTICIPATION_FIELDS = ["participation_preference", "start_time", "end_time", "reason"]

ENROLLMENT_METER_COLUMNS = ENROLLMENT_COLUMNS + list(SHARED_COLUMNS) + sorted(AUDIT_COLUMNS)

_ENROLLMENT_NAMES = frozenset(ENROLLMENT_METER_COLUMNS)

ActionKey = tuple[str, str, str, str]


@dataclass
class Stored:
    """What is stored of a page's changed meters: their enrollment columns (`meters`, only where
    needed) and, for meters with a stored enrollment, their programs, actions and windows."""

    meters: dict[uuid.UUID, dict[str, Any]]
    programs: dict[uuid.UUID, dict[str, StoredProgram]]
    actions: dict[uuid.UUID, dict[ActionKey, StoredAction]]
    participation: dict[uuid.UUID, list[dict[str, Any]]]


@dataclass
class EnrollmentPlan:
    """A page of enrollments to write: every row it changes, and its history."""

    updates: list[dict[str, Any]] = field(default_factory=list)  # meters we have
    inserts: list[dict[str, Any]] = field(default_factory=list)  # meters new to us (upserted)
    program_upserts: list[dict[str, Any]] = field(default_factory=list)
    program_deletes: list[int] = field(default_factory=list)
    action_upserts: list[dict[str, Any]] = field(default_factory=list)
    action_resolves: list[int] = field(default_factory=list)
    participation_meters: list[uuid.UUID] = field(default_factory=list)
    participation_replaced: list[uuid.UUID] = field(default_factory=list)  # had windows stored
    participation_rows: list[dict[str, Any]] = field(default_factory=list)
    # Per meter: its region and its programs' (start, end, market group), for group assignments.
    windows: dict[uuid.UUID, tuple[str, list[groups.Window]]] = field(default_factory=dict)
    history: History = field(default_factory=lambda: ([], []))

    def write(self, ctx: Context) -> None:
        """Write the rows and the history; re-derive the meters' group assignments."""
        ctx.add_history(self.history)
        write_meters(self.updates, self.inserts, ENROLLMENT_METER_COLUMNS, "enrollment")
        if self.program_deletes:
            ProgramEnrollment.objects.filter(pk__in=self.program_deletes).delete()
        write_rows(
            ProgramEnrollment,
            self.program_upserts,
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
        if self.action_resolves:
            RequiredAction.objects.filter(pk__in=self.action_resolves).update(resolved_at=ctx.now)
        write_rows(
            RequiredAction,
            self.action_upserts,
            conflict=["meter_id", "side", "code", "program_identifier", "delivery_period"],
            update=["action_type", "description", "deadline", "last_seen_at", "resolved_at"],
        )
        if self.participation_replaced:
            ParticipationPreference.objects.filter(
                meter_id__in=self.participation_replaced
            ).delete()
        write_rows(ParticipationPreference, self.participation_rows)
        groups.derive_from_enrollments(ctx, self.windows)
        ctx.flush()


def write_enrollments(ctx: Context, items: list[MeterEnrollment]) -> None:
    """Store one page of leap.schemas.MeterEnrollment objects."""
    plan = plan_enrollments(ctx, [prepare_enrollment(item) for item in items])
    if plan:
        plan.write(ctx)


def plan_enrollments(ctx: Context, items: list[Prepared]) -> EnrollmentPlan | None:
    """Read and compare one page of prepared enrollments (`prepare_enrollment`); returns what
    writes it (see `details.plan_details`).

    Market groups and reason codes the page names are created while planning (rows written
    later point at them).
    """
    by_id, stored, todo = changed_meters(ctx, items, "enrollment_hash")
    if not todo:
        return None
    snaps: dict[uuid.UUID, EnrollmentSnapshot] = {
        meter_id: by_id[meter_id].data for meter_id in todo
    }
    before = _read_stored(ctx, snaps, stored)
    ensure_reason_codes(ctx, snaps.values())
    # Enrollments always carry the region.
    region_of = {m: snaps[m].columns.get("transmission_region") or "" for m in todo}
    ensure_groups(ctx, region_of, snaps)

    plan = EnrollmentPlan()
    defaults = meter_defaults()
    for meter_id in todo:
        snap = snaps[meter_id]
        # A meter's first enrollment (new to us, or never enrolled before) records no diffs.
        first = meter_id not in stored or not stored[meter_id][0]
        row = _plan_meter(
            ctx, meter_id, snap, before.meters.get(meter_id, {}), stored.get(meter_id)
        )
        programs = before.programs.get(meter_id, {})
        _plan_programs(ctx, plan, meter_id, snap.programs, programs, first=first)
        actions = before.actions.get(meter_id, {})
        _plan_actions(ctx, plan, meter_id, snap.actions, actions, first=first)
        _plan_participation(
            ctx, plan, meter_id, snap.participation, before.participation, first=first
        )
        meter_row = {
            "meter_id": meter_id,
            **{name: row[name] for name in ENROLLMENT_METER_COLUMNS},
            "enrollment_raw": by_id[meter_id].text,
            "enrollment_hash": by_id[meter_id].hash,
            "enrollment_synced_at": ctx.now,
            "last_seen_at": ctx.now,
            "missing_since": None,
        }
        if meter_id in stored:
            plan.updates.append(meter_row)
        else:
            plan.inserts.append(defaults | row | meter_row | {"first_seen_at": ctx.now})
        plan.windows[meter_id] = (
            region_of[meter_id],
            [
                (
                    program.delivery_period_start,
                    program.delivery_period_end,
                    program.market_group_id,
                )
                for program in snap.programs.values()
            ],
        )
    plan.history = ctx.take_history()
    return plan


def _read_stored(
    ctx: Context, snaps: dict[uuid.UUID, EnrollmentSnapshot], stored: dict[Any, tuple]
) -> Stored:
    """What is stored of the changed meters that the comparison needs (see `Stored`)."""
    existing = [m for m in snaps if m in stored]
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
    result = Stored(
        meters={
            row[0]: dict(zip(names, row, strict=True))
            for row in rows_for(Meter, names, "meter_id", wanted)
        },
        programs=defaultdict(dict),
        actions=defaultdict(dict),
        participation=defaultdict(list),
    )
    for program in map(
        StoredProgram._make, rows_for(ProgramEnrollment, PROGRAM_FIELDS, "meter_id", enrolled)
    ):
        key = f"{program.program_identifier}/{program.delivery_period}"
        result.programs[program.meter_id][key] = program
    for action in map(
        StoredAction._make, rows_for(RequiredAction, ACTION_FIELDS, "meter_id", enrolled)
    ):
        key_ = (action.side, action.code, action.program_identifier, action.delivery_period)
        result.actions[action.meter_id][key_] = action
    for meter_id, *values in rows_for(
        ParticipationPreference, ["meter_id", *PARTICIPATION_FIELDS], "meter_id", enrolled
    ):
        result.participation[meter_id].append(dict(zip(PARTICIPATION_FIELDS, values, strict=True)))
    return result


def _plan_meter(
    ctx: Context,
    meter_id: uuid.UUID,
    snap: EnrollmentSnapshot,
    old: dict[str, Any],
    stored: tuple | None,
) -> dict[str, Any]:
    """The meter's enrollment columns, with its events and the diffs of a meter enrolled before.

    Columns the enrollment leaves out keep their stored values (see SHARED_COLUMNS). `stored`:
    (stored enrollment hash, missing_since), None for a meter new to us.
    """
    columns = dict(snap.columns)
    for name in ENROLLMENT_METER_COLUMNS:
        if name not in columns:
            columns[name] = old.get(name, Meter._meta.get_field(name).get_default())  # type: ignore[union-attr]  # a column
    first = stored is None or not stored[0]
    if stored is None:
        new_meter(ctx, meter_id, columns)
    elif not first:
        diff_columns(ctx, meter_id, old, snap.columns)
        identity_events(ctx, meter_id, old, snap.columns)
    if stored is not None and stored[1] is not None:
        returned(ctx, meter_id, stored[1])
    if columns["global_enrollment_status"] == EnrollmentStatus.ACTIVE and (
        first or old.get("global_enrollment_status") != EnrollmentStatus.ACTIVE
    ):
        ctx.event(
            meter_id,
            MeterEvent.Kind.BECAME_ACTIVE,
            details={"from": old.get("global_enrollment_status") or None},
        )
    return columns


def _plan_programs(
    ctx: Context,
    plan: EnrollmentPlan,
    meter_id: uuid.UUID,
    programs: dict[str, ProgramRow],
    before: dict[str, StoredProgram],
    *,
    first: bool,
) -> None:
    """Program x delivery period rows: upsert the new and changed ones, delete the gone ones."""
    for key, row in programs.items():
        prior = before.get(key)
        prior_tracked = _program_tracked(prior) if prior else None
        if (
            prior is not None
            and prior_tracked == row.tracked()
            and prior.market_group_name == row.market_group_name
        ):
            continue
        if not first:
            _diff_program(ctx, meter_id, key, prior_tracked, row.tracked())
        plan.program_upserts.append(
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
        if key not in programs:
            plan.program_deletes.append(prior.pk)
            ctx.change(meter_id, f"program.{key}", _program_tracked(prior), None)


def _plan_actions(
    ctx: Context,
    plan: EnrollmentPlan,
    meter_id: uuid.UUID,
    actions: dict[ActionKey, ActionRow],
    before: dict[ActionKey, StoredAction],
    *,
    first: bool,
) -> None:
    """Required actions: every open one upserted (opened, changed or still open), the ones Leap
    no longer lists resolved."""
    for key, action in actions.items():
        prior = before.get(key)
        if prior is None or prior.resolved_at is not None:
            _action_opened(ctx, meter_id, action, reopened=prior is not None, first=first)
        elif (prior.description, prior.deadline, prior.action_type) != (
            action.description,
            action.deadline,
            action.action_type,
        ):
            ctx.change(
                meter_id,
                action.label,
                {"description": prior.description, "deadline": prior.deadline},
                {"description": action.description, "deadline": action.deadline},
            )
        plan.action_upserts.append(
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
    for key, prior in before.items():
        if prior.resolved_at is None and key not in actions:
            plan.action_resolves.append(prior.pk)
            _action_resolved(ctx, meter_id, prior)


def _action_opened(
    ctx: Context, meter_id: uuid.UUID, action: ActionRow, *, reopened: bool, first: bool
) -> None:
    """History of an action new to the meter (or open again after it was resolved)."""
    if not first or reopened:
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


def _action_resolved(ctx: Context, meter_id: uuid.UUID, prior: StoredAction) -> None:
    """History of an open action Leap no longer lists."""
    label = f"action.{prior.side}.{prior.code}.{prior.program_identifier}/{prior.delivery_period}"
    ctx.change(meter_id, label, prior.description, None)
    if prior.side == "partner":
        ctx.event(
            meter_id,
            MeterEvent.Kind.ACTION_RESOLVED,
            details={
                "code": prior.code,
                "action_type": prior.action_type,
                "program": prior.program_identifier,
                "delivery_period": prior.delivery_period,
                "open_since": prior.first_seen_at,
            },
        )


def _plan_participation(
    ctx: Context,
    plan: EnrollmentPlan,
    meter_id: uuid.UUID,
    windows: list[dict[str, Any]],
    before: dict[uuid.UUID, list[dict[str, Any]]],
    *,
    first: bool,
) -> None:
    """Participation windows: replaced as a whole when they differ."""
    old = before.get(meter_id, [])
    if _participation_key(windows) == _participation_key(old):
        return
    if not first:
        ctx.change(meter_id, "participation_preferences", old, windows)
    plan.participation_meters.append(meter_id)
    if meter_id in before:
        plan.participation_replaced.append(meter_id)
    plan.participation_rows.extend({"meter_id": meter_id, **row} for row in windows)


def _participation_key(rows: list[dict[str, Any]]) -> list[tuple]:
    return [
        (r["participation_preference"], r["start_time"], r["end_time"], r["reason"] or None)
        for r in rows
    ]


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
