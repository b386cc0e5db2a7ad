"""Admin for the dispatch app: the inbox (read-only), timeslots, outbound endpoints, feed clients."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models as django_models
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

import leap
from dispatch import enqueue, models, receiver_registration


def _readonly(model_admin: admin.ModelAdmin) -> list[str]:
    """Every field of the model."""
    return [f.name for f in model_admin.model._meta.fields]


@admin.register(models.DispatchDelivery)
class DispatchDeliveryAdmin(admin.ModelAdmin):
    """The raw inbox: inspect, requeue; never edit what Leap sent."""

    list_display = ("pk", "received_at", "source", "level", "status", "size", "short_error")
    list_filter = ("status", "source", "level", "integration_test")
    search_fields = ("body_sha256", "error")
    date_hierarchy = "received_at"
    exclude = ("body",)
    readonly_fields = ("body_preview",)
    actions = ["requeue", "register_with_leap"]
    change_list_template = "admin/dispatch/dispatchdelivery/change_list.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        """Everything is read-only."""
        return [*_readonly(self), "body_preview"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Deliveries come from Leap only."""
        return False

    @admin.display(description="error")
    def short_error(self, obj: models.DispatchDelivery) -> str:
        """The first part of the error."""
        return obj.error[:80]

    @admin.display(description="body")
    def body_preview(self, obj: models.DispatchDelivery) -> str:
        """The body as text."""
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.body_text[:20000])

    @admin.action(description="Process again (failed or stuck deliveries)")
    def requeue(self, request: HttpRequest, queryset: Any) -> None:
        """Put failed deliveries back to received and queue them."""
        ids = list(
            queryset.filter(
                status__in=[
                    models.DispatchDelivery.Status.FAILED,
                    models.DispatchDelivery.Status.RECEIVED,
                ]
            ).values_list("pk", flat=True)
        )
        models.DispatchDelivery.objects.filter(pk__in=ids).update(
            status=models.DispatchDelivery.Status.RECEIVED, error=""
        )
        for pk in ids:
            enqueue.process_delivery_on_commit(pk)
        self.message_user(request, f"{len(ids)} deliveries queued again.")

    @admin.action(description="Register our receivers with Leap and send a test notification")
    def register_with_leap(self, request: HttpRequest, queryset: Any = None) -> None:
        """Same as manage.py register_dispatch_webhooks (the selection is not used)."""
        with leap.get_client() as client:
            results = receiver_registration.register_receivers(client)
        for result in results:
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, receiver_registration.describe(result), level)

    def get_urls(self) -> list[Any]:
        """Adds the register-with-Leap button's URL."""
        extra = [
            path(
                "register-with-leap/",
                self.admin_site.admin_view(self.register_view),
                name="dispatch_register_with_leap",
            )
        ]
        return extra + super().get_urls()

    def register_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """POST-only button on the inbox list (an action needs a selection; this does not)."""
        if request.method == "POST" and request.user.has_perm("leapportal.manage_settings"):
            self.register_with_leap(request)
        else:
            self.message_user(request, "Needs a POST by an admin.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:dispatch_dispatchdelivery_changelist"))


class VersionInline(admin.TabularInline):
    """The timeslot's history."""

    model = models.DispatchTimeslotVersion
    extra = 0
    can_delete = False
    fields = ("version", "kind", "changed_at", "source", "delivery", "changes")
    readonly_fields = fields


class AllocationInline(admin.TabularInline):
    """The plan for the timeslot."""

    model = models.DispatchAllocation
    fk_name = "timeslot"
    extra = 0
    can_delete = False
    fields = ("meter_uuid", "share_kw", "followed", "overruled_by", "reason", "flags")
    readonly_fields = fields


@admin.register(models.DispatchTimeslot)
class DispatchTimeslotAdmin(admin.ModelAdmin):
    """Timeslots as Leap last told us (read-only: Leap is the source)."""

    list_display = (
        "event_id",
        "level",
        "meter_uuid",
        "market_group_uuid",
        "start_time",
        "end_time",
        "energy_kw",
        "priority",
        "cancelled",
        "integration_test",
        "version",
    )
    list_filter = ("level", "cancelled", "integration_test", "is_voluntary", "first_source")
    search_fields = ("event_id", "meter_uuid", "market_group_uuid", "partner_reference")
    date_hierarchy = "start_time"
    inlines = [AllocationInline, VersionInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        """Everything is read-only."""
        return _readonly(self)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Timeslots come from Leap only."""
        return False


@admin.register(models.ReconcileRun)
class ReconcileRunAdmin(admin.ModelAdmin):
    """Reconcile passes and their counts."""

    list_display = ("started_at", "finished_at", "status", "counts", "error")
    list_filter = ("status",)


@admin.register(models.ReconcileFinding)
class ReconcileFindingAdmin(admin.ModelAdmin):
    """What polling found that webhooks had not told us."""

    list_display = ("found_at", "kind", "timeslot", "differences")
    list_filter = ("kind",)
    raw_id_fields = ("timeslot", "run")


class AttemptInline(admin.TabularInline):
    """The delivery log of a message."""

    model = models.OutboundAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("attempted_at", "status_code", "error", "duration_ms")


@admin.register(models.OutboundEndpoint)
class OutboundEndpointAdmin(admin.ModelAdmin):
    """Where state changes are handed on (url, secret, active)."""

    list_display = ("name", "url", "active", "include_tests", "created_at")
    list_editable = ("active",)
    formfield_overrides = {django_models.URLField: {"assume_scheme": "https"}}


@admin.register(models.OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    """Handed-on state changes and their delivery status."""

    list_display = (
        "webhook_id",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
    )
    list_filter = ("status", "endpoint", "event_type")
    raw_id_fields = ("timeslot",)
    inlines = [AttemptInline]
    actions = ["retry_now"]

    @admin.action(description="Retry now")
    def retry_now(self, request: HttpRequest, queryset: Any) -> None:
        """Send failed or waiting messages again at once."""
        ids = list(
            queryset.exclude(status=models.OutboundMessage.Status.DELIVERED).values_list(
                "pk", flat=True
            )
        )
        models.OutboundMessage.objects.filter(pk__in=ids).update(
            status=models.OutboundMessage.Status.RETRYING, next_attempt_at=timezone.now()
        )
        for pk in ids:
            enqueue.send_outbound_on_commit(pk)
        self.message_user(request, f"{len(ids)} messages queued.")


@admin.register(models.RejectedTimeslot)
class RejectedTimeslotAdmin(admin.ModelAdmin):
    """Timeslots that broke Leap's rules: kept for inspection, never applied."""

    list_display = ("created_at", "level", "event_id", "recipient_uuid", "delivery", "errors")
    search_fields = ("event_id", "recipient_uuid")
    list_filter = ("level",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return _readonly(self)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(models.UnknownMeterAlert)
class UnknownMeterAlertAdmin(admin.ModelAdmin):
    """Dispatches for meters we do not have (dismissed from the overview or sync health)."""

    list_display = ("meter_uuid", "events", "first_seen_at", "last_seen_at", "resolution")
    search_fields = ("meter_uuid",)
    list_filter = ("resolution",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return _readonly(self)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
