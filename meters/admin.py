"""Admin for the meters app: the ReasonCode catalogue is edited here; the Leap mirror is read-only;
held syncs are approved here; schedules are edited in django-celery-beat's admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from meters import actions
from meters.models import (
    CapabilityOverride,
    GroupAssignment,
    MarketGroup,
    Meter,
    MeterChange,
    MeterEvent,
    ProgramEnrollment,
    ReasonCode,
    RequiredAction,
    SyncFailure,
    SyncRun,
    WebhookDelivery,
)
from meters.sync import holds

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the sync: people look, never edit."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Only the sync adds rows."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Only the sync changes rows."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """History is never deleted by hand."""
        return False


class ProgramEnrollmentInline(admin.TabularInline):
    """A meter's program x delivery period rows."""

    model = ProgramEnrollment
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "program_identifier",
        "delivery_period",
        "enrollment_status",
        "delivery_period_start",
        "delivery_period_end",
        "market_group",
        "next_deadline",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Written by the sync only."""
        return False


class RequiredActionInline(admin.TabularInline):
    """A meter's required actions, open and resolved."""

    model = RequiredAction
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "side", "code", "action_type", "description", "deadline", "resolved_at",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Written by the sync only."""
        return False


@admin.register(Meter)
class MeterAdmin(ReadOnlyAdmin):
    """The mirror of Leap's meters; "resync" queues a fresh fetch of the selected meters."""

    list_display = [
        "meter_id",
        "partner_reference",
        "transmission_region",
        "global_enrollment_status",
        "action_required",
        "is_archived",
        "missing_since",
    ]
    list_filter = [
        "transmission_region",
        "global_enrollment_status",
        "action_required",
        "is_archived",
    ]
    search_fields = ["partner_reference", "end_customer_name", "electric_service_account_number"]
    inlines = [ProgramEnrollmentInline, RequiredActionInline]
    actions = ["resync"]

    @admin.action(description="Resync the selected meters from Leap")
    def resync(self, request: HttpRequest, queryset: QuerySet[Meter]) -> None:
        """Queue one resync per selected meter (at most 200 at a time)."""
        ids = list(queryset.values_list("meter_id", flat=True)[:200])
        for meter_id in ids:
            actions.request_sync("meter", meter_id=meter_id, requested_by=request.user)
        self.message_user(request, f"{len(ids)} meter resync(s) queued")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    """Sync runs; a held full sync is approved here."""

    list_display = [
        "pk",
        "kind",
        "status",
        "created",
        "updated",
        "unchanged",
        "missing",
        "failed",
        "started_at",
        "finished_at",
        "requested_by",
    ]
    list_filter = ["kind", "status"]
    actions = ["approve_held", "fail_stale"]
    exclude = ["held_meter_ids"]

    @admin.action(description="Approve the held missing meters of the selected runs")
    def approve_held(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        """Mark the meters a held run did not see as missing."""
        for run in queryset.filter(status=SyncRun.Status.HELD):
            run = actions.approve_held_run(run, approved_by=request.user)
            self.message_user(request, f"run {run.pk}: {run.error}", messages.SUCCESS)

    @admin.action(description="Fail runs whose worker stopped sending heartbeats")
    def fail_stale(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        """The same check every new run does first."""
        self.message_user(request, f"{holds.fail_stale_runs()} stale run(s) failed")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Every field stays read-only, but the actions need the role's change permission."""
        return request.user.has_perm("meters.change_syncrun")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        """Runs are written by the sync only."""
        return [f.name for f in SyncRun._meta.fields if f.name != "held_meter_ids"]


@admin.register(ReasonCode)
class ReasonCodeAdmin(admin.ModelAdmin):
    """Our catalogue: edited by admins; new codes from Leap arrive marked as lacking guidance."""

    list_display = ["code", "kind", "title", "who_acts", "needs_guidance", "first_seen_at"]
    list_filter = ["kind", "who_acts", "needs_guidance"]
    search_fields = ["code", "title", "guidance"]
    readonly_fields = ["example_description", "first_seen_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The meter webhook inbox, raw."""

    list_display = ["received_at", "event_type", "webhook_event_id", "meter_id", "status", "error"]
    list_filter = ["status", "event_type"]
    search_fields = ["webhook_event_id", "meter_id"]


@admin.register(SyncFailure)
class SyncFailureAdmin(ReadOnlyAdmin):
    """Objects from Leap that did not validate."""

    list_display = ["created_at", "stream", "meter_id", "error", "sync_run"]
    list_filter = ["stream"]


@admin.register(MeterChange)
class MeterChangeAdmin(ReadOnlyAdmin):
    """Field history."""

    list_display = ["changed_at", "meter", "field", "old", "new", "source"]
    list_filter = ["source"]
    search_fields = ["field"]
    raw_id_fields = ["meter", "sync_run"]


@admin.register(MeterEvent)
class MeterEventAdmin(ReadOnlyAdmin):
    """Transitions the dashboard and notifications read."""

    list_display = ["occurred_at", "kind", "meter", "deadline", "source"]
    list_filter = ["kind", "source"]
    raw_id_fields = ["meter", "sync_run"]


@admin.register(MarketGroup)
class MarketGroupAdmin(ReadOnlyAdmin):
    """Leap's market groups."""

    list_display = ["market_group_id", "name", "region", "program_identifier", "updated_at"]
    list_filter = ["region"]
    search_fields = ["name"]


@admin.register(GroupAssignment)
class GroupAssignmentAdmin(ReadOnlyAdmin):
    """Group membership by trade day."""

    list_display = ["trade_date", "market_group", "meter", "source"]
    list_filter = ["trade_date", "source"]
    raw_id_fields = ["meter", "market_group"]


@admin.register(CapabilityOverride)
class CapabilityOverrideAdmin(admin.ModelAdmin):
    """Our own figures of what a meter's devices can do; saving re-plans its upcoming dispatches."""

    list_display = (
        "meter",
        "max_discharge_kw",
        "energy_capacity_kwh",
        "min_soc_percent",
        "max_soc_percent",
        "site_load_kw",
        "updated_at",
        "updated_by",
    )
    search_fields = ("meter__meter_id", "meter__partner_reference", "note")
    raw_id_fields = ("meter",)
    readonly_fields = ("updated_at", "updated_by")

    def save_model(
        self, request: HttpRequest, obj: CapabilityOverride, form: Any, change: bool
    ) -> None:
        """Record who set the figures, and when."""
        obj.updated_by = cast("User", request.user)  # the admin is signed in
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
