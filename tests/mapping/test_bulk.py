"""mapping.bulk: the CSV import's writes by COPY, through the shared bulk layer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from mapping import bulk
from mapping.models import MappingChange, MeterMapping

pytestmark = pytest.mark.django_db

THEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = THEN + timedelta(days=30)


def test_upsert_mappings_creates_new_ones_and_updates_stored_ones_keeping_when_they_began(
    make_meter,
):
    stored, fresh = make_meter("c-1"), make_meter("c-2")
    MeterMapping.objects.create(
        meter=stored, customer_id="old", site_id="s", label="l", created_at=THEN,
        updated_at=THEN, updated_by="alice",
    )  # fmt: skip
    awkward = "tab\there, newline\nthere, back\\slash, quote 'x'"

    with transaction.atomic():
        written = bulk.upsert_mappings(
            [
                (stored.pk, {"customer_id": "new", "site_id": "", "label": awkward}),
                (fresh.pk, {"customer_id": "c9", "site_id": "s9", "label": ""}),
            ],
            now=NOW,
            updated_by="import #7",
        )

    assert written == 2
    updated = MeterMapping.objects.get(meter=stored)
    assert (updated.customer_id, updated.site_id, updated.label) == ("new", "", awkward)
    assert (updated.created_at, updated.updated_at, updated.updated_by) == (THEN, NOW, "import #7")
    created = MeterMapping.objects.get(meter=fresh)
    assert (created.customer_id, created.site_id, created.created_at) == ("c9", "s9", NOW)


def test_upsert_mappings_of_nothing_writes_nothing(db):
    assert bulk.upsert_mappings([], now=NOW, updated_by="x") == 0
    assert not MeterMapping.objects.exists()


def test_copy_rows_writes_audit_rows_with_json_and_nulls(make_meter):
    meter = make_meter("c-1")
    count = bulk.copy_rows(
        MappingChange,
        ["meter_id", "at", "actor_name", "source", "reason", "before", "after"],
        [
            (meter.pk, NOW, "bob", MappingChange.Source.CSV, "", None, {"customer_id": "c\t1"}),
            (uuid.uuid4(), NOW, "bob", MappingChange.Source.CSV, "r", {"a": "b"}, {}),
        ],
    )

    assert count == 2
    first, second = MappingChange.objects.order_by("reason")
    assert (first.before, first.after) == (None, {"customer_id": "c\t1"})
    assert MappingChange.objects.filter(before__isnull=True).count() == 1  # SQL NULL, as save()
    assert (second.before, second.after) == ({"a": "b"}, {})
