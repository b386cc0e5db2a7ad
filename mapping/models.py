"""Our mapping of Leap meters to our own customer and site ids, its audit trail and API tokens.

The mapping is ours: Leap's `partner_reference` (filled from the Connect refId, never overwritten by
Leap) lives on `meters.Meter` and is only ever compared with it, never written from here.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class MeterMapping(models.Model):
    """meter_id -> our customer id, site id and label. Survives the meter leaving Leap."""

    # No database constraint: a mapping may outlive the Meter row (Leap removed the meter, or the
    # mapping was made before the sync saw it). Query from the Meter side (select_related
    # "mapping", a LEFT JOIN); from this side an INNER JOIN would hide those orphans.
    meter = models.OneToOneField(
        "meters.Meter",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="mapping",
    )
    customer_id = models.CharField(max_length=128, db_index=True)
    site_id = models.CharField(max_length=128, blank=True, db_index=True)
    label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["customer_id", "site_id"]

    def __str__(self) -> str:
        return f"{self.meter_id} -> {self.customer_id}/{self.site_id or '-'}"

    def snapshot(self) -> dict[str, str]:
        """The fields the audit records as before/after."""
        return {"customer_id": self.customer_id, "site_id": self.site_id, "label": self.label}


class SharedSite(models.Model):
    """A site allowed to have several meters while MAPPING_ONE_METER_PER_SITE is on."""

    site_id = models.CharField(max_length=128, primary_key=True)
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return self.site_id


class ApiToken(models.Model):
    """A token another internal system uses for /api/. Only a SHA-256 of it is stored."""

    PREFIX = "lpt"

    name = models.CharField(max_length=100, unique=True, help_text="The system that uses it")
    can_write = models.BooleanField(default=False, help_text="May update mappings")
    key_prefix = models.CharField(max_length=16, editable=False, db_index=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash(token: str) -> str:
        """Digest of a presented token; tokens are 256-bit random, so a plain SHA-256 suffices."""
        return hashlib.sha256(token.encode()).hexdigest()

    def issue(self) -> str:
        """Give this token a fresh secret and return it; the only time it is ever visible."""
        self.key_prefix = secrets.token_hex(4)
        token = f"{self.PREFIX}_{self.key_prefix}_{secrets.token_urlsafe(32)}"
        self.digest = self.hash(token)
        return token

    @property
    def is_active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


class MappingImport(models.Model):
    """One uploaded CSV: the file as received, its dry-run preview, and whether it was applied."""

    class Status(models.TextChoices):
        REJECTED = "rejected", "rejected (file unreadable)"
        PREVIEWED = "previewed", "previewed"
        APPLIED = "applied", "applied"

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now, db_index=True)
    filename = models.CharField(max_length=255)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    # Kept as received for inspection (empty only when the file was refused for its size).
    raw = models.BinaryField(blank=True, default=b"")
    status = models.CharField(max_length=10, choices=Status, default=Status.PREVIEWED)
    file_error = models.TextField(blank=True)
    counts: models.JSONField[dict[str, int]] = models.JSONField(default=dict)
    plan_digest = models.CharField(max_length=64, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    apply_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.filename})"

    @property
    def can_apply(self) -> bool:
        """Previewed, with no error or conflict, and something to change."""
        c = self.counts
        return (
            self.status == self.Status.PREVIEWED
            and not c.get("error")
            and not c.get("conflict")
            and bool(c.get("create") or c.get("update"))
        )


class ImportRow(models.Model):
    """The dry-run verdict for one line of an uploaded file."""

    class Outcome(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        UNCHANGED = "unchanged", "left alone"
        CONFLICT = "conflict"
        ERROR = "error"

    mapping_import = models.ForeignKey(MappingImport, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField()
    key = models.CharField(max_length=20)  # "meter_id" or "partner_reference"
    meter_id = models.UUIDField(null=True)
    partner_reference = models.CharField(max_length=256, blank=True)
    customer_id = models.CharField(max_length=256, blank=True)
    site_id = models.CharField(max_length=256, blank=True)
    label = models.CharField(max_length=400, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome)
    messages: models.JSONField[list[str]] = models.JSONField(default=list)
    before: models.JSONField[dict[str, Any] | None] = models.JSONField(null=True)

    class Meta:
        ordering = ["line"]
        indexes = [models.Index(fields=["mapping_import", "outcome", "line"])]

    def __str__(self) -> str:
        return f"line {self.line}: {self.outcome}"


class MappingChange(models.Model):
    """Audit: one change of one meter's mapping (who, when, before, after, why, through what)."""

    class Source(models.TextChoices):
        PAGE = "page"
        CSV = "csv", "CSV import"
        API = "api", "API"
        ONBOARDING = "onb", "onboarding"

    meter_id = models.UUIDField(db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_token = models.ForeignKey(
        ApiToken, null=True, on_delete=models.SET_NULL, related_name="changes"
    )
    # Kept as text so the trail still reads right after a user or token is deleted.
    actor_name = models.CharField(max_length=150)
    source = models.CharField(max_length=4, choices=Source)
    reason = models.CharField(max_length=500)
    before: models.JSONField[dict[str, str] | None] = models.JSONField(null=True)
    after: models.JSONField[dict[str, str] | None] = models.JSONField(null=True)
    mapping_import = models.ForeignKey(
        MappingImport, null=True, on_delete=models.SET_NULL, related_name="changes"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["meter_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.meter_id} by {self.actor_name} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def action(self) -> str:
        """created, changed or removed."""
        if self.before is None:
            return "created"
        return "removed" if self.after is None else "changed"
