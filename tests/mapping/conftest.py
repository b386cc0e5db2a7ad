"""Helpers for the mapping tests: meters as the sync would have stored them, and actors."""

from __future__ import annotations

import uuid

import pytest

from mapping.models import MappingChange
from meters.models import Meter


@pytest.fixture
def make_meter(db):
    """make_meter(partner_reference="c-1", **fields) -> a Meter row as the sync would store it."""

    def make(partner_reference: str | None = None, meter_id: uuid.UUID | None = None, **fields):
        return Meter.objects.create(
            meter_id=meter_id or uuid.uuid4(), partner_reference=partner_reference, **fields
        )

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", username="alice", is_staff=True)


@pytest.fixture
def admin_client(client, admin_user):
    """A client logged in as a member of the admin role (overrides pytest-django's superuser)."""
    client.force_login(admin_user)
    return client


PAGE = MappingChange.Source.PAGE
