"""Dashboard workflow state: the action work items and saved views.

The time-zone preference (UserPreference) and the iCal feed's CalendarToken are leapportal's: the
time formatting and dispatch's feed, below the top floor, read them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class ActionWorkItem(models.Model):
    """Our work on one Leap required action: who has it, where it stands, what was said.

    Created on the first change; an action nobody touched yet is simply "new".
    """

    class State(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        WAITING_CUSTOMER = "waiting_customer", "Waiting on customer"
        WAITING_LEAP = "waiting_leap", "Waiting on Leap"
        DONE = "done", "Done"

    action = models.OneToOneField(
        "meters.RequiredAction", on_delete=models.CASCADE, related_name="work_item"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_actions",
    )
    state = models.CharField(max_length=20, choices=State, default=State.NEW, db_index=True)
    note = models.TextField(blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.action_id}: {self.state}"


class ActionWorkItemChange(models.Model):
    """One change to a work item: who, when, and each field's before and after."""

    work_item = models.ForeignKey(ActionWorkItem, on_delete=models.CASCADE, related_name="history")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)
    changes = models.JSONField(default=dict, help_text="{field: [before, after]}")
    bulk = models.ForeignKey(
        "BulkWorkUpdate", null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [models.Index(fields=["work_item", "changed_at"])]

    def __str__(self) -> str:
        return f"{self.work_item_id} {sorted(self.changes)}"


class BulkWorkUpdate(models.Model):
    """One bulk change to the action queue: what was asked, of which actions, by whom.

    Each action it changed keeps its own ActionWorkItemChange pointing here, so an action's
    history says the change came from a bulk update and which one.
    """

    class Operation(models.TextChoices):
        ASSIGN = "assign", "Assign"
        STATE = "state", "Set state"
        SNOOZE = "snooze", "Snooze"
        NOTE = "note", "Add a note"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    operation = models.CharField(max_length=10, choices=Operation)
    value = models.TextField(blank=True, help_text="the assignee, state, snooze choice or note")
    query = models.TextField(blank=True, help_text="the queue filters, when 'all matching'")
    selected = models.IntegerField(default=0)
    changed = models.IntegerField(default=0)
    # A large change (over OPS_BULK_INLINE_MAX actions) is queued and applied by a worker in
    # chunks; a small one is written inside the request and is "done" when created. The database
    # defaults let the code before these fields insert rows too (a rolling deploy, a rollback).
    status = models.CharField(
        max_length=10, choices=Status, default=Status.DONE, db_default=Status.DONE
    )
    action_ids = ArrayField(
        models.BigIntegerField(), default=list, db_default=[], blank=True,
        help_text="queued: the actions chosen when it was asked (applied in this order)",
    )  # fmt: skip
    arguments = models.JSONField(
        default=dict, db_default={}, blank=True,
        help_text="queued: the resolved value the worker applies",
    )  # fmt: skip
    processed = models.IntegerField(
        default=0, db_default=0, help_text="actions applied so far (queued ones)"
    )
    error = models.TextField(blank=True, db_default="")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    def __str__(self) -> str:
        return f"bulk #{self.pk} {self.operation} ({self.changed}/{self.selected})"

    @property
    def is_active(self) -> bool:
        """Still queued or running: its progress page keeps polling."""
        return self.status in self.ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        """How much of it is applied, 0-100."""
        if self.status == self.Status.DONE:
            return 100
        return min(100, (100 * self.processed) // self.selected) if self.selected else 0


class SavedView(models.Model):
    """A user's named filters of a list page (the queue, meters, dispatches), in the navigation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=60)
    page = models.CharField(max_length=40, help_text="URL name of the list page, e.g. ops:actions")
    query = models.TextField(blank=True, help_text="the filters, as a query string")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_name_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.name}"
