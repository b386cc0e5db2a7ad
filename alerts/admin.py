"""Admin views of alerts, notification preferences and sent messages (read-only where written by
the system: alerts by the evaluation pass, messages by the sender)."""

from __future__ import annotations

from django.contrib import admin

from alerts.models import Alert, AlertChange, NotificationPreference, OutboundMessage


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class AlertChangeInline(admin.TabularInline):
    model = AlertChange
    extra = 0
    can_delete = False
    readonly_fields = ("at", "by", "from_status", "to_status", "note")

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Alert)
class AlertAdmin(_ReadOnly):
    list_display = ("raised_at", "kind", "severity", "title", "status", "resolved_at")
    list_filter = ("kind", "status", "severity")
    search_fields = ("title", "key")
    inlines = [AlertChangeInline]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "mode", "email_enabled", "chat_enabled", "time_zone", "last_sent_at")
    readonly_fields = ("last_alert_id", "last_sent_at")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(_ReadOnly):
    list_display = ("created_at", "purpose", "channel", "to", "subject", "status", "attempts")
    list_filter = ("purpose", "channel", "status")
    search_fields = ("to", "subject")
    raw_id_fields = ("action",)
