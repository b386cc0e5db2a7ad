"""The small workflow on partner actions: assign, move the state, note, snooze. Always audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from meters.models import RequiredAction
from ops.models import ActionWorkItem, ActionWorkItemChange, BulkWorkUpdate

_UNSET: Any = object()


def _display(value: Any) -> Any:
    """How a value is kept in the history: users by username, times as ISO with offset."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "get_username"):
        return value.get_username()
    return value


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
            changes[field] = [_display(current), _display(value)]
            setattr(item, field, value)
    return changes


def appended_note(current: str, addition: str, *, actor: AbstractBaseUser, now: datetime) -> str:
    """A work note with one more paragraph, signed and dated (bulk notes never overwrite)."""
    line = f"{addition.strip()} ({actor.get_username()}, {now:%Y-%m-%d %H:%M} UTC)"
    return f"{current.rstrip()}\n\n{line}" if current.strip() else line


# A bulk update is set-based: a handful of queries however many actions it touches.
BULK_LIMIT = 10_000


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
    ActionWorkItem.objects.bulk_create(
        [ActionWorkItem(action_id=pk, updated_at=now) for pk in action_ids],
        ignore_conflicts=True,  # the ones that have a work item keep it
        batch_size=2000,
    )
    items = list(
        ActionWorkItem.objects.select_for_update(of=("self",))
        .filter(action_id__in=action_ids)
        .select_related("assignee")
        .order_by("pk")  # one lock order for every writer
    )
    changed_items: list[ActionWorkItem] = []
    history: list[ActionWorkItemChange] = []
    field = {"assign": "assignee", "state": "state", "snooze": "snoozed_until"}.get(operation)
    for item in items:
        if operation == "note":
            wanted = {"note": appended_note(item.note, value, actor=actor, now=now)}
        else:
            wanted = {field: value}
        changes = _apply(item, wanted)
        if not changes:
            continue
        item.updated_at = now
        item.updated_by = actor
        changed_items.append(item)
        history.append(
            ActionWorkItemChange(
                work_item=item, changed_by=actor, changed_at=now, changes=changes, bulk=record
            )
        )
    if changed_items:
        fields = [field or "note", "updated_at", "updated_by"]
        ActionWorkItem.objects.bulk_update(changed_items, fields, batch_size=2000)
        ActionWorkItemChange.objects.bulk_create(history, batch_size=2000)
    record.changed = len(changed_items)
    record.save(update_fields=["changed"])
    return record
