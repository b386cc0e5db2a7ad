"""The small workflow on partner actions: assign, move the state, note, snooze. Always audited."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from leapportal.web.history import display
from meters.models import RequiredAction
from ops.models import ActionWorkItem, ActionWorkItemChange, BulkWorkUpdate

_UNSET: Any = object()


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
    wanted: dict[str, Any] = {}
    if assignee is not _UNSET:
        wanted["assignee"] = assignee
    if state is not None:
        if state not in ActionWorkItem.State.values:
            raise ValueError(f"unknown state {state!r}")
        wanted["state"] = state
    if note is not None:
        wanted["note"] = note.strip()
    if snoozed_until is not _UNSET:
        wanted["snoozed_until"] = snoozed_until
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
BULK_LIMIT = 10_000
_BULK_FIELDS = {"assign": "assignee", "state": "state", "snooze": "snoozed_until", "note": "note"}


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
    """Apply one change (assign, state, snooze or note) to many actions, each one audited.

    `value` is the assignee (a user or None), the state, the snooze end (or None) or the note to
    append; `label` is how the bulk record names it. Actions it does not change get no history.
    """
    if operation not in BulkWorkUpdate.Operation.values:
        raise ValueError(f"unknown bulk operation {operation!r}")
    if operation == "state" and value not in ActionWorkItem.State.values:
        raise ValueError(f"unknown state {value!r}")
    if len(action_ids) > BULK_LIMIT:
        raise ValueError(f"at most {BULK_LIMIT} actions at once")
    now = timezone.now()
    record = BulkWorkUpdate.objects.create(
        created_by=actor, created_at=now, operation=operation, value=label, query=query,
        selected=len(action_ids),
    )  # fmt: skip
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
    record.changed = len(history)
    record.save(update_fields=["changed"])
    return record


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
