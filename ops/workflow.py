"""The small workflow on partner actions: assign, move the state, note, snooze. Always audited."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from leapportal.web.history import display
from meters.models import RequiredAction
from ops import enqueue
from ops.models import ActionWorkItem, ActionWorkItemChange, BulkWorkUpdate

UNSET: Any = object()  # an argument left out (None is a value: no assignee, no snooze)
_UNSET = UNSET


def wanted_fields(
    states: list[str], *, assignee: Any, state: str | None, note: str | None, snoozed_until: Any
) -> dict[str, Any]:
    """The fields a change of a work item sets: those given (`UNSET`, or None for the state and
    the note, leave a field alone), the state checked against `states`, the note stripped.

    Shared by the action queue's work items and revenue's unresponsive-meter ones.
    """
    wanted: dict[str, Any] = {}
    if assignee is not _UNSET:
        wanted["assignee"] = assignee
    if state is not None:
        if state not in states:
            raise ValueError(f"unknown state {state!r}")
        wanted["state"] = state
    if note is not None:
        wanted["note"] = note.strip()
    if snoozed_until is not _UNSET:
        wanted["snoozed_until"] = snoozed_until
    return wanted


@transaction.atomic
def update_work_item(
    action: RequiredAction,
    *,
    actor: AbstractBaseUser,
    assignee: Any = _UNSET,
    state: str | None = None,
    note: str | None = None,
    snoozed_until: Any = _UNSET,
) -> tuple[ActionWorkItem, dict[str, list[Any]]]:
    """Apply the given changes to the action's work item; return it and what changed.

    Arguments left out are not touched. A change that changes nothing writes nothing.
    """
    item, _ = ActionWorkItem.objects.select_for_update().get_or_create(action=action)
    wanted = wanted_fields(
        ActionWorkItem.State.values,
        assignee=assignee, state=state, note=note, snoozed_until=snoozed_until,
    )  # fmt: skip
    changes = _apply(item, wanted)
    if changes:
        item.updated_at = timezone.now()
        item.updated_by = actor
        item.save()
        ActionWorkItemChange.objects.create(
            work_item=item, changed_by=actor, changed_at=item.updated_at, changes=changes
        )
    return item, changes


def _apply(item: ActionWorkItem, wanted: dict[str, Any]) -> dict[str, list[Any]]:
    """Set the wanted fields on `item`; return {field: [before, after]} of what really changed."""
    changes: dict[str, list[Any]] = {}
    for field, value in wanted.items():
        current = getattr(item, field)
        if current != value:
            changes[field] = [display(current), display(value)]
            setattr(item, field, value)
    return changes


def appended_note(current: str, addition: str, *, actor: AbstractBaseUser, now: datetime) -> str:
    """A work note with one more paragraph, signed and dated (bulk notes never overwrite)."""
    line = f"{addition.strip()} ({actor.get_username()}, {now:%Y-%m-%d %H:%M} UTC)"
    return f"{current.rstrip()}\n\n{line}" if current.strip() else line


# A bulk update is set-based: a handful of queries however many actions it touches, and no model
# instance per action (at several hundred actions, building and saving instances one by one, and
# Django's bulk_update with its CASE WHEN per row, cost seconds on a busy machine).
#
# Up to OPS_BULK_INLINE_MAX actions it is written inside the request (`bulk_update`). A larger one
# is recorded as queued (`queue_bulk_update`) and a worker applies it (ops.tasks.apply_bulk_update
# -> `run_queued_bulk_update`) in chunks of BULK_CHUNK, one transaction each, counting its progress:
# the request answers at once and the page follows the progress. Either way each changed action
# gets the same history row, pointing at the BulkWorkUpdate.
BULK_LIMIT = 10_000
BULK_CHUNK = 1_000
# A running bulk update whose worker has not written for this long is taken as dead (the broker
# hands its task to another worker, acks_late) and is taken over where its last chunk ended.
BULK_STALE = timedelta(minutes=5)
_BULK_FIELDS = {"assign": "assignee", "state": "state", "snooze": "snoozed_until", "note": "note"}


class BulkUpdateFailed(Exception):
    """A queued bulk update that cannot be applied (its user or assignee is gone)."""


def _check_bulk(action_ids: list[int], operation: str, value: Any) -> None:
    """Refuse an operation, state or selection no bulk update may have."""
    if operation not in BulkWorkUpdate.Operation.values:
        raise ValueError(f"unknown bulk operation {operation!r}")
    if operation == "state" and value not in ActionWorkItem.State.values:
        raise ValueError(f"unknown state {value!r}")
    if len(action_ids) > BULK_LIMIT:
        raise ValueError(f"at most {BULK_LIMIT} actions at once")


@transaction.atomic
def bulk_update(
    action_ids: list[int],
    *,
    actor: AbstractBaseUser,
    operation: str,
    value: Any,
    label: str,
    query: str = "",
) -> BulkWorkUpdate:
    """Apply one change (assign, state, snooze or note) to many actions now, each one audited.

    `value` is the assignee (a user or None), the state, the snooze end (or None) or the note to
    append; `label` is how the bulk record names it. Actions it does not change get no history.
    """
    _check_bulk(action_ids, operation, value)
    now = timezone.now()
    record = BulkWorkUpdate.objects.create(
        created_by=actor, created_at=now, operation=operation, value=label, query=query,
        selected=len(action_ids), processed=len(action_ids), status=BulkWorkUpdate.Status.DONE,
        started_at=now, finished_at=now,
    )  # fmt: skip
    record.changed = _apply_bulk(
        action_ids, actor=actor, operation=operation, value=value, now=now, record=record
    )
    record.save(update_fields=["changed"])
    return record


def queue_bulk_update(
    action_ids: list[int],
    *,
    actor: AbstractBaseUser,
    operation: str,
    value: Any,
    label: str,
    query: str = "",
) -> BulkWorkUpdate:
    """Record a bulk update as queued and send it to a worker (once the caller's transaction
    commits); the actions are the ones chosen now, whatever the filters match later."""
    _check_bulk(action_ids, operation, value)
    record = BulkWorkUpdate.objects.create(
        created_by=actor, operation=operation, value=label, query=query,
        selected=len(action_ids), status=BulkWorkUpdate.Status.QUEUED,
        action_ids=list(action_ids), arguments=_arguments(operation, value),
    )  # fmt: skip
    enqueue.apply_bulk_update_on_commit(record.pk)
    return record


def _arguments(operation: str, value: Any) -> dict[str, Any]:
    """The value of a queued bulk update as JSON: a user by id, a time as ISO."""
    if operation == "assign":
        return {"assignee_id": value.pk if value is not None else None}
    if operation == "snooze":
        return {"snoozed_until": value.isoformat() if value is not None else None}
    return {_BULK_FIELDS[operation]: value}


def _value(record: BulkWorkUpdate) -> Any:
    """The value a queued bulk update applies, back from its JSON."""
    args = record.arguments
    if record.operation == "assign":
        if args.get("assignee_id") is None:
            return None
        user = get_user_model().objects.filter(pk=args["assignee_id"]).first()
        if user is None:
            raise BulkUpdateFailed(f"the assignee “{record.value}” no longer exists")
        return user
    if record.operation == "snooze":
        until = args.get("snoozed_until")
        return datetime.fromisoformat(until) if until else None
    return args[_BULK_FIELDS[record.operation]]


def claim_bulk_update(bulk_id: int) -> bool:
    """queued -> running with one conditional UPDATE (a second delivery of the task finds it
    running and leaves it); a running one whose worker went silent is taken over."""
    now = timezone.now()
    stale = Q(status=BulkWorkUpdate.Status.RUNNING, heartbeat_at__lt=now - BULK_STALE)
    claimed = BulkWorkUpdate.objects.filter(
        Q(status=BulkWorkUpdate.Status.QUEUED) | stale, pk=bulk_id
    ).update(
        status=BulkWorkUpdate.Status.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)),
        heartbeat_at=now,
    )
    return claimed == 1


def run_queued_bulk_update(bulk_id: int) -> str:
    """Apply a queued bulk update in chunks; returns its final status (or why it did nothing).

    Each chunk is one transaction that also moves the record's `processed` on, under a lock of
    the record: a chunk is applied once, however many workers hold the task. A failure is
    written on the record (failed, the error, how far it got) and raised again for the log.
    """
    if not claim_bulk_update(bulk_id):
        return "not claimed (already running, finished, or gone)"
    try:
        record = BulkWorkUpdate.objects.select_related("created_by").get(pk=bulk_id)
        actor = record.created_by
        if actor is None:
            raise BulkUpdateFailed("the user who asked for it no longer exists")
        value = _value(record)
        now = record.started_at or timezone.now()
        while True:
            with transaction.atomic():
                status, processed, changed = (
                    BulkWorkUpdate.objects.select_for_update()
                    .filter(pk=bulk_id)
                    .values_list("status", "processed", "changed")
                    .get()
                )
                if status != BulkWorkUpdate.Status.RUNNING:
                    return str(status)
                chunk = record.action_ids[processed : processed + BULK_CHUNK]
                if chunk:
                    changed += _apply_bulk(
                        chunk, actor=actor, operation=record.operation, value=value, now=now,
                        record=record,
                    )  # fmt: skip
                    processed += len(chunk)
                finished = processed >= len(record.action_ids)
                BulkWorkUpdate.objects.filter(pk=bulk_id).update(
                    processed=processed,
                    changed=changed,
                    heartbeat_at=timezone.now(),
                    **(
                        {"status": BulkWorkUpdate.Status.DONE, "finished_at": timezone.now()}
                        if finished
                        else {}
                    ),
                )
            if finished:
                return str(BulkWorkUpdate.Status.DONE)
    except Exception as exc:
        BulkWorkUpdate.objects.filter(pk=bulk_id).update(
            status=BulkWorkUpdate.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:5000],
            finished_at=timezone.now(),
        )
        raise


def _apply_bulk(
    action_ids: list[int],
    *,
    actor: AbstractBaseUser,
    operation: str,
    value: Any,
    now: datetime,
    record: BulkWorkUpdate,
) -> int:
    """The set-based writes of one bulk update over these actions; returns how many changed."""
    _create_missing_work_items(action_ids, now)
    field = _BULK_FIELDS[operation]
    # The current values, locked in one lock order for every writer (a single item's update
    # locks its row too). Only what the history needs is read: no model instances.
    locked = ActionWorkItem.objects.select_for_update(of=("self",)).filter(action_id__in=action_ids)
    if field == "assignee":
        rows = list(locked.order_by("pk").values_list("pk", "assignee_id", "assignee__username"))
        target = value.pk if value is not None else None
    else:
        rows = list(locked.order_by("pk").values_list("pk", field, field))
        target = value
    if operation == "note":
        changes = {
            pk: appended_note(current, value, actor=actor, now=now) for pk, current, _ in rows
        }
        _set_notes(changes, actor=actor, now=now)
        history = {pk: [current, changes[pk]] for pk, current, _ in rows}
    else:
        after = display(value)
        history = {pk: [display(shown), after] for pk, current, shown in rows if current != target}
        if history:
            ActionWorkItem.objects.filter(pk__in=list(history)).update(
                **{field: value, "updated_at": now, "updated_by": actor}
            )
    _write_history(history, field=field, actor=actor, now=now, record=record)
    return len(history)


def _create_missing_work_items(action_ids: list[int], now: datetime) -> None:
    """A work item ("new") for each action that has none yet: one INSERT, the rest kept."""
    table = ActionWorkItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (action_id, state, note, updated_at)"  # noqa: S608 - our table
            " SELECT id, %s, '', %s FROM unnest(%s::bigint[]) AS ids(id)"
            " ON CONFLICT (action_id) DO NOTHING",
            [ActionWorkItem.State.NEW, now, list(action_ids)],
        )


def _write_history(
    history: dict[int, list[Any]],
    *,
    field: str,
    actor: AbstractBaseUser,
    now: datetime,
    record: BulkWorkUpdate,
) -> None:
    """One history row per changed work item, in one INSERT (as ActionWorkItemChange rows)."""
    if not history:
        return
    table = ActionWorkItemChange._meta.db_table
    changes = [json.dumps({field: pair}, cls=DjangoJSONEncoder) for pair in history.values()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (work_item_id, changed_by_id, changed_at, changes, bulk_id)"  # noqa: S608
            " SELECT item, %s, %s, change, %s FROM unnest(%s::bigint[], %s::jsonb[])"
            " AS new(item, change)",
            [actor.pk, now, record.pk, list(history), changes],
        )


def _set_notes(notes: dict[int, str], *, actor: AbstractBaseUser, now: datetime) -> None:
    """Each work item its own new note, in one UPDATE (the notes differ, the rest is shared)."""
    if not notes:
        return
    table = ActionWorkItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS item SET note = new.note, updated_at = %s,"  # noqa: S608
            " updated_by_id = %s FROM unnest(%s::bigint[], %s::text[]) AS new(id, note)"
            " WHERE item.id = new.id",
            [now, actor.pk, list(notes), list(notes.values())],
        )
