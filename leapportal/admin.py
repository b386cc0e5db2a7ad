"""Admin registrations of the project-level models."""

from __future__ import annotations

from django.contrib import admin

from leapportal.models import WebhookAuthFailure, WorkerHeartbeat


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
