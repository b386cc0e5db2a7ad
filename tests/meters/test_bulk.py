"""meters.bulk: the sync's writes and reads, by the shared bulk layer (leapportal.bulk)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from django.db import transaction

from leapportal import bulk as shared
from meters import bulk
from meters.models import GroupAssignment, MarketGroup, Meter, MeterEvent

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_the_sync_imports_the_shared_layers_functions_under_its_names():
    assert bulk.select is shared.select_binary
    assert (bulk.write_rows, bulk.update_rows, bulk.rows_for) == (
        shared.write_rows,
        shared.update_rows,
        shared.rows_for,
    )
    assert (bulk.dumps, bulk.JsonText, bulk.stage_rows) == (
        shared.dumps,
        shared.JsonText,
        shared.stage_rows,
    )


def test_group_assignments_skip_a_day_already_assigned_and_read_back_by_binary_select():
    meter = Meter.objects.create(meter_id=uuid.uuid4())
    group = MarketGroup.objects.create(market_group_id=uuid.uuid4(), name="G")
    day = date(2026, 5, 6)
    row = {
        "meter_id": meter.pk,
        "trade_date": day,
        "market_group_id": group.pk,
        "source": GroupAssignment.Source.ENROLLMENT,
        "updated_at": WHEN,
    }

    with transaction.atomic():
        assert bulk.write_rows(GroupAssignment, [row], ignore_conflicts=True) == 1
        assert bulk.write_rows(GroupAssignment, [row], ignore_conflicts=True) == 0

    rows = bulk.select(
        "SELECT meter_id, trade_date, market_group_id, updated_at FROM meters_groupassignment "
        "WHERE meter_id = ANY(%b)",
        [[meter.pk]],
    )
    assert rows == [(meter.pk, day, group.pk, WHEN)]


def test_meter_events_with_json_details_are_written_as_one_copy():
    meter = Meter.objects.create(meter_id=uuid.uuid4())
    template = MeterEvent(meter=meter, kind=MeterEvent.Kind.NEW_METER, source="poll")
    fields = {
        f.attname: getattr(template, f.attname)
        for f in MeterEvent._meta.concrete_fields
        if not f.primary_key
    }
    details = {"note": "tab\there\nand a backslash \\", "n": [1, None]}

    written = bulk.write_rows(MeterEvent, [{**fields, "details": details}], ignore_conflicts=True)

    assert written == 1
    assert MeterEvent.objects.get(meter=meter).details == details
