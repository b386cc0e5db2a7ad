"""Fixtures of the dispatch tests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from meters.models import Meter
from tests.dispatch import helpers


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """deliver(payload, level=...) -> response, with the queued processing run (eagerly)."""

    def send(payload: Any, **kwargs: Any):
        with django_capture_on_commit_callbacks(execute=True):
            return helpers.post(client, payload, **kwargs)

    return send


@pytest.fixture
def make_meter(db):
    """make_meter(status="ACTIVE") -> a Meter we have."""

    def make(meter_id: uuid.UUID | None = None, *, status: str = "ACTIVE", **fields: Any):
        return Meter.objects.create(
            meter_id=meter_id or uuid.uuid4(), global_enrollment_status=status, **fields
        )

    return make
