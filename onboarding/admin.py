from __future__ import annotations

from django.contrib import admin

from onboarding.models import Asset, Batch, Draft, Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("pk", "submitted_at", "submitted_by_name", "region", "status")
    list_filter = ("status", "region")
    raw_id_fields = ("draft", "parent", "submitted_by")


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("file_name", "status", "leap_job_id", "polls", "poll_failures", "last_error")
    list_filter = ("status",)
    raw_id_fields = ("job",)


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ("partner_reference", "job", "status", "detail_name", "stage", "meter_id")
    list_filter = ("status", "stage")
    search_fields = ("partner_reference", "customer_id", "site_id")
    raw_id_fields = ("job", "batch", "resubmitted_in")


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = ("pk", "filename", "created_at", "status")
    exclude = ("raw",)
