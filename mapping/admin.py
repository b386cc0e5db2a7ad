"""Admin: API tokens (the secret is shown once), shared sites; mappings and audit are read-only here.

Mappings change only through the mapping pages, the import and the API, so every change has a
reason and an audit row; the admin would bypass both.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from mapping.models import ApiToken, MappingChange, MappingImport, MeterMapping, SharedSite


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse and search only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Create a token: its secret appears once, in the confirmation message."""

    list_display = (
        "name",
        "key_prefix",
        "can_write",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("can_write",)
    readonly_fields = ("key_prefix", "created_at", "created_by", "last_used_at")
    fields = (
        "name",
        "can_write",
        "revoked_at",
        "key_prefix",
        "created_at",
        "created_by",
        "last_used_at",
    )
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if not change:
            secret = obj.issue()
            obj.created_by = request.user  # type: ignore[assignment]
            super().save_model(request, obj, form, change)
            messages.warning(
                request,
                f"API token for {obj.name}: {secret} — copy it now; it is stored only as a hash "
                "and will not be shown again.",
            )
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        n = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        messages.success(request, f"Revoked {n} token(s).")


@admin.register(SharedSite)
class SharedSiteAdmin(admin.ModelAdmin):
    """Sites allowed several meters although MAPPING_ONE_METER_PER_SITE is on."""

    list_display = ("site_id", "reason", "created_at", "created_by")
    search_fields = ("site_id",)
    readonly_fields = ("created_at", "created_by")

    def save_model(self, request: HttpRequest, obj: SharedSite, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)


@admin.register(MeterMapping)
class MeterMappingAdmin(ReadOnlyAdmin):
    list_display = ("meter_id", "customer_id", "site_id", "label", "updated_at", "updated_by")
    search_fields = ("customer_id", "site_id", "label")


@admin.register(MappingChange)
class MappingChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "meter_id", "actor_name", "source", "reason")
    list_filter = ("source",)
    search_fields = ("actor_name", "reason")


@admin.register(MappingImport)
class MappingImportAdmin(ReadOnlyAdmin):
    list_display = ("pk", "filename", "uploaded_at", "uploaded_by", "status", "size")
    list_filter = ("status",)
    exclude = ("raw",)
