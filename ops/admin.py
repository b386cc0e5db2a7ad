"""Admin pages of ops: calendar feed tokens (list, revoke); the secret itself is never stored."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ops.models import CalendarToken


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
