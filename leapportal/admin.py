"""Admin registrations of the project-level models (calendar feed tokens: list and revoke; the
secret itself is never stored)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from leapportal.models import CalendarToken, WebhookAuthFailure, WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """Read-only: rows are written by the heartbeat task."""

    list_display = ("hostname", "last_seen_at", "first_seen_at", "beats")
    readonly_fields = ("hostname", "first_seen_at", "last_seen_at", "beats")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        """Heartbeats come from workers only."""
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        """Heartbeats come from workers only."""
        return False


@admin.register(WebhookAuthFailure)
class WebhookAuthFailureAdmin(admin.ModelAdmin):
    """Refused requests (wrong or missing secret), counted per day."""

    list_display = ("day", "level", "count", "last_at", "last_remote_addr", "last_reason")


@admin.register(CalendarToken)
class CalendarTokenAdmin(admin.ModelAdmin):
    """Who has a dispatch calendar feed, when it was last read, and a way to stop it."""

    list_display = (
        "user",
        "token_prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username", "user__email", "token_prefix")
    readonly_fields = (
        "user", "token_prefix", "created_at", "last_used_at", "revoked_at", "revoked_by",
    )  # fmt: skip
    exclude = ("token_sha256",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is issued by its user, on "My settings"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected calendar feeds")
    def revoke(self, request: HttpRequest, queryset: QuerySet[CalendarToken]) -> None:
        n = CalendarToken.revoke(queryset, by=request.user)
        messages.success(request, f"Revoked {n} calendar feed(s).")
