"""The small workflow on partner actions: assign, move the state, note, snooze. Always audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from meters.models import RequiredAction
from ops.models import ActionWorkItem, ActionWorkItemChange

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
    changes: dict[str, list[Any]] = {}
    for field, value in wanted.items():
        current = getattr(item, field)
        if current != value:
            changes[field] = [_display(current), _display(value)]
            setattr(item, field, value)
    if changes:
        item.updated_at = timezone.now()
        item.updated_by = actor
        item.save()
        ActionWorkItemChange.objects.create(
            work_item=item, changed_by=actor, changed_at=item.updated_at, changes=changes
        )
    return item, changes
