"""The verbs that change a mapping. Each is atomic and writes its audit row in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from mapping import bulk, portfolio
from mapping.flags import forget_convention
from mapping.models import ApiToken, MappingChange, MappingImport, MeterMapping
from mapping.validation import InvalidValue, clean_mapping, clean_reason

Actor = AbstractBaseUser | AnonymousUser | ApiToken


class MappingRefused(Exception):
    """The change breaks a rule (unknown meter, site already taken, invalid value).

    `errors` maps a field name (or "__all__") to the message, for forms and the API; `code` is
    "invalid", "unknown_meter" or "site_taken".
    """

    def __init__(
        self, message: str, *, errors: dict[str, str] | None = None, code: str = "invalid"
    ) -> None:
        super().__init__(message)
        self.errors = errors or {"__all__": message}
        self.code = code


def actor_fields(actor: Actor) -> dict[str, Any]:
    """The audit columns naming who acted."""
    if isinstance(actor, ApiToken):
        return {"actor_user": None, "actor_token": actor, "actor_name": f"api:{actor.name}"}
    if not actor.is_authenticated:
        raise MappingRefused("an anonymous user cannot change mappings")
    return {"actor_user": actor, "actor_token": None, "actor_name": actor.get_username()}


def _reason(reason: str) -> str:
    """The change's reason, cleaned; refused (as the form's `reason` field) when unusable."""
    try:
        return clean_reason(reason)
    except InvalidValue as exc:
        raise MappingRefused(str(exc), errors={"reason": str(exc)}) from None


def _check_site(meter_id: uuid.UUID, site_id: str) -> None:
    if not portfolio.site_is_exclusive(site_id):
        return
    others = list(
        MeterMapping.objects.filter(site_id=site_id)
        .exclude(meter_id=meter_id)
        .values_list("meter_id", flat=True)[:3]
    )
    if others:
        taken_by = ", ".join(str(m) for m in others)
        raise MappingRefused(
            f"site {site_id} already has meter {taken_by}; one meter per site "
            "(an admin can list the site as shared)",
            errors={"site_id": f"site {site_id} already has meter {taken_by}"},
            code="site_taken",
        )


def set_mapping(
    meter_id: uuid.UUID | str,
    *,
    customer_id: str,
    site_id: str,
    label: str,
    reason: str,
    actor: Actor,
    source: str,
) -> MappingChange | None:
    """Create or change one meter's mapping; None when nothing changed (no audit row then)."""
    meter_id = uuid.UUID(str(meter_id))
    try:
        values = clean_mapping(customer_id, site_id, label)
    except InvalidValue as exc:
        raise MappingRefused(str(exc), errors=exc.errors) from None
    reason = _reason(reason)
    who = actor_fields(actor)
    with transaction.atomic():
        portfolio.lock_mappings()
        current = MeterMapping.objects.filter(meter_id=meter_id).first()
        if current is None and portfolio.load_meter(meter_id) is None:
            # A new mapping needs a meter the sync has seen; an existing one may outlive it.
            raise MappingRefused(
                f"unknown meter {meter_id}: Leap's portfolio (as last synced) has no such meter",
                code="unknown_meter",
            )
        before = current.snapshot() if current else None
        if before == values:
            return None
        if before is None or before["site_id"] != values["site_id"]:
            _check_site(meter_id, values["site_id"])
        now = timezone.now()
        mapping = current or MeterMapping(meter_id=meter_id, created_at=now)
        mapping.customer_id = values["customer_id"]
        mapping.site_id = values["site_id"]
        mapping.label = values["label"]
        mapping.updated_at = now
        mapping.updated_by = who["actor_name"]
        mapping.save()
        transaction.on_commit(forget_convention)
        return MappingChange.objects.create(
            meter_id=meter_id,
            at=now,
            source=source,
            reason=reason,
            before=before,
            after=values,
            **who,
        )


def clear_mapping(
    meter_id: uuid.UUID | str, *, reason: str, actor: Actor, source: str
) -> MappingChange | None:
    """Remove one meter's mapping; None when it had none."""
    meter_id = uuid.UUID(str(meter_id))
    reason = _reason(reason)
    who = actor_fields(actor)
    with transaction.atomic():
        portfolio.lock_mappings()
        current = MeterMapping.objects.filter(meter_id=meter_id).first()
        if current is None:
            return None
        before = current.snapshot()
        current.delete()
        transaction.on_commit(forget_convention)
        return MappingChange.objects.create(
            meter_id=meter_id, source=source, reason=reason, before=before, after=None, **who
        )


AUDIT_FIELDS = (
    "meter_id",
    "at",
    "actor_user",
    "actor_token",
    "actor_name",
    "source",
    "reason",
    "before",
    "after",
    "mapping_import",
)


def record_import_changes(
    mapping_import: MappingImport,
    changes: list[tuple[uuid.UUID, dict[str, str] | None, dict[str, str]]],
    *,
    reason: str,
    actor: Actor,
    now: Any,
) -> int:
    """Write the mappings and audit rows of an applied import (caller holds the transaction)."""
    who = actor_fields(actor)
    user_id = who["actor_user"].pk if who["actor_user"] else None
    token_id = who["actor_token"].pk if who["actor_token"] else None
    bulk.upsert_mappings(
        ((m, after) for m, _, after in changes), now=now, updated_by=who["actor_name"]
    )
    bulk.copy_rows(
        MappingChange,
        AUDIT_FIELDS,
        (
            (
                m,
                now,
                user_id,
                token_id,
                who["actor_name"],
                MappingChange.Source.CSV,
                reason,
                before,
                after,
                mapping_import.pk,
            )
            for m, before, after in changes
        ),
    )
    return len(changes)
