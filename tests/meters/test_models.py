from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from django.db import IntegrityError, transaction

from leapportal import timezones
from meters.models import Meter, ReasonCode, SyncRun


@pytest.mark.django_db
def test_the_catalogue_is_seeded_with_known_codes_and_the_14_action_types():
    codes = set(ReasonCode.objects.values_list("code", flat=True))
    assert {"AUTH_0001", "SERV_0002", "SERV_0005", "MRKT_0002", "LEAP_0001"} <= codes
    assert ReasonCode.objects.filter(kind="action_type").count() == 14
    assert not ReasonCode.objects.filter(needs_guidance=True).exists()


@pytest.mark.django_db
def test_a_customer_email_fills_the_meters_customer_data():
    meter = Meter.objects.create(
        meter_id=uuid.uuid4(), end_customer_name="Ada", street_1="1 Main St", city="Fresno"
    )
    subject, body = ReasonCode.objects.get(code="AUTH_0001").render_email(meter)
    assert "re-connect" in subject
    assert body.startswith("Dear Ada,")
    assert "1 Main St, Fresno" in body


def test_an_unknown_placeholder_stays_visible():
    code = ReasonCode(code="X", email_subject="Hi {end_customer_name} {nonsense}")
    subject, _ = code.render_email(Meter(meter_id=uuid.uuid4(), end_customer_name="Bo"))
    assert subject == "Hi Bo {nonsense}"


@pytest.mark.django_db
def test_only_one_full_sync_can_be_active():
    SyncRun.objects.create(kind="full", status="running")
    SyncRun.objects.create(kind="incremental", status="queued")
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(kind="full", status="queued")
    SyncRun.objects.create(kind="full", status="done")  # finished runs do not count


@pytest.mark.django_db
def test_one_active_resync_per_meter_but_many_meters_at_once():
    a, b = uuid.uuid4(), uuid.uuid4()
    SyncRun.objects.create(kind="meter", meter_id=a)
    SyncRun.objects.create(kind="meter", meter_id=b)
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(kind="meter", meter_id=a)


def test_trade_days_follow_the_markets_clock():
    # 03:00 UTC on 2 June is 20:00 on 1 June in Los Angeles.
    at = datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
    assert timezones.trade_days("CAISO", at) == [
        date(2026, 6, 1),
        date(2026, 6, 2),
        date(2026, 6, 3),
    ]
    assert timezones.trade_date("NYISO", datetime(2026, 6, 2, 5, 0, tzinfo=UTC)) == date(2026, 6, 2)
    start, end = timezones.trade_day_bounds("CAISO", date(2026, 6, 2))
    assert start == datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # the seed's trade_date instant
    assert (end - start).total_seconds() == 24 * 3600
    start, end = timezones.trade_day_bounds("ERCOT", date(2026, 3, 8))  # spring forward
    assert (end - start).total_seconds() == 23 * 3600
    assert timezones.zone_for("MARS").key == "UTC"
